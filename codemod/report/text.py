"""Messages for people, on stderr: one line per rewritten or failed file, warnings, a summary."""

from __future__ import annotations

from collections.abc import Sequence

from codemod.results import FileResult


def file_lines(result: FileResult, *, wrote: bool) -> list[str]:
    """`rewrote PATH` / `would rewrite PATH`, `error: PATH: reason`, and a warning per target missing sites."""
    lines = []
    if result.error is not None:
        lines.append(f"error: {result.path}: {result.error}")
    elif result.changed:
        inserted = sum(target.inserted for target in result.targets)
        verb = "rewrote" if wrote else "would rewrite"
        lines.append(f"{verb} {result.path} ({inserted} .contiguous() inserted)")
    for target in result.targets:
        if target.missing:
            lines.append(
                f"warning: {result.path}:{target.line}: {target.class_name}.{target.method}: "
                f"sites not found: {'; '.join(target.missing_described)}"
            )
    return lines


def summary_line(results: Sequence[FileResult], *, wrote: bool) -> str:
    changed = sum(result.changed for result in results)
    errors = sum(result.error is not None for result in results)
    unchanged = len(results) - changed - errors
    verb = "rewritten" if wrote else "would be rewritten"
    return (
        f"{changed} file{'s' if changed != 1 else ''} {verb}, {unchanged} left unchanged, "
        f"{errors} error{'s' if errors != 1 else ''}"
    )
