"""The fixture checkout's drift variants, original and rewritten, imported side by side through `codemod.model.load`.

Each case (`fixtures/cases/<name>.in.py`) is loaded as `multitalk/multitalk.py` of the fixture checkout,
without copying it: its relative imports (`from ..wanvideo.modules.attention import attention`)
resolve to the checkout's own modules, imported anew for every copy.
"""

from __future__ import annotations

import functools
import importlib
import types
from dataclasses import dataclass
from pathlib import Path

from codemod.model.load import Loaded, load
from codemod.model.sites import SourcePosition
from codemod.model.variants import ORIGINAL, Variant, make_variants
from codemod.rewrite.profiles import all_profiles
from tests.fixture_cases import WRAPPER
from tests.fixture_cases import cases as all_cases
from tests.runtime.harness.backends import register_backends

REPO_ROOT = Path(__file__).resolve().parents[3]
FIXTURES = REPO_ROOT / "fixtures"
CHECKOUT = WRAPPER
CASES = FIXTURES / "cases"
MULTITALK = Path("multitalk") / "multitalk.py"
ATTENTION_MODULE = "wanvideo.modules.attention"


@dataclass(frozen=True)
class Case:
    """A drift variant of `multitalk.py` (`fixtures/cases/<name>.in.py`), as stored."""

    name: str
    source: str


def read_source(path: Path) -> str:
    """The file's text exactly as stored: CRLF kept (`newline=""`), a BOM kept as the first character."""
    with path.open(encoding="utf-8", newline="") as handle:
        return handle.read()


def variants(cases: Path = CASES) -> list[Case]:
    """Every drop-in case under `cases` (one `cases.toml` does not place elsewhere), sorted by name."""
    return [Case(case.name, read_source(case.source)) for case in all_cases(cases) if case.drop_in]


@functools.cache
def case_variants(source: str) -> dict[str, Variant]:
    """The case as it is and rewritten by every profile, through the same path as `contiguify fix`, with site names."""
    made = make_variants(str(MULTITALK), source.encode("utf-8"), list(all_profiles()))
    return {variant.name: variant for variant in made.variants}


def rewrite(source: str, profile: str) -> str:
    """`source` rewritten by `profile` (BOM and line endings kept)."""
    return case_variants(source)[profile].data.decode("utf-8")


@dataclass(frozen=True)
class Checkout:
    """One imported copy: the variant's `multitalk` module and the checkout's `attention` module it imports."""

    loaded: Loaded
    variant: Variant
    multitalk: types.ModuleType
    attention: types.ModuleType

    @property
    def site_positions(self) -> dict[SourcePosition, str]:
        return dict(self.variant.sites)

    @property
    def multitalk_path(self) -> Path:
        """The file the module runs from: the variant's bytes, exactly."""
        return self.loaded[self.variant.name].file

    @property
    def package(self) -> str:
        assert self.multitalk.__package__ is not None
        return self.multitalk.__package__.partition(".")[0]

    def unload(self) -> None:
        """Forget the copy's modules, so a long test session does not keep every copy imported."""
        self.loaded.close()


def load_case(case: Case, copy: str | None) -> Checkout:
    """`case` as it is (`copy` None) or rewritten by profile `copy`, imported inside the fixture checkout.

    The copy's `ATTENTION_BACKENDS` gets the harness's extra attention modes (see `backends`).
    """
    variant = case_variants(case.source)[copy or ORIGINAL]
    loaded = load(CHECKOUT / MULTITALK, [variant])
    multitalk = loaded[variant.name].module
    assert multitalk.__package__ is not None
    attention = importlib.import_module(f"{multitalk.__package__.rpartition('.')[0]}.{ATTENTION_MODULE}")
    register_backends(attention)
    return Checkout(loaded, variant, multitalk, attention)


class Checkouts:
    """Copies of every variant, original and rewritten by each profile, imported on first use."""

    def __init__(self, cases: Path = CASES) -> None:
        self.variants = {case.name: case for case in variants(cases)}
        self._loaded: dict[tuple[str, str | None], Checkout] = {}

    def get(self, variant: str, profile: str | None) -> Checkout:
        """`profile` None is the variant as it is."""
        key = (variant, profile)
        if key not in self._loaded:
            self._loaded[key] = load_case(self.variants[variant], profile)
        return self._loaded[key]

    def unload(self) -> None:
        """Forget every copy's modules."""
        for checkout in self._loaded.values():
            checkout.unload()
        self._loaded.clear()

