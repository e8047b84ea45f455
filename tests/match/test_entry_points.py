"""The entry-point table, checked from its own examples."""

from __future__ import annotations

import ast

import pytest

from codemod.match.contiguous import is_contiguous_ast
from codemod.match.entry_points import ENTRY_POINTS, LAYOUTS, EntryPoint, dotted_name_ast, find_entry_point


def _outermost_entry_call(example: str) -> ast.Call:
    """The call in `example` that is an entry point (ComfyUI's example ends in a `.transpose` of it)."""
    value = ast.parse(example).body[0]
    assert isinstance(value, ast.Assign)
    calls = [node for node in ast.walk(value.value) if isinstance(node, ast.Call)]
    found = [call for call in calls if not isinstance(call.func, ast.Attribute) or call.func.attr != "transpose"]
    return found[0]


def test_labels_are_unique() -> None:
    labels = [entry.label for entry in ENTRY_POINTS]
    assert len(labels) == len(set(labels))


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=lambda entry: entry.label)
def test_example_is_found_as_its_own_entry(entry: EntryPoint) -> None:
    call = _outermost_entry_call(entry.example)
    dotted = dotted_name_ast(call.func)
    assert dotted is not None, ast.dump(call.func)
    assert find_entry_point(dotted) is entry


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=lambda entry: entry.label)
def test_layouts_are_known(entry: EntryPoint) -> None:
    assert entry.layout in LAYOUTS
    assert all(layout in LAYOUTS for _, _, layout in entry.layout_if)


@pytest.mark.parametrize("name", ["self.attention", "self.attn", "x.apply", "self.FusedSDPA.apply", "my_attention"])
def test_lookalikes_are_not_entry_points(name: str) -> None:
    assert find_entry_point(name) is None


def test_layout_follows_literal_keywords() -> None:
    comfy = find_entry_point("optimized_attention")
    assert comfy is not None
    assert comfy.layout_for({"skip_reshape": True}) == "B H L D"
    assert comfy.layout_for({"skip_reshape": False}) == "B L (H D)"
    assert comfy.layout_for({}) == "B L (H D)"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("x.contiguous()", True),
        ("x.view(1).contiguous(memory_format=torch.contiguous_format)", True),
        ("x.view(1)", False),
        ("contiguous(x)", False),
        ("x.contiguous", False),
    ],
)
def test_contiguous_call(source: str, expected: bool) -> None:
    import libcst as cst

    assert is_contiguous_ast(ast.parse(source, mode="eval").body) is expected
    from codemod.match.contiguous import is_contiguous_cst

    assert is_contiguous_cst(cst.parse_expression(source)) is expected
