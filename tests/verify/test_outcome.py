"""Statuses, exit codes and the two reports of `verify`, on hand-made results (no torch)."""

from __future__ import annotations

import json

import pytest

from codemod.cli.shared import EXIT_CHANGED, EXIT_CLEAN, EXIT_ERROR
from codemod.cli.verify import exit_code
from codemod.verify.outcome import (
    FileVerification,
    ScenarioRun,
    Status,
    TargetRuns,
    describe,
    not_verified,
    render_json,
    render_text,
)


def _file(*statuses: Status, error: str | None = None) -> FileVerification:
    runs = tuple(ScenarioRun(f"scenario{index}", status) for index, status in enumerate(statuses))
    return FileVerification("m.py", "seed", ("xformers.ops",), (TargetRuns("A", "forward", runs),), error)


@pytest.mark.parametrize(
    ("statuses", "code"),
    [
        (("equal", "same-error", "unverifiable"), EXIT_CLEAN),
        (("equal", "differs"), EXIT_CHANGED),
        (("new-error",), EXIT_CHANGED),
        ((), EXIT_ERROR),
        (("same-error",), EXIT_ERROR),
        (("unverifiable",), EXIT_ERROR),
        (("same-error", "unverifiable"), EXIT_ERROR),
    ],
)
def test_exit_code_fails_on_differences_and_new_errors_and_on_files_that_verify_nothing(
    statuses: tuple[Status, ...], code: int,
) -> None:
    assert exit_code([_file(*statuses)]) == code


@pytest.mark.parametrize("statuses", [(), ("same-error",), ("unverifiable", "same-error")])
def test_allow_unverified_passes_a_file_that_verified_nothing(statuses: tuple[Status, ...]) -> None:
    file = _file(*statuses)
    assert file.unverified is not None and not_verified([file]) == [("m.py", f"[seed] {file.unverified}")]
    assert exit_code([file], allow_unverified=True) == EXIT_CLEAN


def test_a_file_is_verified_only_when_every_target_has_an_equal_scenario() -> None:
    both = FileVerification("m.py", "seed", (), (
        TargetRuns("A", "forward", (ScenarioRun("single", "equal"),)),
        TargetRuns("B", "forward", (ScenarioRun("single", "same-error", "TypeError: x"), ScenarioRun("two", "equal"))),
    ))
    one = FileVerification("m.py", "seed", (), (
        TargetRuns("A", "forward", (ScenarioRun("single", "equal"),)),
        TargetRuns("B", "forward", (ScenarioRun("single", "same-error", "TypeError: x"),)),
    ))
    assert both.unverified is None
    assert one.unverified == ("B.forward: no path ran to the end in both the original and the rewrite with equal "
                              "results (single: same-error (TypeError: x))")
    assert FileVerification("m.py", "seed").unverified == "no target was run"


def test_an_error_in_any_file_is_exit_2() -> None:
    assert exit_code([_file("differs"), _file(error="cannot read it")]) == EXIT_ERROR


def test_failures_name_target_scenario_status_and_detail() -> None:
    verification = FileVerification("m.py", "seed", (), (TargetRuns("A", "forward", (
        ScenarioRun("single", "equal"),
        ScenarioRun("two", "differs", max_abs_diff=0.25),
        ScenarioRun("three", "new-error", "ValueError: boom (line 12)"),
    )),))
    assert verification.failures == [
        "A.forward, two: differs (max abs diff 0.25)",
        "A.forward, three: new-error (ValueError: boom (line 12))",
    ]
    assert describe(ScenarioRun("single", "equal")) == "equal"


def test_json_report_follows_the_schema() -> None:
    document = json.loads(render_json([_file("equal", "differs"), _file(error="cannot read it")]))
    first, second = document["files"]
    assert set(first) == {"path", "profile", "stubbed", "notes", "error", "verified", "unverified_reason", "targets"}
    assert first["stubbed"] == ["xformers.ops"] and first["error"] is None and first["notes"] == []
    assert (first["verified"], first["unverified_reason"]) == (False, "A.forward, scenario1: differs")
    assert (second["verified"], second["unverified_reason"]) == (False, "cannot read it")
    assert first["targets"][0]["class"] == "A" and first["targets"][0]["method"] == "forward"
    assert first["targets"][0]["runs"][1] == {"path": "scenario1", "status": "differs", "detail": "",
                                              "max_abs_diff": None}
    assert second["error"] == "cannot read it"


def test_text_report_has_a_line_per_run_the_stubs_and_a_summary() -> None:
    lines = render_text([_file("equal", "new-error"), _file(error="cannot read it")]).splitlines()
    assert lines == [
        "m.py [seed]: stubbed (not importable here): xformers.ops",
        "m.py [seed] A.forward scenario0: equal",
        "m.py [seed] A.forward scenario1: new-error",
        "2 file runs: 1 equal, 1 new-error; 0 verified, 2 not; 1 not run (errors)",
    ]
