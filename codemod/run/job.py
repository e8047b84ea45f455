"""The unit of work of a run: one file's bytes and the settings of its project."""

from __future__ import annotations

from typing import NamedTuple

from codemod.match.entry_points import ENTRY_POINTS, EntryPoint
from codemod.match.patterns import TargetPattern


class Job(NamedTuple):
    """What a worker needs to rewrite one file; picklable for the process pool (a tuple: cheap to define)."""

    path: str
    data: bytes
    profile: str
    targets: tuple[TargetPattern, ...]
    entry_points: tuple[EntryPoint, ...] = ENTRY_POINTS
