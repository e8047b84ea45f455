"""Builds the attention classes of any upstream version from their constructor signatures.

Constructors differ between code bases and over time: MultiTalk's take `qk_norm` and `norm_layer`,
ComfyUI's `device`, `dtype` and `operations` (the namespace its layers come from). Arguments are
chosen by parameter name, as the real callers pass them; a required parameter with no known value
is an error that names it.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Sequence

import torch

from codemod.model.shape import DTYPES, Shape


class BuildError(Exception):
    """A class that cannot be constructed with the shape given; the message names the parameter or the error."""


def torch_dtype(name: str) -> torch.dtype:
    """The torch dtype for a command line's short name (bf16, fp16, fp32)."""
    dtype = getattr(torch, DTYPES[name])
    assert isinstance(dtype, torch.dtype)
    return dtype


def constructor_arguments(shape: Shape, device: torch.device, dtype: torch.dtype) -> dict[str, object]:
    """A value for every constructor parameter that upstream versions have without a default."""
    return {
        "dim": shape.dim,
        "encoder_hidden_states_dim": shape.enc_dim,
        "num_heads": shape.heads,
        "qkv_bias": True,
        "qk_norm": False,  # what MultiTalk, InfiniteTalk and WanVideoWrapper pass
        "norm_layer": torch.nn.LayerNorm,
        "operations": torch.nn,
        "device": device,
        "dtype": dtype,
    }


def _parameters(cls: type) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(cls).parameters.values())
    except (TypeError, ValueError) as error:
        raise BuildError(f"cannot read the signature of {cls.__name__}: {error}") from error


def build(
    cls: type,
    shape: Shape,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    seed: int | None = 0,
) -> torch.nn.Module:
    """`cls(...)` on `device` in `dtype`, in eval mode; weights drawn after `torch.manual_seed(seed)` (not on meta).

    Required parameters are filled from `shape` (see `constructor_arguments`); `device` and `dtype` are
    passed to a constructor that takes them, and the model is moved to them in any case.
    """
    device = torch.device(device)
    known = constructor_arguments(shape, device, dtype)
    arguments: dict[str, object] = {}
    for parameter in _parameters(cls):
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.name in known and parameter.kind is not parameter.POSITIONAL_ONLY:
            arguments[parameter.name] = known[parameter.name]
        elif parameter.default is parameter.empty:
            raise BuildError(f"cannot call {cls.__name__}{inspect.signature(cls)}: no value for its parameter "
                             f"{parameter.name!r}")
    if seed is not None and device.type != "meta":
        torch.manual_seed(seed)
    try:
        with device:
            model = cls(**arguments)
    except Exception as error:
        call = ", ".join(f"{name}={_shown(value)}" for name, value in arguments.items())
        raise BuildError(f"cannot call {cls.__name__}({call}): {type(error).__name__}: {error}") from error
    if not isinstance(model, torch.nn.Module):
        raise BuildError(f"{cls.__name__} is not a torch.nn.Module")
    return model.to(device=device, dtype=dtype).eval()


def _shown(value: object) -> str:
    if isinstance(value, types.ModuleType):
        return value.__name__
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    return repr(value)


def forward_parameters(cls: type) -> frozenset[str]:
    """The names `cls.forward` takes."""
    try:
        return frozenset(inspect.signature(getattr(cls, "forward")).parameters)
    except (AttributeError, TypeError, ValueError):
        return frozenset()


SPEAKER_PARAMETERS = frozenset({"human_num", "x_ref_attn_map"})


def takes_speakers(cls: type) -> bool:
    """The multi-speaker class is the one whose forward takes `x_ref_attn_map` or `human_num`.

    MultiTalk and WanVideoWrapper take both; ComfyUI core and Wan2GP only the map, whose rows are the speakers.
    """
    return bool(SPEAKER_PARAMETERS & forward_parameters(cls))


def module_classes(module: types.ModuleType, names: Sequence[str]) -> dict[str, type[torch.nn.Module]]:
    """The `nn.Module` classes among `names` that `module` defines, in the order of `names`."""
    found = {name: getattr(module, name, None) for name in names}
    return {name: cls for name, cls in found.items() if isinstance(cls, type) and issubclass(cls, torch.nn.Module)}


def attention_class(module: types.ModuleType, names: Sequence[str], speakers: int = 1) -> type[torch.nn.Module] | None:
    """The class a real caller runs for `speakers`: the multi-speaker class in every scenario (it hands one speaker
    to its base class's forward), else, for one speaker, the first class; None when there is none."""
    classes = module_classes(module, names)
    multi = [cls for cls in classes.values() if takes_speakers(cls)]
    if multi:
        return multi[0]
    if speakers == 1:
        return next(iter(classes.values()), None)
    return None
