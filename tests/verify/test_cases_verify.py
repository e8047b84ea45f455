"""Every fixture case, rewritten by every profile, computes bitwise what the original computes in every scenario.

Generated from `fixtures/cases/` and its manifest: each case runs where it lives (in a copy of its
checkout, or alone when it is a bare file), as `contiguify verify` would run it there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="verify runs the modules under torch")
pytest.importorskip("einops", reason="the fixture cases import einops")

from codemod.match.patterns import DEFAULT_TARGETS, parse_targets
from codemod.rewrite.profiles import all_profiles
from codemod.run.job import Job
from codemod.run.runner import rewrite_job
from codemod.verify.run import verify_result
from fixtures.catalog import Case, cases

PASSING = ("equal", "same-error")


@pytest.fixture(scope="module", autouse=True)
def one_cpu_thread() -> object:
    """The small-shape tensors are tiny: thread start-up costs more than it saves."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("profile", sorted(all_profiles()))
@pytest.mark.parametrize("case", cases(), ids=lambda case: case.name)
def test_every_scenario_of_every_rewrite_is_equal_or_the_same_error(tmp_path: Path, case: Case, profile: str) -> None:
    placed = case.place(tmp_path)
    table = case.entry_points
    result = rewrite_job(Job(str(placed), placed.read_bytes(), profile, parse_targets(DEFAULT_TARGETS), table))
    verification = verify_result(result, profile, entry_points=table)
    runs = [(target.class_name, run.scenario, run.status, run.detail)
            for target in verification.targets for run in target.runs]
    assert verification.error is None and runs, verification
    assert [run for run in runs if run[2] not in PASSING] == []
    assert {scenario for _, scenario, _, _ in runs} == {"single", "two"}
    assert verification.unverified is None, verification  # every target has a scenario that ran and compared equal
