"""Rewriting target files as they are imported, so that a checkout runs fixed while its files stay upstream's."""

from __future__ import annotations

from codemod.hook.finder import Hook, install, installed, uninstall

__all__ = ["Hook", "install", "installed", "uninstall"]
