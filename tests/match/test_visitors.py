"""`NoFieldHooks` turns off libcst's `visit_<Node>_<field>` hooks: every visitor of the tool has it and defines none."""

from __future__ import annotations

import importlib
import pkgutil
import re

import libcst as cst

import codemod
from codemod.match.visitors import NoFieldHooks

FIELD_HOOK = re.compile(r"(visit|leave)_[A-Z][A-Za-z]*_[a-z_]+")


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_every_visitor_of_the_tool_has_no_field_hooks() -> None:
    for module in pkgutil.walk_packages(codemod.__path__, "codemod."):
        if module.name != "codemod.__main__":  # it runs the command line
            importlib.import_module(module.name)
    visitors = {cls for cls in _subclasses(cst.CSTVisitor) | _subclasses(cst.CSTTransformer)
                if cls.__module__.startswith("codemod.")}
    assert visitors
    for visitor in visitors:
        assert issubclass(visitor, NoFieldHooks), f"{visitor.__qualname__} walks without NoFieldHooks"
        hooks = [name for cls in visitor.__mro__ if cls.__module__.startswith("codemod.")  # libcst names them all
                 for name in vars(cls) if FIELD_HOOK.fullmatch(name)]
        assert not hooks, f"{visitor.__qualname__} defines {hooks}, which NoFieldHooks turns off"


def test_libcst_calls_the_hooks_it_turns_off() -> None:
    """What is overridden is what libcst calls on each field, so the override saves that work."""
    seen: list[str] = []

    class Counting(cst.CSTVisitor):
        def on_visit_attribute(self, node: cst.CSTNode, attribute: str) -> None:
            seen.append(attribute)

    cst.parse_module("x = a.view(2)\n").visit(Counting())
    assert "value" in seen and "func" in seen
