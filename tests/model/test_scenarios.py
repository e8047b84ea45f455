"""The forward signatures upstream has, driven in every scenario they have; a forward nobody can call is said so."""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch", reason="forwards run under torch")

from codemod.model.scenarios import forward_inputs, run_forward, scenarios, takes_list, undriven
from codemod.model.shape import SINGLE, SMALL, TWO


class Seen(torch.nn.Module):
    """Records what each forward was handed."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[dict[str, Any]] = []


class ComfyCore(Seen):
    """ComfyUI core: the speaker count is the number of rows of the map; no `human_num`."""

    def forward(self, x: torch.Tensor, encoder_hidden_states: torch.Tensor, shape: Any = None,
                x_ref_attn_map: torch.Tensor | None = None) -> torch.Tensor:
        human_num = x_ref_attn_map.shape[0] if x_ref_attn_map is not None else 1
        self.calls.append({"humans": human_num, "shape": shape})
        return x


class Wan2GP(Seen):
    """Wan2GP: `x` in a list the forward clears; the map alone picks the scenario."""

    def forward(self, xlist: list[torch.Tensor], encoder_hidden_states: torch.Tensor, shape: Any = None,
                x_ref_attn_map: torch.Tensor | None = None) -> torch.Tensor:
        x = xlist[0]
        xlist.clear()
        self.calls.append({"humans": 1 if x_ref_attn_map is None else x_ref_attn_map.shape[0]})
        return x


class MeiGen(Seen):
    def forward(self, x: torch.Tensor, encoder_hidden_states: torch.Tensor, shape: Any = None,
                x_ref_attn_map: torch.Tensor | None = None, human_num: int | None = None) -> torch.Tensor:
        self.calls.append({"humans": human_num})
        return x


class Mystery(Seen):
    def forward(self, x: torch.Tensor, encoder_hidden_states: torch.Tensor, mystery: int) -> torch.Tensor:
        return x


@pytest.mark.parametrize(("cls", "humans"), [(ComfyCore, [1, 2]), (Wan2GP, [1, 2]), (MeiGen, [1, 2])])
def test_every_multi_speaker_signature_gets_both_scenarios(cls: type[Seen], humans: list[int]) -> None:
    assert scenarios(cls) == (SINGLE, TWO)
    model = cls()
    for scenario in scenarios(cls):
        inputs = forward_inputs(SMALL, scenario, torch.float32, "cpu")
        assert torch.equal(run_forward(model, inputs), inputs.x)
        assert torch.equal(run_forward(model, inputs), inputs.x)  # a list the forward cleared is made anew
    assert [call["humans"] for call in model.calls] == [count for count in humans for _ in range(2)]


def test_a_forward_taking_a_list_gets_one() -> None:
    assert takes_list(Wan2GP) and not takes_list(ComfyCore)
    args, _ = forward_inputs(SMALL, SINGLE, torch.float32, "cpu").arguments(Wan2GP())
    assert isinstance(args[0], list) and len(args[0]) == 1


def test_a_forward_with_a_parameter_no_caller_fills_cannot_be_driven() -> None:
    assert undriven(Mystery) == "Mystery.forward needs 'mystery', which no known caller passes"
    assert undriven(ComfyCore) is None and undriven(Wan2GP) is None and undriven(MeiGen) is None
