"""The sizes a forward runs at and the scenarios it runs in; free of torch, so the command line can read them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

# Short names on the command line -> torch attribute names.
DTYPES: Mapping[str, str] = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


# Named tuples, not frozen dataclasses: the command line reads this module at every run (see codemod/results.py).
class Shape(NamedTuple):
    """One attention layer's sizes and the latent video it attends over.

    `enc_dim` x `enc_tokens`: the audio context per latent frame; `frames` latent frames of `height` x `width`.
    """

    dim: int
    heads: int
    enc_dim: int
    enc_tokens: int
    frames: int
    height: int
    width: int

    @property
    def tokens_per_frame(self) -> int:
        return self.height * self.width

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    def __str__(self) -> str:
        return (
            f"dim {self.dim}, {self.heads} heads, audio {self.enc_dim} x {self.enc_tokens} tokens, "
            f"{self.frames} frames of {self.height} x {self.width}"
        )


# Wan 14B with MultiTalk: dim 5120, 40 heads, wav2vec features of 768, 32 audio tokens per frame, 21 frames of 48x48.
REAL = Shape(dim=5120, heads=40, enc_dim=768, enc_tokens=32, frames=21, height=48, width=48)
# Small enough for CPU tests; head_dim 64 keeps Triton's FP8 tiles and _scaled_mm's multiples of 16 happy.
SMALL = Shape(dim=256, heads=4, enc_dim=64, enc_tokens=32, frames=3, height=4, width=4)


class Scenario(NamedTuple):
    """Which branch of the forward runs, and on what batch layout: single-speaker, two-speaker, ...

    `speakers` 1 is the single-speaker scenario (`human_num=1` where the forward takes it). `extra`: `x`
    has one more latent frame than the audio. `batch` > 1 with `shared_audio`: one audio context for
    every batch entry. `attn_map` False passes `x_ref_attn_map=None` with more than one speaker.
    """

    name: str
    speakers: int
    extra: bool = False
    batch: int = 1
    shared_audio: bool = False
    attn_map: bool = True


SINGLE = Scenario("single", 1)
TWO = Scenario("two", 2)
