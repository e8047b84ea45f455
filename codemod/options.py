"""Every setting of a run in one frozen object, built once from the command line and pyproject.toml."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from codemod.match.patterns import DEFAULT_TARGETS

OutputFormat = Literal["text", "json"]
# Parsing takes about 20 s and 1 GiB per MiB of source (benchmarks/speed.py); a target file is some
# 15 KiB. Larger files are reported and left alone rather than risking the machine's memory.
DEFAULT_MAX_FILE_SIZE = 2 * 1024 * 1024


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
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
