"""Each CPU mode against a float64 reference: ‖out − ref‖ / ‖ref‖ under a stated tolerance.

The reference is the same model (float32 weights) in float64 with PyTorch sdpa, fed the mode's own
inputs cast to float64, so an error measures the mode's arithmetic and its rounding of the weights.
Measured at the small shape on CPU (torch 2.13): fp32 below 1e-6, bf16 0.0036-0.0043, FP8 linears
0.047, FP4 linears 0.18-0.19. The same tolerances hold on CUDA at the real shape, where the errors
are a little larger (H200: bf16 0.0047, FP8 0.054, FP4 0.206), so they leave 1.3x to 2x room here.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="the runtime tests run the modules under torch")
pytest.importorskip("einops", reason="the fixture's multitalk.py imports einops")

from codemod.model.shape import SMALL, Scenario
from codemod.rewrite.profiles import all_profiles
from fixtures.harness.checkouts import Checkouts
from fixtures.harness.forwards import FAILING_SCENARIOS, SCENARIOS
from fixtures.harness.modes import BF16_SDPA, FP4, FP8, FP32, Mode
from fixtures.harness.report import ORIGINAL, accuracy

TOLERANCES = {FP32.name: 1e-5, BF16_SDPA.name: 0.01, FP8.name: 0.07, FP4.name: 0.28}


@pytest.mark.parametrize("mode", (FP32, BF16_SDPA, FP8, FP4), ids=lambda mode: mode.name)
@pytest.mark.parametrize("scenario", [scenario for scenario in SCENARIOS if scenario.name not in FAILING_SCENARIOS],
                         ids=lambda scenario: scenario.name)
@pytest.mark.parametrize("profile", [None, *all_profiles()], ids=lambda p: p or ORIGINAL)
def test_mode_is_within_its_tolerance_of_float64(
    checkouts: Checkouts, profile: str | None, scenario: Scenario, mode: Mode
) -> None:
    result = accuracy(checkouts.get("jan2026", profile), "jan2026", profile or ORIGINAL, SMALL, scenario, mode, "cpu")
    print(f"{profile or ORIGINAL} {scenario.name} {mode.name}: {result.error:.4g}")
    assert result.error < TOLERANCES[mode.name]
