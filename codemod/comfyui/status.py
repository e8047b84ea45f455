"""What a ComfyUI start would run: each target file of the tree, fixed on disk or not, and whether the hook fixes it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from codemod.comfyui.tree import installed_profile, loaded_directly
from codemod.options import Options
from codemod.results import FileResult
from codemod.run.runner import run_paths


@dataclass(frozen=True)
class TargetFile:
    """One file of the tree that defines a target method, or that could and cannot be read."""

    result: FileResult
    reached: bool  # the import hook sees it when ComfyUI imports it

    @property
    def state(self) -> str:
        result = self.result
        if result.error is not None:
            return f"error: {result.error}"
        if not result.changed:
            present = any(site.status == "present" for target in result.targets for site in target.sites)
            return "fixed on disk" if present else "nothing to insert (none of the profile's sites found)"
        inserted = sum(target.inserted for target in result.targets)
        return f"not fixed on disk ({inserted} .contiguous() to insert)"

    def runs_unfixed(self, hook: bool) -> bool:
        return self.result.error is not None or (self.result.changed and not (hook and self.reached))


@dataclass(frozen=True)
class Status:
    profile: str | None  # the installed hook's; None: not installed
    files: tuple[TargetFile, ...]

    @property
    def hook(self) -> bool:
        return self.profile is not None

    @property
    def unfixed(self) -> tuple[TargetFile, ...]:
        return tuple(file for file in self.files if file.runs_unfixed(self.hook))


def status(directory: str, options: Options) -> Status:
    """Every target file below `directory`, judged with the installed hook's profile unless `options` names one."""
    profile = installed_profile(directory)
    if options.profile is None and profile is not None:
        options = options._replace(profile=profile)
    results = run_paths([directory], options, write=False, progress=False, on_warning=lambda path, reason: None)
    files = tuple(TargetFile(result, not loaded_directly(directory, result.path))
                  for result in results if result.targets or result.error is not None)
    return Status(profile, files)


def status_lines(directory: str, found: Status) -> Sequence[str]:
    """The report: the hook, then one line per target file, relative to the tree."""
    if found.hook:
        lines = [f"hook: installed ({os.path.join('custom_nodes', 'contiguify')}, profile {found.profile})"]
    else:
        lines = ["hook: not installed (contiguify comfyui install puts it in)"]
    for file in found.files:
        path = os.path.relpath(file.result.path, directory)
        then = ""
        if file.result.changed:
            if not file.reached:
                then = "; ComfyUI loads it by its path, where the hook cannot reach it: runs unfixed"
            else:
                then = "; fixed in memory at start" if found.hook else "; runs unfixed"
        elif file.result.error is not None:
            then = "; loaded unmodified"
        lines.append(f"{path}: {file.state}{then}")
    if not found.files:
        lines.append("no target files in this tree")
    return lines
