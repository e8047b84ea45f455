"""The scenarios the runtime tests run, models to run them on, and what a run gives, on top of `codemod.model`.

`SingleStreamMultiAttention.forward` takes the single-speaker path (its base class's forward)
when `human_num` is 1 and the multi-speaker path otherwise; either may carry an extra frame
(`x_extra`: one more latent frame in `x` than audio frames in the context), which it cuts off
before attention and puts back as zeros after.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Sequence

import torch
from torch import nn

from codemod.model.build import attention_class as find_attention_class
from codemod.model.build import build
from codemod.model.scenarios import Inputs, forward_inputs, run_forward
from codemod.model.shape import REAL, SMALL, Scenario, Shape

ATTENTION_CLASSES = ("SingleStreamMultiAttention", "SingleStreamMutiAttention")

SCENARIOS: tuple[Scenario, ...] = tuple(
    Scenario(f"{label}{'+extra' if extra else ''}", speakers, extra)
    for speakers, label in ((1, "single"), (2, "two-speaker"), (3, "three-speaker"))
    for extra in (False, True)
)

# Scenarios that only some variants have: batched_cfg repeats one audio context over a batch of two,
# early_return falls back to the single-speaker path when no attention map is given.
VARIANT_SCENARIOS: dict[str, tuple[Scenario, ...]] = {
    "batched_cfg": (Scenario("single-batched-cfg", 1, False, batch=2, shared_audio=True),),
    "early_return": (Scenario("two-speaker-no-map", 2, False, attn_map=False),),
}

# The single-speaker branch cuts off an extra frame only when x does not hold N_t * S tokens, and its
# next view needs exactly N_t * S: that branch cannot run. The original and every rewrite raise there.
FAILING_SCENARIOS = frozenset({"single+extra"})

__all__ = ["REAL", "SMALL", "Inputs", "Shape", "forward_inputs", "run_forward"]


def scenarios_of(variant: str) -> tuple[Scenario, ...]:
    """The common scenarios and the variant's own."""
    return SCENARIOS + VARIANT_SCENARIOS.get(variant, ())


def attention_class(module: types.ModuleType) -> type[nn.Module]:
    """The multi-speaker attention class of a `multitalk.py`, under either upstream spelling."""
    found = find_attention_class(module, ATTENTION_CLASSES, speakers=2)
    if found is None:
        raise LookupError(f"{module.__name__} defines none of {', '.join(ATTENTION_CLASSES)}")
    return found


def build_models(
    modules: Sequence[types.ModuleType], shape: Shape, device: torch.device | str, seed: int = 0
) -> list[nn.Module]:
    """One float32 model per module, all with the weights the first one got from `seed`."""
    models: list[nn.Module] = []
    for module in modules:
        model = build(attention_class(module), shape, device, torch.float32, seed=seed if not models else None)
        if models:
            model.load_state_dict(models[0].state_dict())
        models.append(model)
    return models


def float64_copy(model: nn.Module) -> nn.Module:
    """A float64 copy of an unquantized model, with PyTorch sdpa: the accuracy reference."""
    reference = copy.deepcopy(model).double()
    setattr(reference, "attention_mode", "sdpa")  # noqa: B010 (typed Tensor | Module)
    return reference


def try_forward(model: nn.Module, inputs: Inputs) -> torch.Tensor | str:
    """The output, or `"<ExceptionType>: <message>"` when the forward raises."""
    try:
        return run_forward(model, inputs)
    except Exception as error:  # noqa: BLE001 - any failure is an outcome to compare
        return f"{type(error).__name__}: {error}"


def relative_error(out: torch.Tensor, reference: torch.Tensor) -> float:
    """‖out − reference‖ / ‖reference‖ in float64."""
    reference = reference.double()
    return float((out.double() - reference).norm() / reference.norm())
