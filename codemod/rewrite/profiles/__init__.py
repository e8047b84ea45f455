"""The profiles, one module each, found by discovery: module `<name>.py` here defines `PROFILE`, named `<name>`."""

from __future__ import annotations

import importlib
from functools import cache

from codemod.rewrite import profile_names
from codemod.rewrite.engine import Profile


def all_profiles() -> dict[str, Profile]:
    return {name: get_profile(name) for name in profile_names()}


@cache
def get_profile(name: str) -> Profile:
    """The profile `name`, importing its module alone (a run with one profile does not build the others)."""
    if name not in profile_names():
        raise KeyError(f"unknown profile {name!r}; known: {', '.join(profile_names())}")
    profile = getattr(importlib.import_module(f"{__name__}.{name}"), "PROFILE", None)
    if not isinstance(profile, Profile) or profile.name != name:
        raise TypeError(f"{__name__}.{name} must define PROFILE, a Profile named {name!r}")
    return profile
