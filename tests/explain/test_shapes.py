"""`explain` on every fixture case, where the case lives: original, seed and boundary run in each scenario.

`fixtures/cases/cases.toml` says which checkout and path a case belongs to, or that it is a bare file;
a case it does not list is a drop-in for the WanVideoWrapper checkout's `multitalk/multitalk.py`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="explain runs the forwards with torch")

from codemod.explain.analysis import explain_file
from codemod.explain.report import render_text
from codemod.model.shape import SINGLE, TWO, Shape
from codemod.rewrite import profile_names
from fixtures.catalog import DROP_IN_CHECKOUT, DROP_IN_PATH, FIXTURES, Case, cases

DROP_IN = FIXTURES / DROP_IN_CHECKOUT / DROP_IN_PATH
SMALL = Shape(dim=64, heads=4, enc_dim=32, enc_tokens=8, frames=3, height=4, width=4)
PROFILES = list(profile_names())
VARIANTS = ["original", *PROFILES]


@pytest.mark.parametrize("case", cases(), ids=lambda case: case.name)
def test_explain_runs_every_variant_in_every_scenario(case: Case) -> None:
    """Each case where it lives (in its checkout, or alone when bare), with its checkout's entry points."""
    explanation = explain_file(case.location, PROFILES, [SINGLE, TWO], SMALL, data=case.source.read_bytes(),
                               in_checkout=case.checkout is not None, entry_points=case.entry_points)
    scenarios = list(dict.fromkeys(run.scenario for run in explanation.runs))
    assert SINGLE.name in scenarios
    assert [(run.scenario, run.variant) for run in explanation.runs] == [(s, v) for s in scenarios for v in VARIANTS]
    for run in explanation.runs:
        attention = [b for b in run.recording.boundaries if b.is_attention]
        assert attention, f"{run.variant} {run.scenario}: no attention entry point recorded"
        assert [b.arg for b in attention[:3]] == ["q", "k", "v"]
    assert render_text(explanation).count("verdict") == len(explanation.runs)


def test_the_notes_name_every_stub_and_say_the_file_runs(tmp_path: Path) -> None:
    bare = tmp_path / "multitalk.py"
    bare.write_text(DROP_IN.read_text().replace("import torch\n", "import torch\nimport xformers_missing_abc.ops\n", 1))
    options = [f"--{name.replace('_', '-')}={value}" for name, value in SMALL._asdict().items()]
    # A process of its own: torch's import-time warnings appear only where torch is imported first.
    result = subprocess.run([sys.executable, "-m", "codemod", "explain", str(bare), *options],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"note: importing {bare} and running its module-level code (and its siblings')",
        "note: stubbed, not importable here: ..wanvideo.modules.attention, xformers_missing_abc.ops",
    ]
