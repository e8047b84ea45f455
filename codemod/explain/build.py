"""Builds the attention classes of any upstream version, and the inputs their real callers pass.

Constructor signatures changed over time (older files take `qk_norm` and `norm_layer`), so
arguments are chosen by parameter name, as WanVideoWrapper's model passes them; a required
parameter with no known value is an error that names it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch

from codemod.explain.sizes import DTYPES, HUMANS_OF_PATH, Sizes, SpeakerPath


class BuildError(Exception):
    """A class that cannot be constructed or called with the sizes given."""


def torch_dtype(sizes: Sizes) -> torch.dtype:
    """The torch dtype for the command line's short name (bf16, fp16, fp32)."""
    dtype = getattr(torch, DTYPES[sizes.dtype])
    assert isinstance(dtype, torch.dtype)
    return dtype


def constructor_arguments(sizes: Sizes) -> dict[str, object]:
    """Values for every constructor parameter name upstream versions have used without a default."""
    return {
        "dim": sizes.dim,
        "encoder_hidden_states_dim": sizes.enc_dim,
        "num_heads": sizes.heads,
        "qkv_bias": True,
        "qk_norm": False,
        "norm_layer": torch.nn.LayerNorm,
    }


def construct(cls: type[torch.nn.Module], sizes: Sizes, device: torch.device) -> torch.nn.Module:
    """`cls(...)` on `device` in `sizes.dtype`, passing what fits its signature."""
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError) as error:
        raise BuildError(f"cannot read the signature of {cls.__name__}: {error}") from error
    known = constructor_arguments(sizes)
    arguments: dict[str, object] = {}
    for name, parameter in signature.parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if name in known and parameter.kind is not parameter.POSITIONAL_ONLY:
            arguments[name] = known[name]
        elif parameter.default is parameter.empty:
            raise BuildError(f"cannot call {cls.__name__}{signature}: no value for its parameter {name!r}")
    try:
        with device:
            model = cls(**arguments)
        return model.to(torch_dtype(sizes)).eval()
    except Exception as error:
        call = ", ".join(f"{name}={value!r}" for name, value in arguments.items())
        raise BuildError(f"cannot call {cls.__name__}({call}): {type(error).__name__}: {error}") from error


def takes_human_num(cls: type[torch.nn.Module]) -> bool:
    """The multi-speaker class is the one whose forward takes `human_num`."""
    try:
        return "human_num" in inspect.signature(cls.forward).parameters
    except (TypeError, ValueError):
        return False


def forward_call(
    model: torch.nn.Module, multi_speaker: bool, path: SpeakerPath, sizes: Sizes, device: torch.device
) -> Callable[[], Any]:
    """The forward as WanVideoWrapper calls it, for one path.

    The multi-speaker class gets the audio context as [1, N_t, N_a, C] and squeezes it; the
    single-speaker class gets [B * N_t, N_a, C]. `x_ref_attn_map` is [human_num, N_t * S].
    """
    dtype = torch_dtype(sizes)
    tokens = sizes.frames * sizes.tokens_per_frame
    x = torch.randn(1, tokens, sizes.dim, device=device, dtype=dtype)
    shape = (sizes.frames, sizes.height, sizes.width)
    if not multi_speaker:
        context = torch.randn(sizes.frames, sizes.enc_tokens, sizes.enc_dim, device=device, dtype=dtype)
        return lambda: model(x, context, shape=shape)
    humans = HUMANS_OF_PATH[path]
    context = torch.randn(1, sizes.frames, sizes.enc_tokens, sizes.enc_dim, device=device, dtype=dtype)
    attention_map = torch.rand(humans, tokens, device=device, dtype=dtype)
    return lambda: model(x, context, shape=shape, x_ref_attn_map=attention_map, human_num=humans)
