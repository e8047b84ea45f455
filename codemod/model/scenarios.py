"""The scenarios a class's forward runs in (single-speaker, two-speaker), and the inputs real callers pass in each.

Upstream callers hand the attention `x` as [B, N_t·S, C], the audio context as [B·N_t, N_a, C_a]
(the multi-speaker classes squeeze a leading 1, which a 3-D context does not have), the latent grid
as `shape=(N_t, N_h, N_w)`, and with more than one speaker `x_ref_attn_map` [human_num, N_t·S] and
`human_num` (ComfyUI core and Wan2GP take only the map and count its rows). Wan2GP's forwards take
`x` in a list they clear (`xlist`). Keyword arguments a forward does not take are left out; a
forward with a required parameter none of these fill cannot be driven (`undriven`).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, replace
from typing import Any

import torch

from codemod.model.build import forward_parameters, takes_speakers
from codemod.model.shape import SINGLE, TWO, Scenario, Shape


KNOWN_PARAMETERS = frozenset({"shape", "x_ref_attn_map", "human_num"})


def scenarios(cls: type) -> tuple[Scenario, ...]:
    """Single-speaker, and two-speaker when the forward takes `x_ref_attn_map` or `human_num`."""
    return (SINGLE, TWO) if takes_speakers(cls) else (SINGLE,)


def _forward_signature(cls: type) -> list[inspect.Parameter] | None:
    try:
        return list(inspect.signature(getattr(cls, "forward")).parameters.values())[1:]  # without self
    except (AttributeError, TypeError, ValueError):
        return None


def takes_list(cls: type) -> bool:
    """Whether the forward takes `x` in a list (Wan2GP: `forward(self, xlist, ...)`, which it clears)."""
    parameters = _forward_signature(cls)
    return bool(parameters) and parameters[0].name.endswith("list")  # type: ignore[index]


def undriven(cls: type) -> str | None:
    """Why `cls.forward` cannot be called with the inputs real callers pass, or None when it can."""
    parameters = _forward_signature(cls)
    if parameters is None:
        return f"cannot read the signature of {getattr(cls, '__name__', cls)}.forward"
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p.name for p in parameters[len(positional[:2]):]
                if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                and p.name not in KNOWN_PARAMETERS]
    if len(positional) < 2 and not any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return f"{cls.__name__}.forward takes no (x, encoder_hidden_states) pair of arguments"
    if required:
        return f"{cls.__name__}.forward needs {', '.join(repr(name) for name in required)}, which no known caller passes"
    return None


@dataclass(frozen=True)
class Inputs:
    """One forward's arguments. A forward may write into `x` and `context` (FP8's in-place clamp): `clone` first."""

    x: torch.Tensor
    context: torch.Tensor
    grid: tuple[int, int, int]
    x_ref_attn_map: torch.Tensor | None
    human_num: int

    def clone(self) -> Inputs:
        ref_map = None if self.x_ref_attn_map is None else self.x_ref_attn_map.clone()
        return replace(self, x=self.x.clone(), context=self.context.clone(), x_ref_attn_map=ref_map)

    def to(self, dtype: torch.dtype) -> Inputs:
        ref_map = None if self.x_ref_attn_map is None else self.x_ref_attn_map.to(dtype)
        return replace(self, x=self.x.to(dtype), context=self.context.to(dtype), x_ref_attn_map=ref_map)

    def arguments(self, model: torch.nn.Module) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Positional and keyword arguments for `model`'s forward, keywords it lacks left out.

        `x` goes in a new list when the forward takes one (it clears it); the map is None on one speaker.
        """
        taken = forward_parameters(type(model))
        keywords: dict[str, Any] = {"shape": self.grid, "x_ref_attn_map": self.x_ref_attn_map,
                                    "human_num": self.human_num}
        x: Any = [self.x] if takes_list(type(model)) else self.x
        return (x, self.context), {name: value for name, value in keywords.items() if name in taken}


def forward_inputs(
    shape: Shape, scenario: Scenario, dtype: torch.dtype, device: torch.device | str, seed: int = 0
) -> Inputs:
    """Random inputs for `scenario`: latents and audio features ~ N(0, 1), attention-map scores ~ U(0, 1).

    On the meta device there are no values: `empty` gives the shapes without `randn`'s meta kernel,
    which imports TorchDynamo (about 2 s on 2 cores).
    """
    device = torch.device(device)
    generator = None if device.type == "meta" else torch.Generator(device).manual_seed(seed)

    def random(*size: int, normal: bool = True) -> torch.Tensor:
        if generator is None:
            return torch.empty(*size, dtype=dtype, device=device)
        draw = torch.randn if normal else torch.rand
        return draw(*size, generator=generator, dtype=dtype, device=device)

    audio_frames = shape.frames - 1 if scenario.extra else shape.frames
    audio_rows = audio_frames if scenario.shared_audio else scenario.batch * audio_frames
    tokens = shape.frames * shape.tokens_per_frame
    x = random(scenario.batch, tokens, shape.dim)
    context = random(audio_rows, shape.enc_tokens, shape.enc_dim)
    ref_map = None
    if scenario.speakers > 1 and scenario.attn_map:
        ref_map = random(scenario.speakers, audio_frames * shape.tokens_per_frame, normal=False)
    return Inputs(x, context, (shape.frames, shape.height, shape.width), ref_map, scenario.speakers)


def run_forward(model: torch.nn.Module, inputs: Inputs) -> torch.Tensor:
    """One forward under `torch.no_grad()` (the rotary embedding works in place)."""
    args, kwargs = inputs.arguments(model)
    with torch.no_grad():
        out = model(*args, **kwargs)
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"{type(model).__name__}.forward returned {type(out).__name__}, not a tensor")
    return out
