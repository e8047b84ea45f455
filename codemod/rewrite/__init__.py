"""Rewriting target methods: the engine, site declarations and the profiles."""

from __future__ import annotations

import os

# os.path, not pathlib: every run and every start of the import hook reads this, and pathlib's import is 3 ms.
PROFILES_DIRECTORY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "profiles")
DEFAULT_PROFILE = "seed"


def profile_names() -> tuple[str, ...]:
    """Every profile's name, the default first: one module of `profiles/` each, listed without importing any.

    The command line builds its `--profile` choices from this, so `--help` and files without a target
    never load libcst.
    """
    names = [name.removesuffix(".py") for name in os.listdir(PROFILES_DIRECTORY)
             if name.endswith(".py") and not name.startswith("_")]
    return tuple(sorted(names, key=lambda name: (name != DEFAULT_PROFILE, name)))
