"""Explain's report: a text table per run with a verdict line, or one JSON document."""

from __future__ import annotations

import json
from collections.abc import Sequence

from codemod.explain.analysis import Explanation, Run
from codemod.match.entry_points import TENSOR_NAMES
from codemod.model.record import Boundary, ContiguousCall

SCENARIO_TITLES = {"single": "single-speaker", "two": "two-speaker"}


def size_text(count: int) -> str:
    """Bytes in the largest binary unit (up to GiB) that keeps the number at or above 1."""
    value, unit = float(count), "B"
    for larger in ("KiB", "MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, larger
    return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _tuple_text(values: Sequence[object]) -> str:
    return "(" + ", ".join(str(value) for value in values) + ")"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right_aligned: frozenset[int]) -> list[str]:
    widths = [max(len(row[index]) for row in (header, *rows)) for index in range(len(header))]
    lines = []
    for row in (header, *rows):
        cells = [cell.rjust(width) if index in right_aligned else cell.ljust(width)
                 for index, (cell, width) in enumerate(zip(row, widths))]
        lines.append("    " + "  ".join(cells).rstrip())
    return lines


def _boundary_rows(boundaries: Sequence[Boundary]) -> list[list[str]]:
    return [
        [str(b.line), b.call, b.arg, b.layout or "-", _yes(b.contiguous), _yes(b.dense), _yes(b.aligned16),
         _tuple_text(b.shape), _tuple_text(b.stride)]
        for b in boundaries
    ]


def _call_rows(calls: Sequence[ContiguousCall]) -> list[list[str]]:
    return [[str(c.line), c.site or "-", "copied" if c.copied else "no-op", str(c.bytes)] for c in calls]


def _grouped(boundaries: Sequence[Boundary]) -> str:
    """`attention k, v (line 199), proj input (line 309)`."""
    groups: dict[tuple[str, int], list[str]] = {}
    for b in boundaries:
        groups.setdefault((b.call, b.line), []).append(b.arg)
    return ", ".join(f"{call} {', '.join(args)} (line {line})" for (call, line), args in groups.items())


def verdict(run: Run) -> str:
    """Which kernel inputs are non-contiguous or misaligned, and what the `.contiguous()` calls copied."""
    boundaries = run.recording.boundaries
    calls = run.recording.contiguous_calls
    strided = [b for b in boundaries if not b.contiguous]
    misaligned = [b for b in boundaries if not b.aligned16]
    copies = [c for c in calls if c.copied]
    parts = []
    if strided:
        dense = sum(b.dense for b in strided)
        of_them = f" ({dense} of them dense)" if dense else ""
        parts.append(f"{len(strided)} of {len(boundaries)} kernel inputs non-contiguous{of_them}: {_grouped(strided)}")
    else:
        parts.append(f"all {len(boundaries)} kernel inputs contiguous")
    if misaligned:
        parts.append(f"{len(misaligned)} not 16-byte aligned: {_grouped(misaligned)}")
    if calls:
        parts.append(
            f"{len(copies)} of {len(calls)} .contiguous() calls copied, "
            f"{size_text(sum(c.bytes for c in copies))} per forward"
        )
    else:
        parts.append("no .contiguous() calls")
    return f"verdict {run.variant}, {SCENARIO_TITLES.get(run.scenario, run.scenario)}: " + "; ".join(parts)


def sizes_line(explanation: Explanation) -> str:
    """The sizes a report holds for, since layouts and bytes depend on them."""
    shape = explanation.shape
    return (
        f"{explanation.dtype}, dim {shape.dim}, {shape.heads} heads, "
        f"audio context {shape.enc_tokens} tokens x {shape.enc_dim} "
        f"per frame, {shape.frames} frames of {shape.height}x{shape.width} latents "
        f"({shape.frames * shape.tokens_per_frame} tokens), meta device"
    )


def _attention_summary(explanation: Explanation) -> list[str]:
    """Contiguity of (q, k, v) at the first attention entry point: one row per scenario, one column per variant."""
    variants = list(dict.fromkeys(run.variant for run in explanation.runs))
    scenarios = list(dict.fromkeys(run.scenario for run in explanation.runs))
    cells: dict[tuple[str, str], str] = {}
    for run in explanation.runs:
        if run.error is not None:
            cells[(run.scenario, run.variant)] = "could not run"
            continue
        flags: dict[str, bool] = {}
        for b in run.recording.boundaries:
            if b.is_attention and b.arg not in flags:
                flags[b.arg] = b.contiguous
        cells[(run.scenario, run.variant)] = _tuple_text([_yes(flags[arg]) for arg in TENSOR_NAMES if arg in flags])
    rows = [[SCENARIO_TITLES.get(scenario, scenario), *(cells.get((scenario, variant), "-") for variant in variants)]
            for scenario in scenarios]
    return ["attention inputs contiguous (q, k, v)", *_table(["path", *variants], rows, frozenset())]


def render_text(explanation: Explanation) -> str:
    """Per run: its kernel inputs, its `.contiguous()` calls and a verdict; then (q, k, v) for every run."""
    lines = [f"explain {explanation.file}", sizes_line(explanation), ""]
    for run in explanation.runs:
        lines.append(f"{SCENARIO_TITLES.get(run.scenario, run.scenario)} path, {run.variant}")
        if run.error is not None:
            lines.extend([f"  could not run: {run.error}", ""])
            continue
        lines.append("  kernel inputs")
        lines.extend(_table(
            ["line", "call", "arg", "layout", "contiguous", "dense", "aligned16", "shape", "stride"],
            _boundary_rows(run.recording.boundaries),
            frozenset({0}),
        ))
        if run.recording.contiguous_calls:
            lines.append("  .contiguous() calls")
            lines.extend(_table(
                ["line", "site", "result", "bytes"], _call_rows(run.recording.contiguous_calls), frozenset({0, 3})
            ))
        else:
            lines.append("  .contiguous() calls: none executed")
        lines.append("  " + verdict(run))
        lines.append("")
    lines.extend(_attention_summary(explanation))
    return "\n".join(lines) + "\n"


def render_json(explanation: Explanation) -> str:
    """`{"file", "shape", "runs": [{"variant", "path", "error", "boundaries", "contiguous_calls"}]}`."""
    document = {
        "file": explanation.file,
        "shape": {**explanation.shape._asdict(), "dtype": explanation.dtype},
        "runs": [
            {
                "variant": run.variant,
                "path": run.scenario,  # the scenario's name, under the key the README documents
                "error": run.error,
                "boundaries": [
                    {
                        "line": b.line,
                        "call": b.call,
                        "arg": b.arg,
                        "layout": b.layout,
                        "contiguous": b.contiguous,
                        "dense": b.dense,
                        "aligned16": b.aligned16,
                        "shape": list(b.shape),
                        "stride": list(b.stride),
                    }
                    for b in run.recording.boundaries
                ],
                "contiguous_calls": [
                    {"line": c.line, "site": c.site, "copied": c.copied, "bytes": c.bytes}
                    for c in run.recording.contiguous_calls
                ],
            }
            for run in explanation.runs
        ],
    }
    return json.dumps(document, indent=2) + "\n"
