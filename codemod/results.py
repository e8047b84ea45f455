"""What a run found, as plain values: per site, per target method, per file.

Named tuples, not frozen dataclasses: every start of the import hook and every cached run defines them, and a
frozen dataclass costs some 0.4 ms to define, a named tuple 0.07 ms.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

SiteStatus = Literal["inserted", "present", "missing"]


class SiteResult(NamedTuple):
    """One site of a target: where it is and whether `.contiguous()` was (or would be) inserted there.

    `reason`: why a `missing` site could not be rewritten, when the profile can tell.
    """

    id: str
    line: int | None
    status: SiteStatus
    reason: str | None = None


class TargetResult(NamedTuple):
    """One target method and its sites; a site that occurs twice is listed twice."""

    class_name: str
    method: str
    line: int
    role: str
    sites: tuple[SiteResult, ...]

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(site.id for site in self.sites if site.status == "missing")

    @property
    def missing_described(self) -> tuple[str, ...]:
        """The missing sites grouped by reason, in order: `a, b (why)`; sites without a reason alone."""
        groups: dict[str | None, list[str]] = {}
        for site in self.sites:
            if site.status == "missing":
                groups.setdefault(site.reason, []).append(site.id)
        return tuple(
            ", ".join(dict.fromkeys(ids)) + (f" ({reason})" if reason else "") for reason, ids in groups.items()
        )

    @property
    def inserted(self) -> int:
        return sum(site.status == "inserted" for site in self.sites)


class FileResult(NamedTuple):
    """One file: its old and new bytes when it was read, or the reason it could not be handled."""

    path: str
    error: str | None = None
    targets: tuple[TargetResult, ...] = ()
    old: bytes | None = None
    new: bytes | None = None

    @property
    def changed(self) -> bool:
        return self.error is None and self.new is not None and self.new != self.old

    @property
    def missing_sites(self) -> bool:
        return any(target.missing for target in self.targets)
