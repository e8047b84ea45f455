"""The variants of a file that runs compare: the file as it is and each profile's rewrite of it.

Each variant carries the site of every `.contiguous()` call it holds, so a recording can name the
calls it sees. Rewrites go through `codemod.rewrite.file.rewrite`, as every run's do. Free of torch.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from codemod.match.entry_points import ENTRY_POINTS, EntryPoint
from codemod.match.patterns import DEFAULT_TARGETS
from codemod.decoding import text_of
from codemod.model.positions import SourcePosition, site_positions
from codemod.results import FileResult, SiteStatus, TargetResult
from codemod.rewrite import DEFAULT_PROFILE
from codemod.rewrite.file import rewrite

ORIGINAL = "original"


class VariantError(Exception):
    """A file that cannot be rewritten, or holds no target class; the message names the file and the reason."""


@dataclass(frozen=True)
class Variant:
    """`name`: "original" or a profile; `data`: the module's bytes; `sites`: position of each `.contiguous()` -> site id."""

    name: str
    data: bytes
    sites: Mapping[SourcePosition, str] = field(default_factory=dict, compare=False)

    def __reduce__(self) -> tuple[Callable[..., Variant], tuple[str, bytes, dict[SourcePosition, str]]]:
        """Pickled with its sites as a dict (a read-only mapping proxy does not pickle)."""
        return _restored, (self.name, self.data, dict(self.sites))


def _restored(name: str, data: bytes, sites: dict[SourcePosition, str]) -> Variant:
    return Variant(name, data, types.MappingProxyType(sites))


@dataclass(frozen=True)
class Variants:
    """The original and each profile's rewrite, and the target classes the rewrites found (in file order)."""

    variants: tuple[Variant, ...]
    class_names: tuple[str, ...]

    def __getitem__(self, name: str) -> Variant:
        return next(variant for variant in self.variants if variant.name == name)


def _with_targets(path: str, data: bytes, profile: str, targets: Sequence[str] = DEFAULT_TARGETS,
                  entry_points: Sequence[EntryPoint] = ENTRY_POINTS) -> FileResult:
    """`rewrite(data, ...)` that holds target classes; an error, or a file without them, is a `VariantError`."""
    result = rewrite(data, profile, targets, path=path, entry_points=entry_points)
    if result.error is not None:
        raise VariantError(f"{path}: {result.error}")
    if not result.targets or result.new is None:
        raise VariantError(f"{path}: no target class in it (looked for {', '.join(targets)})")
    return result


def _positions(
    original: str, rewritten: str, profile: str, targets: Sequence[TargetResult], present_only: bool
) -> dict[SourcePosition, str]:
    from codemod.rewrite.profiles import get_profile  # libcst: only where the site order is needed

    order = {site.id: rank for rank, site in enumerate(get_profile(profile).sites())}
    statuses: tuple[SiteStatus, ...] = ("present",) if present_only else ("inserted", "present")
    return site_positions(original, rewritten, targets, order, statuses=statuses)


def make_variants(
    path: str, data: bytes, profiles: Sequence[str], targets: Sequence[str] = DEFAULT_TARGETS,
    entry_points: Sequence[EntryPoint] = ENTRY_POINTS,
) -> Variants:
    """The original (its `.contiguous()` calls named by the first profile that has them) and each rewrite.

    `path` is only for messages. With no profile the original is still checked for target classes.
    """
    # The rewrites first: they report a file that does not decode as a VariantError, where text_of would raise.
    results = {profile: _with_targets(path, data, profile, targets, entry_points) for profile in profiles or [DEFAULT_PROFILE]}
    original = text_of(data)
    original_sites: dict[SourcePosition, str] = {}
    rewritten: list[Variant] = []
    for profile, result in results.items():
        assert result.new is not None
        for position, site in _positions(original, original, profile, result.targets, True).items():
            original_sites.setdefault(position, site)
        if profile in profiles:
            sites = _positions(original, text_of(result.new), profile, result.targets, False)
            rewritten.append(Variant(profile, result.new, types.MappingProxyType(sites)))
    class_names = tuple(dict.fromkeys(t.class_name for result in results.values() for t in result.targets))
    return Variants((Variant(ORIGINAL, data, types.MappingProxyType(original_sites)), *rewritten), class_names)
