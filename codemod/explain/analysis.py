"""Runs a file's attention forwards, original and rewritten, on the meta device and records their kernel inputs.

The meta device carries shapes, strides and storage offsets but no data, so the real sizes cost
neither memory nor time, and layouts come out as a GPU run would produce them.
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from codemod.explain.build import BuildError, construct, forward_call, takes_human_num
from codemod.explain.sandbox import Sandbox, SandboxError, sandbox
from codemod.explain.sites import site_positions
from codemod.explain.sizes import Sizes, SpeakerPath
from codemod.match.patterns import DEFAULT_TARGETS, parse_targets
from codemod.results import FileResult
from codemod.rewrite.profiles import get_profile
from codemod.run.process import BOM, Job, decode, rewrite_bytes
from codemod.runtime.record import Recording, SourcePosition, recording

ORIGINAL = "original"
META = torch.device("meta")


class ExplainError(Exception):
    """Input explain cannot analyse; the message says why."""


@dataclass(frozen=True)
class Run:
    """One forward of one variant (the original file or a profile's rewrite) on one path."""

    variant: str
    path: SpeakerPath
    recording: Recording


@dataclass(frozen=True)
class Explanation:
    """Every run explain made on one file; `notes` say which paths it could not run, and why."""

    file: str
    sizes: Sizes
    runs: tuple[Run, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class _Variant:
    name: str
    data: bytes
    sites: Mapping[SourcePosition, str]


def _text(data: bytes) -> str:
    return decode(data)[0].removeprefix(BOM)


def _rewrites(path: Path, data: bytes, profiles: Sequence[str]) -> dict[str, FileResult]:
    patterns = parse_targets(DEFAULT_TARGETS)
    results: dict[str, FileResult] = {}
    for name in profiles:
        result = rewrite_bytes(Job(str(path), data, name, patterns))
        if result.error is not None:
            raise ExplainError(f"{path}: {result.error}")
        if not result.targets:
            raise ExplainError(f"{path}: no target class in it (looked for {', '.join(DEFAULT_TARGETS)})")
        results[name] = result
    return results


def _variants(data: bytes, rewrites: Mapping[str, FileResult]) -> list[_Variant]:
    """The original and each rewrite, with the site of each `.contiguous()` call they contain."""
    original = _text(data)
    original_sites: dict[SourcePosition, str] = {}
    variants = []
    for name, result in rewrites.items():
        assert result.new is not None
        order = {site.id: index for index, site in enumerate(get_profile(name).sites())}
        present = site_positions(original, original, result.targets, order, statuses=("present",))
        original_sites.update((position, site) for position, site in present.items() if position not in original_sites)
        variants.append(_Variant(name, result.new, site_positions(original, _text(result.new), result.targets, order)))
    return [_Variant(ORIGINAL, data, original_sites), *variants]


def _load(box: Sandbox, variant: _Variant) -> types.ModuleType:
    try:
        return box.load("variant_" + re.sub(r"\W", "_", variant.name), variant.data)
    except SandboxError as error:
        raise ExplainError(f"{variant.name}: {error}") from error


def _module_class(module: types.ModuleType, name: str) -> type[torch.nn.Module] | None:
    found = getattr(module, name, None)
    return found if isinstance(found, type) and issubclass(found, torch.nn.Module) else None


def _choose_class(module: types.ModuleType, class_names: Sequence[str], path: SpeakerPath) -> str | None:
    """Real callers reach both paths through the multi-speaker class; a file without one has the single path only."""
    classes = {name: cls for name in class_names if (cls := _module_class(module, name)) is not None}
    multi = [name for name, cls in classes.items() if takes_human_num(cls)]
    if multi:
        return multi[0]
    if path == "single":
        return next(iter(classes), None)
    return None


def _record(
    box: Sandbox, module: types.ModuleType, class_name: str, variant: _Variant, path: SpeakerPath, sizes: Sizes
) -> Recording:
    cls = _module_class(module, class_name)
    if cls is None:
        raise ExplainError(f"{variant.name}: class {class_name} is missing after the rewrite")
    try:
        model = construct(cls, sizes, META)
        forward = forward_call(model, takes_human_num(cls), path, sizes, META)
        with torch.inference_mode(), recording(module, model, site_positions=variant.sites) as recorded:
            forward()
    except BuildError as error:
        raise ExplainError(f"{variant.name}: {error}") from error
    except Exception as error:
        stubbed = box.stubbed_libraries
        hint = f" (not installed, replaced by stubs: {', '.join(stubbed)})" if stubbed else ""
        raise ExplainError(
            f"{variant.name}: {class_name}.forward failed on the {path}-speaker path: "
            f"{type(error).__name__}: {error}{hint}"
        ) from error
    return recorded


def explain_file(path: Path, profiles: Sequence[str], paths: Sequence[SpeakerPath], sizes: Sizes) -> Explanation:
    """Record the original file and each profile's rewrite of it on each path, at `sizes`, on the meta device."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ExplainError(f"cannot read {path}: {error.strerror or error}") from error
    rewrites = _rewrites(path, data, profiles)
    variants = _variants(data, rewrites)
    class_names = list(dict.fromkeys(target.class_name for result in rewrites.values() for target in result.targets))
    runs: list[Run] = []
    notes: list[str] = []
    try:
        with sandbox(data) as box:
            modules = {variant.name: _load(box, variant) for variant in variants}
            for speaker_path in paths:
                chosen = _choose_class(modules[ORIGINAL], class_names, speaker_path)
                if chosen is None:
                    notes.append(f"{speaker_path}-speaker path skipped: no multi-speaker class "
                                 f"(none of {', '.join(class_names)} has a forward that takes human_num)")
                    continue
                for variant in variants:
                    recorded = _record(box, modules[variant.name], chosen, variant, speaker_path, sizes)
                    runs.append(Run(variant.name, speaker_path, recorded))
    except SandboxError as error:
        raise ExplainError(f"{path}: {error}") from error
    if not runs:
        raise ExplainError(f"{path}: nothing to run: {'; '.join(notes)}")
    return Explanation(str(path), sizes, tuple(runs), tuple(notes))
