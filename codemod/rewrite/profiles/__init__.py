"""The profiles, one module each, found by discovery: module `<name>.py` here defines `PROFILE`, named `<name>`."""

from __future__ import annotations

import importlib
from functools import cache

from codemod.rewrite import profile_names
from codemod.rewrite.engine import Profile


@cache
def all_profiles() -> dict[str, Profile]:
    found: dict[str, Profile] = {}
    for name in profile_names():
        profile = getattr(importlib.import_module(f"{__name__}.{name}"), "PROFILE", None)
        if not isinstance(profile, Profile) or profile.name != name:
            raise TypeError(f"{__name__}.{name} must define PROFILE, a Profile named {name!r}")
        found[name] = profile
    return found


def get_profile(name: str) -> Profile:
    profiles = all_profiles()
    if name not in profiles:
        raise KeyError(f"unknown profile {name!r}; known: {', '.join(profiles)}")
    return profiles[name]
