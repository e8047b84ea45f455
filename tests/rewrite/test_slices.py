"""libcst reads a slice of the module (`codemod.rewrite.slices`): what it keeps, when it keeps all, and that the
rewrite through the slice is the rewrite of the whole file, for every fixture file and both profiles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from codemod.decoding import decode
from codemod.guards import python_tree
from codemod.match.entry_points import ENTRY_POINTS
from codemod.match.patterns import DEFAULT_TARGETS, parse_targets
from codemod.rewrite import engine
from codemod.rewrite.profiles import get_profile, profile_names
from codemod.rewrite.slices import module_slice, put_back
from fixtures.catalog import FIXTURES, SOURCE_DIRECTORIES, WRAPPER_MULTITALK

PATTERNS = parse_targets(["Attention.forward"])

def _text(path: Path) -> str:
    return decode(path.read_bytes())[0].removeprefix("\ufeff")


# Every fixture file that is Python here (the bad-input fixtures are not: no slice is made of them).
FIXTURE_FILES = sorted(path for directory in SOURCE_DIRECTORIES for path in directory.rglob("*.py")
                       if "__pycache__" not in path.parts and python_tree(_text(path)) is not None)

# (source, the 1-based lines the slice keeps)
KEPT = {
    "the target class alone": (
        "import torch\n\ndef helper(x):\n    return x\n\nclass Attention:\n    def forward(self, x):\n"
        "        return x.view(2)\n\nclass Other:\n    pass\n",
        {6, 7, 8},
    ),
    "a base defined apart, with a decorator": (
        "import torch\n\n@register\nclass Base:\n    pass\n\nX = 1\n\nclass Attention(Base):\n    def forward(self, x):\n"
        "        return x\n",
        {3, 4, 5, 9, 10, 11},
    ),
    "inside try and inside a function": (
        "try:\n    class Attention:\n        def forward(self, x):\n            return x\nexcept ImportError:\n    pass\n"
        "Y = 2\n"
        "def make():\n    class Attention:\n        def forward(self, x):\n            return x\n    return Attention\n",
        {1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12},
    ),
}
# Nothing to leave out: libcst reads the whole file.
WHOLE = {
    "only the class": "class Attention:\n    def forward(self, x):\n        return x\n",
    "the class and its base": "class Base:\n    pass\nclass Attention(Base):\n    def forward(self, x): return x\n",
}


@pytest.mark.parametrize("name", KEPT)
def test_the_slice_keeps_the_statements_of_target_classes_and_their_bases(name: str) -> None:
    source, kept = KEPT[name]
    piece = module_slice(source, ast.parse(source), PATTERNS)
    assert piece is not None
    assert {number + 1 for number in piece.kept} == kept
    lines = source.split("\n")
    assert piece.text.split("\n") == [line if number + 1 in kept else "" for number, line in enumerate(lines)]
    assert put_back(piece, piece.text) == source


def test_simple_statements_on_one_line_are_left_out_together() -> None:
    source = "X = 1; Y = 2\nclass Attention: pass; Z = 3\nW = 4; V = 5\n"
    piece = module_slice(source, ast.parse(source), PATTERNS)
    assert piece is not None and piece.text == "\nclass Attention: pass; Z = 3\n\n"


@pytest.mark.parametrize("name", WHOLE)
def test_no_slice_where_it_would_leave_nothing_out(name: str) -> None:
    source = WHOLE[name]
    assert module_slice(source, ast.parse(source), PATTERNS) is None


def test_a_rewrite_that_changes_the_line_count_is_not_put_back() -> None:
    source = "X = 1\nclass Attention: pass\n"
    piece = module_slice(source, ast.parse(source), PATTERNS)
    assert piece is not None
    assert put_back(piece, piece.text + "\n") is None


@pytest.mark.parametrize("profile", profile_names())
@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda path: str(path.relative_to(FIXTURES)))
def test_the_rewrite_through_the_slice_is_the_rewrite_of_the_whole_file(path: Path, profile: str) -> None:
    text = _text(path)
    tree = python_tree(text)
    assert tree is not None
    targets = parse_targets(DEFAULT_TARGETS)
    chosen = get_profile(profile)
    through_slice = engine.rewrite_module_source(text, chosen, targets, ENTRY_POINTS)
    parsed, restore = engine._for_libcst(text)
    whole = engine._rewrite_module(parsed, tree, chosen, targets, ENTRY_POINTS)
    assert through_slice == ((text, ()) if whole is None else (restore(whole[0]), whole[1]))


def test_the_bundled_checkouts_target_file_is_read_in_part() -> None:
    text = _text(WRAPPER_MULTITALK)
    tree = python_tree(text)
    assert tree is not None
    piece = module_slice(text, tree, parse_targets(DEFAULT_TARGETS))
    assert piece is not None and 0 < len(piece.kept) < text.count("\n")
