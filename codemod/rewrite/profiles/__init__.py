"""The profiles, one module each, found by discovery: a module here that defines `PROFILE` is one."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from codemod.rewrite.engine import Profile


@cache
def all_profiles() -> dict[str, Profile]:
    found: dict[str, Profile] = {}
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        profile = getattr(module, "PROFILE", None)
        if isinstance(profile, Profile):
            found[profile.name] = profile
    return dict(sorted(found.items(), key=lambda item: (item[0] != "seed", item[0])))


def get_profile(name: str) -> Profile:
    profiles = all_profiles()
    if name not in profiles:
        raise KeyError(f"unknown profile {name!r}; known: {', '.join(profiles)}")
    return profiles[name]
