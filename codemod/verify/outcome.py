"""What `verify` found, as plain values, and how it is reported (text, JSON).

Free of torch: `fix --verify` and the reports use it without loading the model. A run compares one
target class's forward in one scenario, original against rewritten, with the same weights and inputs:

- `equal`: both return tensors that are bitwise equal (same shape and dtype);
- `differs`: both return tensors that are not (`max_abs_diff` when the shapes agree), or the
  original raises and the rewrite does not;
- `new-error`: the rewrite raises where the original did not, or raises another error;
- `same-error`: both raise the same error (type and message);
- `unverifiable`: the file cannot be imported, the class not built or called (the detail says which).

A file and profile count as *verified* only when every target has at least one scenario that ran to
the end in both the original and the rewrite and compared `equal`; `same-error` and `unverifiable`
runs verify nothing. A file with targets that is not verified makes the run fail (exit 2) unless
the caller allows it (`--allow-unverified`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Status = Literal["equal", "differs", "new-error", "same-error", "unverifiable"]
STATUSES: tuple[Status, ...] = ("equal", "differs", "new-error", "same-error", "unverifiable")
FAILING: frozenset[Status] = frozenset({"differs", "new-error"})


@dataclass(frozen=True)
class ScenarioRun:
    """One scenario of one target: `scenario` is its name (`single`, `two`)."""

    scenario: str
    status: Status
    detail: str = ""
    max_abs_diff: float | None = None


@dataclass(frozen=True)
class TargetRuns:
    """One target method (`class_name.method`) and its runs."""

    class_name: str
    method: str
    runs: tuple[ScenarioRun, ...]


@dataclass(frozen=True)
class FileVerification:
    """One file and profile. `error`: the file could not be read or rewritten (nothing was run)."""

    path: str
    profile: str
    stubbed: tuple[str, ...] = ()
    targets: tuple[TargetRuns, ...] = ()
    error: str | None = None
    notes: tuple[str, ...] = ()  # how the file was loaded where that is not plain (bare fallback, CPU mode)

    @property
    def unverified(self) -> str | None:
        """Why this file and profile does not count as verified (see the module's docstring), or None."""
        if self.error is not None:
            return self.error
        if self.failures:
            return "; ".join(self.failures)
        if not self.targets:
            return "no target was run"
        for target in self.targets:
            if not any(run.status == "equal" for run in target.runs):
                runs = "; ".join(f"{run.scenario}: {describe(run)}" for run in target.runs)
                return (f"{target.class_name}.{target.method}: no path ran to the end in both the original and the "
                        f"rewrite with equal results ({runs})")
        return None

    @property
    def failures(self) -> list[str]:
        """`Class.method, scenario: status (detail)` for every run that differs or raises anew."""
        return [
            f"{target.class_name}.{target.method}, {run.scenario}: {describe(run)}"
            for target in self.targets
            for run in target.runs
            if run.status in FAILING
        ]


def describe(run: ScenarioRun) -> str:
    """The status with what it rests on: `differs (max abs diff 0.25)`, `new-error (RuntimeError: ... line 12)`."""
    parts = [run.detail] if run.detail else []
    if run.max_abs_diff is not None:
        parts.insert(0, f"max abs diff {run.max_abs_diff:.6g}")
    return f"{run.status} ({'; '.join(parts)})" if parts else run.status


def not_verified(files: Sequence[FileVerification]) -> list[tuple[str, str]]:
    """(path, reason) for each file that has no error and no failing run but is not verified, once per file."""
    found: dict[str, str] = {}
    for file in files:
        reason = file.unverified
        if file.error is None and not file.failures and reason is not None and file.path not in found:
            found[file.path] = f"[{file.profile}] {reason}"
    return list(found.items())


def render_json(files: Sequence[FileVerification]) -> str:
    """`{"files": [{"path", "profile", "stubbed", "error", "targets": [{"class", "method", "runs": [...]}]}]}`."""
    document = {
        "files": [
            {
                "path": file.path,
                "profile": file.profile,
                "stubbed": list(file.stubbed),
                "notes": list(file.notes),
                "error": file.error,
                "verified": file.unverified is None,
                "unverified_reason": file.unverified,
                "targets": [
                    {
                        "class": target.class_name,
                        "method": target.method,
                        "runs": [
                            # "path": the key the README documents
                            {"path": run.scenario, "status": run.status, "detail": run.detail,
                             "max_abs_diff": run.max_abs_diff}
                            for run in target.runs
                        ],
                    }
                    for target in file.targets
                ],
            }
            for file in files
        ]
    }
    return json.dumps(document, indent=2) + "\n"


def render_text(files: Sequence[FileVerification]) -> str:
    """One line per run (`PATH [profile] Class.method single: equal`), a stubs line per file, a summary.

    Files with an error have no runs; the command reports their errors on stderr.
    """
    lines: list[str] = []
    for file in files:
        if file.error is not None:
            continue
        for note in file.notes:
            lines.append(f"{file.path} [{file.profile}]: {note}")
        if file.stubbed:
            lines.append(f"{file.path} [{file.profile}]: stubbed (not importable here): {', '.join(file.stubbed)}")
        for target in file.targets:
            for run in target.runs:
                lines.append(f"{file.path} [{file.profile}] {target.class_name}.{target.method} {run.scenario}: "
                             f"{describe(run)}")
    counts = {status: 0 for status in STATUSES}
    for file in files:
        for target in file.targets:
            for run in target.runs:
                counts[run.status] += 1
    errors = sum(file.error is not None for file in files)
    verified = sum(file.unverified is None for file in files)
    summary = ", ".join(f"{count} {status}" for status, count in counts.items() if count)
    lines.append(f"{len(files)} file runs: {summary or 'nothing run'}; {verified} verified, "
                 f"{len(files) - verified} not" + (f"; {errors} not run (errors)" if errors else ""))
    return "\n".join(lines) + "\n"
