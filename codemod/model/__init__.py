"""One model of the module under test: load it, build its attention classes, run their scenarios, record kernels.

`contiguify explain`, `contiguify verify`, the runtime tests and the benchmarks all run upstream
attention forwards through this package (needs torch, except `shape`, `sites` and `variants`):

    from codemod.model.variants import make_variants         # original + each profile's rewrite, with site names
    from codemod.model.load import load                       # import the variants in (or out of) their checkout
    from codemod.model.build import attention_class, build    # pick and construct a target class
    from codemod.model.scenarios import scenarios, forward_inputs, run_forward
    from codemod.model.record import recording                # what reaches each kernel, what .contiguous() did

    variants = make_variants(str(path), path.read_bytes(), PROFILE_NAMES)  # codemod.options
    with load(path, variants.variants) as loaded:             # LoadError; loaded.stubbed names every stub
        for variant in variants.variants:
            module = loaded[variant.name].module
            cls = attention_class(module, variants.class_names)       # the multi-speaker class if any
            for scenario in scenarios(cls):          # SINGLE, and TWO if forward takes x_ref_attn_map or human_num
                model = build(cls, SMALL, "cpu", torch.float32, seed=0)  # BuildError
                inputs = forward_inputs(SMALL, scenario, torch.float32, "cpu", seed=0)
                with recording(module, model, site_positions=variant.sites) as recorded:
                    out = run_forward(model, inputs)

- `shape`: `Shape` (`REAL`, `SMALL`), `Scenario` (`SINGLE`, `TWO`), `DTYPES`; free of torch.
- `variants`: `Variant(name, data, sites)`, `make_variants(path, data, profiles) -> Variants` (`.variants`,
  `.class_names`), `VariantError`; free of torch.
- `load`: `load(path_or_bytes, variants=None, *, in_checkout=True, entry_points=ENTRY_POINTS, device="cpu",
  bare_fallback=False) -> Loaded`; `Loaded[name] -> LoadedModule(variant, module)`, `.stubbed`, `.notes`,
  `.entry_points`, `.close()` / `with`.
- `stubs`: `Stub`, `StubModule`, `reference_attention(entry)`, `entry_tensors(entry, args, kwargs)`.
- `build`: `build(cls, shape, device, dtype, seed) -> nn.Module`, `attention_class(module, names, speakers)`,
  `module_classes`, `takes_speakers`, `torch_dtype`, `BuildError`.
- `scenarios`: `scenarios(cls)`, `undriven(cls)`, `takes_list(cls)`,
  `forward_inputs(shape, scenario, dtype, device, seed) -> Inputs`, `run_forward(model, inputs)`.
- `record`: `recording(module, model, site_positions=..., entry_points=...) -> Recording` (`.boundaries`:
  `Boundary(line, call, arg, contiguous, dense, aligned16, shape, stride, layout)`, `.contiguous_calls`),
  `entry_point_targets(module, table)`, `is_dense`, `is_aligned16`.
- `positions`: `site_positions(...)` (which inserted call is which site), `SourcePosition`.
- `startup`: `importing_torch()` (collector frozen after torch's import), `alongside_torch_import(work, importer)`
  (the rewrites in a forked process while torch imports); free of torch.

The entry points (which callables hand q, k, v to a kernel, in which layout) are one table,
`codemod.match.entry_points.ENTRY_POINTS`; a project's own come first (`with_builtins(extra)`, as
`codemod.config` builds `Project.entry_points`): pass that table to `make_variants`, `load` and `recording`.
"""
