"""Every setting of a run in one frozen object, built once from the command line."""

from __future__ import annotations

from typing import Literal, NamedTuple

from codemod.rewrite import profile_names

OutputFormat = Literal["text", "json"]
# Listed without importing the profiles, so that `--help`, config checks and the no-target fast path never
# import libcst.
PROFILE_NAMES = profile_names()
# Parsing takes about 15 to 20 s of CPU and 350 MiB per MiB of source (benchmarks/speed.py); a target file is some
# 15 KiB. Larger files are reported and left alone rather than risking the machine's memory.
DEFAULT_MAX_FILE_SIZE = 2 * 1024 * 1024


# A named tuple, not a frozen dataclass, for start-up time: see codemod/results.py.
class Options(NamedTuple):
    """What the command line asked for.

    `profile`, `targets`, `strict` and `max_file_size` are None when not given: each file then takes
    them from its project's `[tool.contiguify]` (see `codemod.config`), else the defaults. Built once
    per command (`codemod.cli.check`) and passed whole.
    """

    profile: str | None = None
    targets: tuple[str, ...] | None = None
    strict: bool | None = None
    output_format: OutputFormat = "text"
    color: bool = False
    jobs: int = 1
    cache: bool = True
    follow_links: bool = False
    max_file_size: int | None = None  # None: each file's project's, else DEFAULT_MAX_FILE_SIZE
