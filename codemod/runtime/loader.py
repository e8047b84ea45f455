"""Copies of a fixture checkout, original or rewritten, imported side by side as packages.

Each copy lives in its own directory under a unique package name, so several versions of
`multitalk.py` can be imported in one process and their relative imports
(`from ..wanvideo.modules.attention import attention`) resolve inside the copy.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import itertools
import re
import shutil
import sys
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from codemod.explain.sites import site_positions
from codemod.match.patterns import DEFAULT_TARGETS, parse_targets
from codemod.results import SiteStatus, TargetResult
from codemod.rewrite.engine import Profile
from codemod.rewrite.profiles import all_profiles
from codemod.run.process import BOM, Job, rewrite_bytes
from codemod.runtime.backends import register_backends
from tests.fixture_cases import cases as all_cases
from codemod.runtime.record import SourcePosition

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "fixtures"
CHECKOUT = FIXTURES / "wanvideowrapper"
CASES = FIXTURES / "cases"
MULTITALK = Path("multitalk") / "multitalk.py"

_copy_numbers = itertools.count()


@dataclass(frozen=True)
class Variant:
    """A drift variant of `multitalk.py` (`fixtures/cases/<name>.in.py`)."""

    name: str
    source: str


def read_source(path: Path) -> str:
    """The file's text exactly as stored: CRLF kept (`newline=""`), a BOM kept as the first character."""
    with path.open(encoding="utf-8", newline="") as handle:
        return handle.read()


def variants(cases: Path = CASES) -> list[Variant]:
    """Every drop-in case under `cases` (one `cases.toml` does not place elsewhere), sorted by name."""
    return [Variant(case.name, read_source(case.source)) for case in all_cases(cases) if case.drop_in]


@functools.cache
def rewrite(source: str, profile: Profile) -> tuple[str, tuple[TargetResult, ...]]:
    """`source` rewritten by `profile` with the default targets, through the same path as `contiguify fix`.

    Cached: loading the original labels its present sites with the same rewrite that loading each copy needs.
    """
    job = Job(str(MULTITALK), source.encode("utf-8"), profile.name, parse_targets(DEFAULT_TARGETS))
    result = rewrite_bytes(job)
    if result.error is not None or result.new is None:
        raise ValueError(f"cannot rewrite {MULTITALK} with {profile.name}: {result.error}")
    return result.new.decode("utf-8"), result.targets


def site_positions_of(
    original: str, rewritten: str, profile: Profile, results: Iterable[TargetResult]
) -> dict[SourcePosition, str]:
    """Where each `.contiguous()` of `rewritten` that is a site of `profile` sits -> the site's id.

    `original == rewritten` places only the sites found already present (a hand-fixed file).
    """
    order = {info.id: rank for rank, info in enumerate(profile.sites())}
    statuses: tuple[SiteStatus, ...] = ("present",) if original == rewritten else ("inserted", "present")
    return site_positions(original.removeprefix(BOM), rewritten.removeprefix(BOM), results, order, statuses)


@dataclass(frozen=True)
class Checkout:
    """One imported copy of the fixture checkout."""

    package: str
    root: Path
    multitalk: types.ModuleType
    attention: types.ModuleType
    site_positions: Mapping[SourcePosition, str]

    @property
    def multitalk_path(self) -> Path:
        return self.root / MULTITALK

    def unload(self) -> None:
        """Forget the copy's modules, so a long test session does not keep every copy imported."""
        for name in [name for name in sys.modules if name == self.package or name.startswith(self.package + ".")]:
            del sys.modules[name]


def _package_name(label: str) -> str:
    return f"_contiguify_{re.sub(r'[^0-9A-Za-z_]', '_', label)}_{next(_copy_numbers)}"


def load_checkout(
    workdir: Path,
    source: str,
    label: str,
    site_positions: Mapping[SourcePosition, str] = types.MappingProxyType({}),
) -> Checkout:
    """Copy the fixture checkout into `workdir`, put `source` in as `multitalk/multitalk.py` (byte for byte), import it.

    The copy's `ATTENTION_BACKENDS` gets the harness's extra attention modes (see `backends`).
    `site_positions` is kept with the copy for recording (`record.recording(..., site_positions=...)`).
    """
    package = _package_name(label)
    root = workdir / package
    shutil.copytree(CHECKOUT, root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (root / MULTITALK).write_bytes(source.encode("utf-8"))
    importlib.invalidate_caches()
    spec = importlib.util.spec_from_file_location(package, root / "__init__.py", submodule_search_locations=[str(root)])
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import the checkout copy at {root}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[package] = module
    try:
        spec.loader.exec_module(module)
        attention = importlib.import_module(f"{package}.wanvideo.modules.attention")
        multitalk = importlib.import_module(f"{package}.multitalk.multitalk")
    except BaseException:
        Checkout(package, root, module, module, site_positions).unload()
        raise
    register_backends(attention)
    return Checkout(package, root, multitalk, attention, site_positions)


def load_original(workdir: Path, variant: Variant) -> Checkout:
    """The variant as it is; `.contiguous()` calls already in it are labelled with the first profile that has them."""
    positions: dict[SourcePosition, str] = {}
    for profile in all_profiles().values() if ".contiguous(" in variant.source else ():
        _, results = rewrite(variant.source, profile)
        for position, site in site_positions_of(variant.source, variant.source, profile, results).items():
            positions.setdefault(position, site)
    return load_checkout(workdir, variant.source, f"{variant.name}_original", positions)


def load_rewritten(workdir: Path, variant: Variant, profile: Profile) -> Checkout:
    """The variant rewritten by `profile`, its inserted and present sites labelled."""
    source, results = rewrite(variant.source, profile)
    positions = site_positions_of(variant.source, source, profile, results)
    return load_checkout(workdir, source, f"{variant.name}_{profile.name}", positions)


class Checkouts:
    """Copies of every variant, original and rewritten by each profile, imported on first use."""

    def __init__(self, workdir: Path, cases: Path = CASES) -> None:
        self.workdir = workdir
        self.variants = {variant.name: variant for variant in variants(cases)}
        self._loaded: dict[tuple[str, str | None], Checkout] = {}

    def get(self, variant: str, profile: str | None) -> Checkout:
        """`profile` None is the variant as it is."""
        key = (variant, profile)
        if key not in self._loaded:
            if profile is None:
                self._loaded[key] = load_original(self.workdir, self.variants[variant])
            else:
                self._loaded[key] = load_rewritten(self.workdir, self.variants[variant], all_profiles()[profile])
        return self._loaded[key]

    def unload(self) -> None:
        """Forget every copy's modules (the files stay in `workdir`)."""
        for checkout in self._loaded.values():
            checkout.unload()
        self._loaded.clear()
