"""What explain runs: the layer's sizes, the dtype and the speaker paths; free of torch so the CLI can read it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

SpeakerPath = Literal["single", "two"]
HUMANS_OF_PATH: Mapping[SpeakerPath, int] = {"single": 1, "two": 2}

# Short names on the command line -> torch attribute names.
DTYPES: Mapping[str, str] = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


@dataclass(frozen=True)
class Sizes:
    """One attention layer's sizes and the latent video it attends over; defaults are Wan 14B with MultiTalk audio."""

    dim: int = 5120
    heads: int = 40
    enc_dim: int = 768
    enc_tokens: int = 32
    frames: int = 21
    height: int = 48
    width: int = 48
    dtype: str = "bf16"

    @property
    def tokens_per_frame(self) -> int:
        return self.height * self.width
