"""What reaches the kernels, before and after each rewrite: characterisation, asserted as measured.

For each variant, scenario and dtype, the layout of q, k, v at `attention()` and of each linear layer's
input is recorded for the original and for each profile's rewrite, with the `.contiguous()` calls
that copied. The expected lines live in `contiguity_snapshot.json`; they were measured, not derived
from the spec's claims. After a deliberate change (a new profile, a new variant), re-measure with

    CONTIGUIFY_UPDATE_SNAPSHOT=1 python -m pytest tests/runtime/test_runtime_contiguity.py

and review the diff of the JSON file. fp32 and bf16 differ: the rotary embedding's `x.float()` returns
`x` itself in fp32, so the in-place rotation keeps k's strides; in bf16 it makes a contiguous copy.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the runtime tests run the modules under torch")
pytest.importorskip("einops", reason="the fixture's multitalk.py imports einops")

from codemod.model.shape import REAL, SMALL
from codemod.rewrite.profiles import all_profiles
from fixtures.harness.checkouts import Checkouts, variants
from fixtures.harness.forwards import SCENARIOS
from fixtures.harness.modes import BF16_SDPA, FP32, Mode
from fixtures.harness.report import ORIGINAL, Observation, contiguity_rows

SNAPSHOT = Path(__file__).with_name("contiguity_snapshot.json")
UPDATE = os.environ.get("CONTIGUIFY_UPDATE_SNAPSHOT") == "1"
MODES = (FP32, BF16_SDPA)


def _load_snapshot() -> dict[str, dict[str, dict[str, dict[str, str]]]]:
    return json.loads(SNAPSHOT.read_text(encoding="utf-8")) if SNAPSHOT.exists() else {}


def _as_nested(rows: list[Observation]) -> dict[str, dict[str, dict[str, str]]]:
    nested: dict[str, dict[str, dict[str, str]]] = {}
    for row in rows:
        nested.setdefault(row.mode, {}).setdefault(row.scenario, {})[row.copy] = row.line()
    return nested


@pytest.mark.parametrize("mode", MODES, ids=lambda mode: mode.name)
@pytest.mark.parametrize("variant", [variant.name for variant in variants()])
def test_kernel_boundaries_are_as_measured(checkouts: Checkouts, variant: str, mode: Mode) -> None:
    measured = _as_nested(contiguity_rows(checkouts, variant, SMALL, [mode], "cpu"))[mode.name]
    snapshot = _load_snapshot()
    if UPDATE:
        snapshot.setdefault(variant, {})[mode.name] = measured
        SNAPSHOT.write_text(json.dumps(snapshot, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    expected = snapshot.get(variant, {}).get(mode.name)
    assert expected is not None, f"no measurement of {variant} in {mode.name} yet: re-measure (see this module's doc)"
    for scenario, copies in measured.items():
        for copy, line in copies.items():
            assert copy in expected.get(scenario, {}), f"{copy} on {variant}/{scenario} was never measured: re-measure"
            assert line == expected[scenario][copy], f"{variant} {mode.name} {scenario} {copy}"
    assert set(expected) == set(measured)


def _attention(rows: list[Observation], scenario: str, copy: str) -> str:
    (row,) = [row for row in rows if row.scenario == scenario and row.copy == copy]
    return row.boundaries.split("attention:")[1].split()[0]


@pytest.mark.parametrize(
    ("mode", "single", "two_speaker"),
    [
        (BF16_SDPA, "C,S,S", "C,C,S"),
        (FP32, "C,S,S", "C,S,S"),
    ],
    ids=["bf16", "fp32"],
)
def test_original_jan2026_matches_the_facts_table(
    checkouts: Checkouts, mode: Mode, single: str, two_speaker: str
) -> None:
    """FACTS: bf16, real file: single-speaker (yes, no, no), two-speaker (yes, yes, no) at attention()."""
    rows = contiguity_rows(checkouts, "jan2026", SMALL, [mode], "cpu", profiles=[])
    assert _attention(rows, "single", ORIGINAL) == single
    assert _attention(rows, "two-speaker", ORIGINAL) == two_speaker


def test_seed_rewrite_matches_the_facts_table(checkouts: Checkouts) -> None:
    """FACTS, spec rewrite in bf16: single-speaker (yes, no, no), two-speaker (no, no, no)."""
    rows = contiguity_rows(checkouts, "jan2026", SMALL, [BF16_SDPA], "cpu", profiles=["seed"])
    assert _attention(rows, "single", "seed") == "C,S,S"
    assert _attention(rows, "two-speaker", "seed") == "S,S,S"


@pytest.mark.parametrize("mode", MODES, ids=lambda mode: mode.name)
def test_real_shape_on_meta_device_gives_the_small_shape_layouts(checkouts: Checkouts, mode: Mode) -> None:
    """Layouts depend on the code, not on the sizes: the real shape (on the meta device, no memory) agrees."""
    small = contiguity_rows(checkouts, "jan2026", SMALL, [mode], "cpu")
    real = contiguity_rows(checkouts, "jan2026", REAL, [mode], "meta")
    assert [(row.scenario, row.copy, row.boundaries, row.copies, row.outcome) for row in real] == [
        (row.scenario, row.copy, row.boundaries, row.copies, row.outcome) for row in small
    ]


def test_snapshot_covers_every_profile_and_scenario() -> None:
    """A profile or scenario added later must be measured before the suite passes again."""
    snapshot = _load_snapshot()
    copies = {ORIGINAL, *all_profiles()}
    for variant in variants():
        for mode in MODES:
            by_scenario = snapshot[variant.name][mode.name]
            assert {scenario.name for scenario in SCENARIOS} <= set(by_scenario)
            for scenario, lines in by_scenario.items():
                assert set(lines) == copies, f"{variant.name} {mode.name} {scenario}"
