"""`[tool.contiguify]` in the nearest pyproject.toml: targets, profile, strict and excludes for a checkout."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

KNOWN_KEYS = {"targets": list, "profile": str, "strict": bool, "exclude": list, "max-file-size": int}


class ConfigError(ValueError):
    """pyproject.toml could not be read, or its [tool.contiguify] table is malformed."""


def find_pyproject(start: Path) -> Path | None:
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_config(start: Path) -> Mapping[str, Any]:
    """The `[tool.contiguify]` table that applies in `start`, checked; empty when there is none."""
    path = find_pyproject(start.resolve())
    if path is None:
        return {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{path}: {error}") from error
    table = document.get("tool", {}).get("contiguify", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.contiguify] must be a table")
    for key, value in table.items():
        expected = KNOWN_KEYS.get(key)
        if expected is None:
            raise ConfigError(f"{path}: unknown key tool.contiguify.{key} (known: {', '.join(KNOWN_KEYS)})")
        if isinstance(value, list) and expected is list:
            if all(isinstance(item, str) for item in value):
                continue
        elif isinstance(value, expected):
            continue
        kind = "list of strings" if expected is list else expected.__name__
        raise ConfigError(f"{path}: tool.contiguify.{key} must be a {kind}")
    return table
