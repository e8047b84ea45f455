"""Messages for people, on stderr: one line per rewritten or failed file, warnings, a summary."""

from __future__ import annotations

from collections.abc import Sequence

from codemod.config import Project, Projects
from codemod.match.patterns import DEFAULT_TARGETS
from codemod.report.paths import shown
from codemod.results import FileResult

INSERTED = b".contiguous()"


def file_lines(result: FileResult, *, wrote: bool, reverted: bool = False) -> list[str]:
    """`rewrote PATH` / `would rewrite PATH`, `error: PATH: reason`, and a warning per target missing sites.

    Standard input is `<stdin>`; a fix of it is written to stdout, and says so. `reverted`: `reverted PATH`,
    with the calls removed, and no warnings about sites (a reverted file has none of its calls).
    """
    lines = []
    path = shown(result.path)
    if result.error is not None:
        lines.append(f"error: {path}: {result.error}")
    elif result.changed and reverted:
        assert result.old is not None and result.new is not None
        removed = result.old.count(INSERTED) - result.new.count(INSERTED)
        lines.append(f"reverted {path} ({removed} .contiguous() removed)")
    elif result.changed:
        inserted = sum(target.inserted for target in result.targets)
        verb = "rewrote" if wrote else "would rewrite"
        where = " to stdout" if wrote and result.path == "-" else ""
        lines.append(f"{verb} {path}{where} ({inserted} .contiguous() inserted)")
    for target in () if reverted else result.targets:
        if target.missing:
            lines.append(
                f"warning: {path}:{target.line}: {target.class_name}.{target.method}: "
                f"sites not found: {'; '.join(target.missing_described)}"
            )
    return lines


def summary_line(results: Sequence[FileResult], *, wrote: bool, reverted: bool = False) -> str:
    changed = sum(result.changed for result in results)
    errors = sum(result.error is not None for result in results)
    unchanged = len(results) - changed - errors
    verb = "reverted" if reverted else "rewritten" if wrote else "would be rewritten"
    return (
        f"{changed} file{'s' if changed != 1 else ''} {verb}, {unchanged} left unchanged, "
        f"{errors} error{'s' if errors != 1 else ''}"
    )


def unmatched_target_lines(results: Sequence[FileResult], projects: Projects) -> list[str]:
    """A warning per target the user named (command line or config) that matched no method in any file of the run.

    The default spellings are never reported, even when named: a checkout holds only some of them.
    """
    named = dict.fromkeys(str(target) for project in projects.made if project.targets_given
                          for target in project.targets if str(target) not in DEFAULT_TARGETS)
    if not named:
        return []
    matched: set[str] = set()
    for result in results:
        project = projects.for_file(result.path) if result.targets else None
        if isinstance(project, Project):
            for pattern in project.targets_for(result.path):
                if any(pattern.matches(target.class_name, target.method) for target in result.targets):
                    matched.add(str(pattern))
    return [f"warning: target {text!r} matched nothing" for text in named if text not in matched]
