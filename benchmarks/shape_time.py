"""Forward time of each upstream shape's attention, original vs the seed and boundary rewrites, on one CUDA GPU.

Every fixture case named on the command line (default: one per upstream shape) runs in its own
mini checkout through `codemod.model`, at the real shape (Wan 14B: dim 5120, 40 heads, 32 audio
tokens per frame, 21 latent frames of 48x48), bf16, in each scenario its class has (single-, two-speaker). Entry
points that are not installed on the machine (xformers, flash-attn, Habana) are served by the
loader's reference kernel in the entry point's own layout; the report says which.

Where the boundary rewrite hands an entry point `q.contiguous().transpose(1, 2)` (ComfyUI core's
`optimized_attention(..., skip_reshape=True)`), the benchmark also times `boundary-at-call`: the same
file with each such argument written `q.transpose(1, 2).contiguous()`, the placement that copies
all of q, so that the cost of the two placements can be compared.

Variants run interleaved (each round times each once, in rotating order); a rewrite's cost is the
median over all rounds of its time divided by the original's time in the same round, with quartiles.

    python benchmarks/shape_time.py [--rounds 30] [--passes 2] [--case comfyui_core ...] [--json out.json]
    python benchmarks/shape_time.py --real real/checkouts.tar.xz [--real-version wrapper/...] [--no-cases]

`--real` takes the real upstream files that `benchmarks/real_checkouts.py` builds (its work directory, or
the `.tar.xz` its `--pack` writes): each chosen version (default: `REAL_VERSIONS`) runs in its own
commit's tree, as a user has it, and its rows name the repository, file and commit. A file that cannot
be imported in its tree is imported on its own (`bare`, its imports stubbed), and the row says so.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.real_checkouts import Version, manifest, unpack
from benchmarks.timing import percent, quartiles, time_forward
from codemod.model.build import attention_class, build
from codemod.model.load import LoadError, load
from codemod.model.scenarios import forward_inputs, run_forward, scenarios
from codemod.model.shape import REAL, SMALL, Shape
from codemod.model.variants import Variant, make_variants
from codemod.rewrite.profiles import all_profiles
from fixtures.catalog import Case, cases

DEFAULT_CASES = ("jan2026", "jun2025_qk_norm", "comfyui_core", "meigen_multitalk", "wan2gp", "port_sdpa")
# One real file per upstream shape, by its tree in real_checkouts' work directory: the wrapper's January 2026 and
# newest files and its August 2025 einops file, ComfyUI core's, MeiGen's and InfiniteTalk's newest, Wan2GP's newest.
REAL_VERSIONS = (
    "wrapper/ComfyUI-WanVideoWrapper-2026-01-31-e21fe20a",
    "wrapper/ComfyUI-WanVideoWrapper-2025-08-23-9a2a1349",
    "wrapper/ComfyUI-WanVideoWrapper-2025-06-19-09b4c3a8",
    "comfyui/ComfyUI-2026-01-21-16b9aabd",
    "meigen/MultiTalk-2026-05-22-c1ad8400",
    "meigen/InfiniteTalk-2025-08-25-0107cd96",
    "wan2gp/Wan2GP-2026-08-21-8681e9f7",
)
AT_CALL = "boundary-at-call"
# `name.contiguous().transpose(1, 2)` as the boundary profile writes a transposed entry-point argument.
_DENSE_PLACEMENT = re.compile(rb"(\b[A-Za-z_]\w*)\.contiguous\(\)\.transpose\((\d), (\d)\)")


def at_call(boundary: Variant) -> Variant | None:
    """The boundary rewrite with `.contiguous()` moved after each transpose it precedes; None when there is none."""
    moved = _DENSE_PLACEMENT.sub(rb"\1.transpose(\2, \3).contiguous()", boundary.data)
    return None if moved == boundary.data else Variant(AT_CALL, moved)


def bench_case(case: Case, shape: Shape, rounds: int, passes: int, workdir: Path) -> list[dict[str, object]]:
    file = case.place(workdir / case.name)
    return bench_file(case.name, file, case.checkout is not None, shape, rounds, passes)


def bench_real(version: Version, work: Path, shape: Shape, rounds: int, passes: int) -> list[dict[str, object]]:
    """A real upstream file in its commit's tree; imported on its own when its tree cannot import it here."""
    name = f"{version.source.repo.replace('+', '/')} {version.path} @ {version.commit[:10]} ({version.date})"
    try:
        try:
            return bench_file(name, version.file(work), True, shape, rounds, passes)
        except LoadError as error:
            print(f"{name}: not importable in its tree ({error}); imported on its own", file=sys.stderr)
            return bench_file(f"{name}, bare", version.file(work), False, shape, rounds, passes)
    except Exception as error:  # one file's failure is its row's, and the others still run
        print(f"{name}: not timed: {type(error).__name__}: {error}", file=sys.stderr)
        return [{"case": name, "error": f"{type(error).__name__}: {error}"}]


