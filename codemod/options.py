"""Every setting of a run in one frozen object, built once from the command line and pyproject.toml."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from codemod.match.patterns import DEFAULT_TARGETS

OutputFormat = Literal["text", "json"]


@dataclass(frozen=True)
class Options:
    profile: str = "seed"
    targets: tuple[str, ...] = DEFAULT_TARGETS
    strict: bool = False
    output_format: OutputFormat = "text"
    color: bool = False
    jobs: int = 1
    exclude: tuple[str, ...] = ()
    cache: bool = True
