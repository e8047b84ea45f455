"""What reaches the kernels, and how accurate each mode is: measured, as rows and markdown tables.

The runtime tests assert these rows; the GPU run prints them into its summary
(`python -m tests.runtime.harness.report --device cuda --shape real`).

Layout codes: `C` contiguous, `S` strided; a trailing `*` marks a tensor whose data does not start
on a 16-byte boundary. `attention:C,S,S` is (q, k, v) as `attention()` receives them.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from codemod.model.record import Boundary, Recording, recording
from codemod.rewrite.profiles import all_profiles
from tests.runtime.harness.checkouts import Checkout, Checkouts
from tests.runtime.harness.fp8 import has_scaled_mm
from tests.runtime.harness.modes import BF16_SDPA, FP4, FP8, FP32, SAGEATTN, STRICT, Mode, prepare
from tests.runtime.harness.forwards import (
    FAILING_SCENARIOS,
    REAL,
    SCENARIOS,
    SMALL,
    Scenario,
    Shape,
    build_models,
    float64_copy,
    forward_inputs,
    relative_error,
    run_forward,
    scenarios_of,
    try_forward,
)

ORIGINAL = "original"


def layout_code(boundary: Boundary) -> str:
    """`C` or `S`, with `*` when misaligned: what a kernel that assumes dense, aligned data cares about."""
    return ("C" if boundary.contiguous else "S") + ("" if boundary.aligned16 else "*")


def boundary_signature(record: Recording) -> str:
    """`q_linear:C kv_linear:C attention:C,S,S proj:C`: each kernel call in order, with its tensors' layouts."""
    calls: list[tuple[str, list[str]]] = []
    for boundary in record.boundaries:
        # q, k, v of one attention() call arrive together; a linear call has one input.
        if calls and calls[-1][0] == boundary.call and boundary.is_attention and boundary.arg != "q":
            calls[-1][1].append(layout_code(boundary))
        else:
            calls.append((boundary.call, [layout_code(boundary)]))
    return " ".join(f"{call}:{','.join(codes)}" for call, codes in calls)


def copies_signature(record: Recording) -> str:
    """The `.contiguous()` calls that copied, by site (or line), in order; `-` when none did."""
    copied = [call.site or f"line {call.line}" for call in record.contiguous_calls if call.copied]
    return " ".join(copied) or "-"


@dataclass(frozen=True)
class Observation:
    """One forward of one copy: its kernel-boundary layouts, which `.contiguous()` calls copied, how it ended."""

    variant: str
    scenario: str
    mode: str
    copy: str
    boundaries: str
    copies: str
    outcome: str

    def line(self) -> str:
        return f"{self.boundaries} | copies: {self.copies} | {self.outcome}"


def observe(
    checkout: Checkout, variant: str, copy: str, shape: Shape, scenario: Scenario, mode: Mode, device: str
) -> Observation:
    """Record one forward of `checkout`'s model (seed 0 weights and inputs) in `mode` on `device`."""
    (model,) = build_models([checkout.multitalk], shape, device)
    prepare(model, mode)
    inputs = forward_inputs(shape, scenario, mode.dtype, device)
    with recording(checkout.multitalk, model, site_positions=checkout.site_positions) as record:
        result = try_forward(model, inputs)
    outcome = "ok" if isinstance(result, torch.Tensor) else result.partition(":")[0]
    boundaries, copies = boundary_signature(record), copies_signature(record)
    return Observation(variant, scenario.name, mode.name, copy, boundaries, copies, outcome)


def copies_of(profiles: Sequence[str] | None = None) -> list[str | None]:
    """None (the original) and each profile name."""
    return [None, *(all_profiles() if profiles is None else profiles)]


def contiguity_rows(
    checkouts: Checkouts,
    variant: str,
    shape: Shape,
    modes: Sequence[Mode],
    device: str,
    profiles: Sequence[str] | None = None,
) -> list[Observation]:
    """Observations of the original and each profile's rewrite of `variant`, for each of its scenarios and each mode."""
    return [
        observe(checkouts.get(variant, profile), variant, profile or ORIGINAL, shape, scenario, mode, device)
        for mode in modes
        for scenario in scenarios_of(variant)
        for profile in copies_of(profiles)
    ]


