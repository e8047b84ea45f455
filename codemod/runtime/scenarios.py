"""Shapes, forward paths and inputs for the MultiTalk audio cross-attention, and models to run them on.

`SingleStreamMultiAttention.forward` takes the single-speaker path (its base class's forward)
when `human_num` is 1 and the multi-speaker path otherwise; either may carry an extra frame
(`x_extra`: one more latent frame in `x` than audio frames in the context), which it cuts off
before attention and puts back as zeros after.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch import nn

ATTENTION_CLASSES = ("SingleStreamMultiAttention", "SingleStreamMutiAttention")


@dataclass(frozen=True)
class ModelShape:
    """Model width and the latent grid: `frames` latent frames of `height` x `width` tokens."""

    dim: int
    num_heads: int
    audio_dim: int
    audio_tokens: int
    frames: int
    height: int
    width: int

    @property
    def tokens_per_frame(self) -> int:
        return self.height * self.width

    def __str__(self) -> str:
        return (
            f"dim {self.dim}, {self.num_heads} heads, audio {self.audio_dim} x {self.audio_tokens} tokens, "
            f"{self.frames} frames of {self.height} x {self.width}"
        )


# Small enough for CPU CI; head_dim 64 keeps Triton's FP8 tiles and _scaled_mm's multiples of 16 happy.
SMALL = ModelShape(dim=256, num_heads=4, audio_dim=64, audio_tokens=32, frames=3, height=4, width=4)
# Wan 14B with MultiTalk: dim 5120, 40 heads, wav2vec features of 768, 32 audio tokens per frame.
REAL = ModelShape(dim=5120, num_heads=40, audio_dim=768, audio_tokens=32, frames=21, height=48, width=48)


@dataclass(frozen=True)
class ForwardPath:
    """Which branch of the forward runs, and on what batch layout.

    `speakers` 1 is the single-speaker path. `extra`: `x` has one more frame than the audio.
    `batch` > 1 with `shared_audio`: one audio context for all batch entries (the batched-cfg
    variant repeats it). `attn_map` False passes `x_ref_attn_map=None`.
    """

    name: str
    speakers: int
    extra: bool
    batch: int = 1
    shared_audio: bool = False
    attn_map: bool = True


PATHS: tuple[ForwardPath, ...] = tuple(
    ForwardPath(f"{label}{'+extra' if extra else ''}", speakers, extra)
    for speakers, label in ((1, "single"), (2, "two-speaker"), (3, "three-speaker"))
    for extra in (False, True)
)

# Paths that only some variants have: batched_cfg repeats one audio context over a batch of two,
# early_return falls back to the single-speaker path when no attention map is given.
VARIANT_PATHS: dict[str, tuple[ForwardPath, ...]] = {
    "batched_cfg": (ForwardPath("single-batched-cfg", 1, False, batch=2, shared_audio=True),),
    "early_return": (ForwardPath("two-speaker-no-map", 2, False, attn_map=False),),
}

# The single-speaker branch cuts off an extra frame only when x does not hold N_t * S tokens, and its
# next view needs exactly N_t * S: that branch cannot run. The original and every rewrite raise there.
FAILING_PATHS = frozenset({"single+extra"})


def paths_of(variant: str) -> tuple[ForwardPath, ...]:
    """The common paths and the variant's own."""
    return PATHS + VARIANT_PATHS.get(variant, ())


@dataclass(frozen=True)
class Inputs:
    """The forward's arguments. The forward may write into `x` and `context` (FP8's in-place clamp)."""

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


def make_inputs(
    shape: ModelShape, path: ForwardPath, dtype: torch.dtype, device: torch.device | str, seed: int = 0
) -> Inputs:
    """Random inputs for `path`: latents and audio features ~ N(0, 1), attention-map scores ~ U(0, 1)."""
    device = torch.device(device)
    generator = None if device.type == "meta" else torch.Generator(device).manual_seed(seed)
    audio_frames = shape.frames - 1 if path.extra else shape.frames
    audio_rows = audio_frames if path.shared_audio else path.batch * audio_frames
    tokens = shape.frames * shape.tokens_per_frame
    x = torch.randn(path.batch, tokens, shape.dim, generator=generator, dtype=dtype, device=device)
    context = torch.randn(
        audio_rows, shape.audio_tokens, shape.audio_dim, generator=generator, dtype=dtype, device=device
    )
    ref_map = None
    if path.speakers > 1 and path.attn_map:
        ref_map = torch.rand(
            path.speakers, audio_frames * shape.tokens_per_frame, generator=generator, dtype=dtype, device=device
        )
    grid = (shape.frames, shape.height, shape.width)
    return Inputs(x, context, grid, ref_map, path.speakers)


def attention_class(module: types.ModuleType) -> type[nn.Module]:
    """The multi-speaker attention class of a `multitalk.py`, under either upstream spelling."""
    for name in ATTENTION_CLASSES:
        found = getattr(module, name, None)
        if isinstance(found, type) and issubclass(found, nn.Module):
            return found
    raise LookupError(f"{module.__name__} defines none of {', '.join(ATTENTION_CLASSES)}")


def build_models(
    modules: Sequence[types.ModuleType], shape: ModelShape, device: torch.device | str, seed: int = 0
) -> list[nn.Module]:
    """One float32 model per module, all with the weights the first one got from `seed`."""
    models: list[nn.Module] = []
    for module in modules:
        with torch.device(device):
            if not models:
                torch.manual_seed(seed)
            model = attention_class(module)(
                dim=shape.dim, encoder_hidden_states_dim=shape.audio_dim, num_heads=shape.num_heads, qkv_bias=True
            )
        if models:
            model.load_state_dict(models[0].state_dict())
        models.append(model.eval())
    return models


def float64_copy(model: nn.Module) -> nn.Module:
    """A float64 copy of an unquantized model, with PyTorch sdpa: the accuracy reference."""
    reference = copy.deepcopy(model).double()
    setattr(reference, "attention_mode", "sdpa")  # noqa: B010 (typed Tensor | Module)
    return reference


def run_forward(model: nn.Module, inputs: Inputs) -> torch.Tensor:
    """One forward under `torch.no_grad()` (the rotary embedding works in place)."""
    with torch.no_grad():
        out: torch.Tensor = model(
            inputs.x,
            inputs.context,
            shape=inputs.grid,
            x_ref_attn_map=inputs.x_ref_attn_map,
            human_num=inputs.human_num,
        )
    return out


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
