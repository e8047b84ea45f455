"""Runs a file's attention forwards, original and rewritten, on the meta device and records their kernel inputs.

The meta device carries shapes, strides and storage offsets but no data, so the real sizes cost
neither memory nor time, and layouts come out as a GPU run would produce them. Loading, building,
scenarios and recording are `codemod.model`'s, the same that `verify` and the runtime tests use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from codemod.match.entry_points import ENTRY_POINTS, EntryPoint
from codemod.model.build import BuildError, attention_class, build, torch_dtype
from codemod.model.load import Loaded, LoadError, load
from codemod.model.record import Recording, recording, reference_kernels
from codemod.model.scenarios import forward_inputs, run_forward, undriven
from codemod.model.shape import Scenario, Shape
from codemod.model.variants import ORIGINAL, Variant, VariantError, Variants, make_variants

META = torch.device("meta")


class ExplainError(Exception):
    """Input explain cannot analyse; the message says why."""


@dataclass(frozen=True)
class Run:
    """One forward of one variant (the original file or a profile's rewrite) in one scenario (its name).

    `error`: why it could not run (the class not built, the forward raised); `recording` is then empty.
    """

    variant: str
    scenario: str
    recording: Recording
    error: str | None = None


@dataclass(frozen=True)
class Explanation:
    """Every run explain made on one file; `notes` say what was stubbed and which scenarios could not run, and why."""

    file: str
    shape: Shape
    dtype: str
    runs: tuple[Run, ...]
    notes: tuple[str, ...]


def _record(loaded: Loaded, variant: Variant, class_name: str, scenario: Scenario, shape: Shape,
            dtype: str) -> tuple[Recording, str | None]:
    """One run's recording, and a note when the real attention kernels had to be replaced for it.

    A forward that raises is run once more with its attention entry points served by the reference
    kernel (sdpa in their layout): explain records what reaches a kernel, not what the kernel does, and
    some real kernels cannot run on the meta device. Only if that fails too is the run an error.
    """
    module = loaded[variant.name].module
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise ExplainError(f"{variant.name}: class {class_name} is missing after the rewrite")
    try:
        model = build(cls, shape, META, torch_dtype(dtype))
    except BuildError as error:
        raise ExplainError(str(error)) from error
    inputs = forward_inputs(shape, scenario, torch_dtype(dtype), META)
    try:
        with recording(module, model, site_positions=variant.sites, entry_points=loaded.entry_points) as recorded:
            run_forward(model, inputs)
        return recorded, None
    except Exception as error:
        first = f"{class_name}.forward raised {type(error).__name__}: {error}"
    try:
        with reference_kernels(module, loaded.entry_points) as calls, recording(
                module, model, site_positions=variant.sites, entry_points=loaded.entry_points) as recorded:
            run_forward(model, inputs)
    except Exception as error:
        raise ExplainError(first) from error
    if not calls:
        raise ExplainError(first)
    return recorded, (f"{variant.name}, {scenario.name}-speaker path: {first}; run again with "
                      f"{', '.join(calls)} served by PyTorch's sdpa in its layout")


def explain_file(
    path: Path,
    profiles: Sequence[str],
    scenarios: Sequence[Scenario],
    shape: Shape,
    dtype: str = "bf16",
    *,
    data: bytes | None = None,
    in_checkout: bool = True,
    entry_points: Sequence[EntryPoint] = ENTRY_POINTS,
    variants: Variants | None = None,
) -> Explanation:
    """Record the original file and each profile's rewrite of it in each scenario, at `shape`, on the meta device.

    `data`: the module's bytes, when they are not (yet) what `path` holds; `path` still places it in its checkout.
    `variants`: made already (`make_variants` of `profiles`), else made here.
    """
    if variants is None:
        try:
            data = path.read_bytes() if data is None else data
        except OSError as error:
            raise ExplainError(f"cannot read {path}: {error.strerror or error}") from error
        try:
            variants = make_variants(str(path), data, profiles, entry_points=entry_points)
        except VariantError as error:
            raise ExplainError(str(error)) from error
    runs: list[Run] = []
    notes: list[str] = []
    try:
        loaded = load(path, variants.variants, in_checkout=in_checkout, entry_points=entry_points,
                      bare_fallback=True)
    except LoadError as error:
        raise ExplainError(f"{path}: {error}") from error
    with loaded:
        for scenario in scenarios:
            chosen = attention_class(loaded[ORIGINAL].module, variants.class_names, scenario.speakers)
            if chosen is None:
                notes.append(f"{scenario.name}-speaker path skipped: no multi-speaker class (none of "
                             f"{', '.join(variants.class_names)} has a forward that takes x_ref_attn_map or human_num)")
                continue
            reason = undriven(chosen)
            for variant in variants.variants:
                try:
                    if reason is not None:
                        raise ExplainError(f"cannot drive it: {reason}")
                    recorded, note = _record(loaded, variant, chosen.__name__, scenario, shape, dtype)
                    runs.append(Run(variant.name, scenario.name, recorded))
                    if note is not None:
                        notes.append(note)
                except ExplainError as error:  # one scenario that cannot run is a result; the others still run
                    runs.append(Run(variant.name, scenario.name, Recording(), str(error)))
                    notes.append(f"{variant.name}, {scenario.name}-speaker path: could not run: {error}")
        notes[:0] = loaded.notes
        if loaded.stubbed:
            notes.insert(0, f"stubbed, not importable here: {', '.join(loaded.stubbed)}")
    if not any(run.error is None for run in runs):
        raise ExplainError(f"{path}: nothing could run: {'; '.join(notes)}")
    return Explanation(str(path), shape, dtype, tuple(runs), tuple(notes))
