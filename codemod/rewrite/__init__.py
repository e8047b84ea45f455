"""Rewriting target methods: the engine, site declarations and the profiles."""

from __future__ import annotations

import pkgutil
from pathlib import Path

PROFILES_DIRECTORY = Path(__file__).with_name("profiles")
DEFAULT_PROFILE = "seed"


def profile_names() -> tuple[str, ...]:
    """Every profile's name, the default first: one module of `profiles/` each, listed without importing any.

    The command line builds its `--profile` choices from this, so `--help` and files without a target
    never load libcst.
    """
    names = [module.name for module in pkgutil.iter_modules([str(PROFILES_DIRECTORY)]) if not module.name.startswith("_")]
    return tuple(sorted(names, key=lambda name: (name != DEFAULT_PROFILE, name)))
