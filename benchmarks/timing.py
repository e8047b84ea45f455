"""What the forward-time benchmarks share: one timed forward, and the quartiles of paired ratios."""

from __future__ import annotations

import statistics
import time

import torch

from codemod.model.scenarios import Inputs, run_forward


def time_forward(model: torch.nn.Module, inputs: Inputs) -> float:
    """Milliseconds of one forward: CUDA events on a GPU, the wall clock elsewhere (the CPU smoke run)."""
    if not torch.cuda.is_available():
        start_s = time.perf_counter()
        run_forward(model, inputs)
        return (time.perf_counter() - start_s) * 1000
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    run_forward(model, inputs)
    end.record()
    torch.cuda.synchronize()
    return float(start.elapsed_time(end))


def quartiles(values: list[float]) -> dict[str, float]:
    q1, median, q3 = statistics.quantiles(values, n=4)
    return {"median": median, "q1": q1, "q3": q3}


def percent(ratio: dict[str, float]) -> str:
    """A ratio's median and quartiles as changes: `+0.3% [-0.1, +0.5]`."""
    return f"{(ratio['median'] - 1) * 100:+.1f}% [{(ratio['q1'] - 1) * 100:+.1f}, {(ratio['q3'] - 1) * 100:+.1f}]"