def contiguity_markdown(rows: Sequence[Observation]) -> str:
    """One row per variant, mode and scenario (the `path` column); one column per copy (original, then each profile)."""
    copies = list(dict.fromkeys(row.copy for row in rows))
    keys = list(dict.fromkeys((row.variant, row.mode, row.scenario) for row in rows))
    by_key = {(row.variant, row.mode, row.scenario, row.copy): row for row in rows}
    lines = [
        "| variant | mode | path | " + " | ".join(copies) + " |",
        "|---|---|---|" + "---|" * len(copies),
    ]
    for variant, mode, scenario in keys:
        cells = []
        for copy in copies:
            row = by_key.get((variant, mode, scenario, copy))
            if row is None:
                cells.append("")
                continue
            cell = row.boundaries if row.outcome == "ok" else f"{row.boundaries} → {row.outcome}"
            if row.copies != "-":
                cell += f"<br>copies: {row.copies}"
            cells.append(cell)
        lines.append(f"| {variant} | {mode} | {scenario} | " + " | ".join(cells) + " |")
    legend = "C contiguous, S strided, * not on a 16-byte boundary; `attention:q,k,v`; copies: by site"
    lines += ["", legend]
    return "\n".join(lines)


@dataclass(frozen=True)
class Accuracy:
    """‖out − ref‖ / ‖ref‖ against the same weights and inputs in float64 with sdpa."""

    variant: str
    scenario: str
    mode: str
    copy: str
    error: float


def accuracy(
    checkout: Checkout, variant: str, copy: str, shape: Shape, scenario: Scenario, mode: Mode, device: str
) -> Accuracy:
    """The mode's error in one scenario; the reference is taken before quantization, from the same float32 weights."""
    (model,) = build_models([checkout.multitalk], shape, device)
    reference = float64_copy(model)
    prepare(model, mode)
    inputs = forward_inputs(shape, scenario, mode.dtype, device)
    expected = run_forward(reference, inputs.to(torch.float64))
    del reference
    out = run_forward(model, inputs)
    return Accuracy(variant, scenario.name, mode.name, copy, relative_error(out, expected))


def accuracy_markdown(rows: Sequence[Accuracy], legend: Sequence[Mode] = ()) -> str:
    """Errors by copy and scenario (rows) and mode (columns); `legend` lists what each mode runs."""
    modes = list(dict.fromkeys(row.mode for row in rows))
    keys = list(dict.fromkeys((row.variant, row.copy, row.scenario) for row in rows))
    by_key = {(row.variant, row.copy, row.scenario, row.mode): row.error for row in rows}
    lines = ["| variant | copy | path | " + " | ".join(modes) + " |", "|---|---|---|" + "---|" * len(modes)]
    for variant, copy, scenario in keys:
        cells = [f"{by_key[(variant, copy, scenario, mode)]:.3g}" if (variant, copy, scenario, mode) in by_key else ""
                 for mode in modes]
        lines.append(f"| {variant} | {copy} | {scenario} | " + " | ".join(cells) + " |")
    lines.extend(["", *(f"- {mode.name}: {mode.summary}" for mode in legend)])
    return "\n".join(lines)


def has_sageattention() -> bool:
    """SageAttention is optional: the GPU run installs it from wheels/, CI never has it."""
    return importlib.util.find_spec("sageattention") is not None


def device_modes(device: str) -> list[Mode]:
    """The modes that run on `device`. CPU emulates FP8, FP4 and the strict kernel; CUDA runs the real ones
    (the strict kernel and `_scaled_mm` from sm_89 on) and SageAttention where it is installed."""
    if device == "cpu":
        return [FP32, BF16_SDPA, FP8, FP4, STRICT]
    modes = [BF16_SDPA, FP8, FP4]
    if has_sageattention():
        modes.append(SAGEATTN)
    if has_scaled_mm(torch.device(device)):
        modes.append(STRICT)
    return modes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.runtime.harness.report", description=__doc__)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--shape", choices=("small", "real"), default="small")
    parser.add_argument("--variant", default="jan2026")
    parser.add_argument("--no-accuracy", action="store_true", help="only the contiguity table")
    args = parser.parse_args(argv)
    shape = REAL if args.shape == "real" else SMALL
    modes = device_modes(args.device)
    checkouts = Checkouts()
    title = f"{args.variant}, {args.shape} shape: {shape}; {args.device}"
    print(f"## What reaches the kernels ({title})\n")
    table_modes = [mode for mode in modes if mode in (FP32, BF16_SDPA)]
    print(contiguity_markdown(contiguity_rows(checkouts, args.variant, shape, table_modes, args.device)))
    if not args.no_accuracy:
        print(f"\n## Relative error against float64 ({title})\n")
        rows = [
            accuracy(checkouts.get(args.variant, profile), args.variant, profile or ORIGINAL, shape, scenario, mode,
                     args.device)
            for profile in copies_of()
            for scenario in SCENARIOS
            if scenario.name not in FAILING_SCENARIOS
            for mode in modes
        ]
        print(accuracy_markdown(rows, modes))
    checkouts.unload()
    return 0


if __name__ == "__main__":
    sys.exit(main())