def bench_file(name: str, file: Path, in_checkout: bool, shape: Shape, rounds: int, passes: int) -> list[dict[str, object]]:
    made = make_variants(str(file), file.read_bytes(), list(all_profiles()))
    variants = list(made.variants)
    extra = at_call(made["boundary"])
    if extra is not None:
        variants.append(extra)
    names = [variant.name for variant in variants]
    results: list[dict[str, object]] = []
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    with load(file if in_checkout else file.read_bytes(), variants, in_checkout=in_checkout, device=device.type) as loaded:
        classes = [attention_class(loaded[variant].module, made.class_names) for variant in names]
        if any(cls is None for cls in classes):
            raise SystemExit(f"{name}: no attention class to run")
        for scenario in scenarios(classes[0]):  # type: ignore[arg-type]
            models = [build(cls, shape, device, dtype, seed=0) for cls in classes]  # type: ignore[arg-type]
            inputs = forward_inputs(shape, scenario, dtype, device, seed=0)
            outputs = [run_forward(model, inputs.clone()) for model in models]
            equal = {variant: bool(torch.equal(outputs[0], out)) for variant, out in zip(names, outputs)}
            for model in models:
                for _ in range(3):
                    run_forward(model, inputs.clone())
            if device.type == "cuda":
                torch.cuda.synchronize()
            per_pass = []
            ratios: dict[str, list[float]] = {variant: [] for variant in names[1:]}
            for _ in range(passes):
                samples: dict[str, list[float]] = {variant: [] for variant in names}
                for round_index in range(rounds):
                    for offset in range(len(names)):
                        index = (round_index + offset) % len(names)
                        samples[names[index]].append(time_forward(models[index], inputs.clone()))
                per_pass.append({variant: statistics.median(times) for variant, times in samples.items()})
                for variant in ratios:
                    ratios[variant].extend(t / base for t, base in zip(samples[variant], samples[names[0]]))
            results.append({
                "case": name, "path": scenario.name, "stubbed": list(loaded.stubbed),
                "bitwise_equal_to_original": equal, "pass_medians_ms": per_pass,
                "ratio_to_original": {variant: quartiles(values) for variant, values in ratios.items()},
            })
            del models, outputs
            torch.cuda.empty_cache()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--case", action="append", dest="cases")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--smoke", action="store_true", help="CPU, small shape, fp32: checks the code, times nothing of use")
    parser.add_argument("--real", type=Path, help="real_checkouts' work directory or the .tar.xz of its --pack")
    parser.add_argument("--real-version", action="append", dest="real_versions",
                        help="a tree under --real, as kind/label (default: REAL_VERSIONS)")
    parser.add_argument("--no-cases", action="store_true", help="only the real files, no fixture case")
    args = parser.parse_args()
    if not torch.cuda.is_available() and not args.smoke:
        print("shape_time: needs a CUDA GPU (--smoke runs it on the CPU at a small shape)", file=sys.stderr)
        return 2
    shape = SMALL if args.smoke else REAL
    by_name = {case.name: case for case in cases()}
    chosen = args.cases or [name for name in DEFAULT_CASES if name in by_name]
    card = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU ({platform.processor() or platform.machine()})"
    print(f"{card}, torch {torch.__version__}, CUDA {torch.version.cuda}; shape: {shape}, "
          f"{'bf16' if torch.cuda.is_available() else 'fp32'}; "
          f"{args.passes} passes of {args.rounds} interleaved rounds; ms: median per pass; "
          "cost: median of per-round ratios to the original [quartiles]\n")
    results: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as workdir:
        for name in [] if args.no_cases else chosen:
            results.extend(bench_case(by_name[name], shape, args.rounds, args.passes, Path(workdir)))
        if args.real is not None:
            real = unpack(args.real, Path(workdir) / "real") if args.real.is_file() else args.real.resolve()
            versions = {f"{v.source.kind}/{v.label}": v for v in manifest(real)}
            for label in args.real_versions or REAL_VERSIONS:
                if label not in versions:
                    print(f"shape_time: no tree {label} under {args.real}", file=sys.stderr)
                    return 2
                results.extend(bench_real(versions[label], real, shape, args.rounds, args.passes))
    print("| case | path | variant | ms (pass 1 / 2) | vs original [quartiles] | bitwise equal |")
    print("|---|---|---|---|---|---|")
    for result in results:
        if "error" in result:
            print(f"| {result['case']} | | not timed: {str(result['error'])[:200]} | | | |")
            continue
        medians = result["pass_medians_ms"]
        ratios = result["ratio_to_original"]
        equal = result["bitwise_equal_to_original"]
        assert isinstance(medians, list) and isinstance(ratios, dict) and isinstance(equal, dict)
        for name in medians[0]:
            times = " / ".join(f"{one[name]:.2f}" for one in medians)
            cost = percent(ratios[name]) if name in ratios else ""
            print(f"| {result['case']} | {result['path']} | {name} | {times} | {cost} | {equal[name]} |")
    stubbed = sorted({stub for result in results for stub in result.get("stubbed", [])})  # type: ignore[attr-defined]
    print(f"\nstubbed (served by the reference kernel in the entry point's layout): {', '.join(stubbed) or 'none'}")
    if args.json:
        args.json.write_text(json.dumps({"card": card, "torch": torch.__version__, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
