"""Forward time of MultiTalk's audio cross-attention: original vs the seed and boundary rewrites.

Real shape (Wan 14B: dim 5120, 40 heads, 32 audio tokens per frame, 21 latent frames of 48x48),
bf16 and FP8 linears, single- and two-speaker paths, on one CUDA GPU. The three variants run
interleaved (a round times each once, in rotating order) so that clock and thermal drift hit
them alike. Each pass reports every variant's median over its rounds in ms; a rewrite's cost is
the median over all rounds of its time divided by the original's time in the same round (paired,
so drift between rounds cancels), with the interquartile range of those ratios.

    python benchmarks/forward_time.py [--rounds 25] [--passes 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.timing import percent, quartiles, time_forward
from codemod.model.scenarios import forward_inputs, run_forward
from codemod.model.shape import REAL, Scenario
from codemod.rewrite import profile_names
from fixtures.harness.checkouts import Checkouts
from fixtures.harness.forwards import build_models
from fixtures.harness.modes import BF16_SDPA, FP8, Mode, prepare

VARIANTS = ("original", *profile_names())
SCENARIOS = (Scenario("single", 1, False), Scenario("two-speaker", 2, False))


def bench(checkouts: Checkouts, mode: Mode, scenario: Scenario, rounds: int, passes: int) -> dict[str, object]:
    device = torch.device("cuda")
    modules = [checkouts.get("jan2026", None if name == "original" else name).multitalk for name in VARIANTS]
    models = [prepare(model, mode) for model in build_models(modules, REAL, device)]
    inputs = forward_inputs(REAL, scenario, mode.dtype, device)
    outputs = [run_forward(model, inputs.clone()) for model in models]
    bitwise = [bool(torch.equal(outputs[0], out)) for out in outputs]
    for model in models:  # warm-up: allocator, cuBLAS handles, Triton / sdpa kernel choice
        for _ in range(3):
            run_forward(model, inputs)
    torch.cuda.synchronize()
    per_pass: list[dict[str, dict[str, float]]] = []
    ratios: dict[str, list[float]] = {name: [] for name in VARIANTS[1:]}
    for _ in range(passes):
        samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for round_index in range(rounds):
            order = [(round_index + offset) % len(VARIANTS) for offset in range(len(VARIANTS))]
            for index in order:
                samples[VARIANTS[index]].append(time_forward(models[index], inputs))
        per_pass.append(
            {name: {"median": statistics.median(times), "min": min(times), "max": max(times)} for name, times in samples.items()}
        )
        for name, collected in ratios.items():
            collected.extend(t / base for t, base in zip(samples[name], samples["original"]))
    del models, outputs
    torch.cuda.empty_cache()
    paired = {name: quartiles(values) for name, values in ratios.items()}
    return {"mode": mode.name, "path": scenario.name, "bitwise_equal_to_original": dict(zip(VARIANTS, bitwise)),
            "passes": per_pass, "ratio_to_original": paired}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("forward_time: needs a CUDA GPU", file=sys.stderr)
        return 2
    card = torch.cuda.get_device_name()
    header = (f"{card}, torch {torch.__version__}, CUDA {torch.version.cuda}; {args.passes} passes of {args.rounds} "
              "interleaved rounds; ms: median per pass; cost: median of per-round ratios to the original [quartiles]")
    print(header)
    results = []
    checkouts = Checkouts()
    for mode in (BF16_SDPA, FP8):
        for scenario in SCENARIOS:
            results.append(bench(checkouts, mode, scenario, args.rounds, args.passes))
    checkouts.unload()
    print("| mode | path | original ms | seed ms | boundary ms | seed vs original [IQR] | boundary vs original [IQR] | outputs equal (seed, boundary) |")
    print("|---|---|---|---|---|---|---|---|")
    for result in results:
        passes = result["passes"]
        assert isinstance(passes, list)
        cells = []
        for name in VARIANTS:
            cells.append(" / ".join(f"{one[name]['median']:.2f}" for one in passes))
        paired = result["ratio_to_original"]
        assert isinstance(paired, dict)
        deltas = [percent(paired[name]) for name in VARIANTS[1:]]
        equal = result["bitwise_equal_to_original"]
        assert isinstance(equal, dict)
        print(f"| {result['mode']} | {result['path']} | {' | '.join(cells)} | {' | '.join(deltas)} | {equal['seed']}, {equal['boundary']} |")
    if args.json:
        args.json.write_text(json.dumps({"card": card, "torch": torch.__version__, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
