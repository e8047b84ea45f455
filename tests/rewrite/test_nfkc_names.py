"""Names as Python reads them: NFKC-normalised (PEP 3131), so `class Ｓingle...` is the class `Single...`."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

from codemod.match.patterns import DEFAULT_TARGETS, parse_targets
from codemod.prefilter import could_contain_target
from codemod.results import FileResult
from codemod.rewrite.file import rewrite
from fixtures.catalog import CASES
from tests.cli_runner import invoke

ORIGINAL = (CASES / "jan2026.in.py").read_bytes()
FIXED = rewrite(ORIGINAL, "seed").new or b""


@cache
def plain(profile: str, targets: tuple[str, ...] = DEFAULT_TARGETS) -> FileResult:
    """The rewrite of the ASCII spelling, once per profile."""
    return rewrite(ORIGINAL, profile, targets)

# (ASCII spelling, a spelling that NFKC makes the same identifier): class, method, chain root, link, attribute.
SPELLINGS = [
    pytest.param("class SingleStreamAttention", "class \uff33ingleStreamAttention", id="fullwidth-class-initial"),
    pytest.param("class SingleStreamMultiAttention", "class SingleStream\uff2dultiAttention", id="fullwidth-inside"),
    pytest.param("def forward", "def \uff46orward", id="fullwidth-method"),
    pytest.param("= self.q_linear(", "= self.\uff51_linear(", id="fullwidth-attribute"),
    pytest.param("x.view(B * N_t, S, self.dim)", "x.\uff56iew(B * N_t, S, self.dim)", id="fullwidth-link"),
    pytest.param("class SingleStreamAttention", "class SingleStre\u00aamAttention", id="ordinal-indicator"),
    pytest.param("def forward", "def \U0001d41f" "orward", id="mathematical-bold-f"),
]


def respelled(data: bytes, ascii_text: str, other: str) -> bytes:
    assert ascii_text.encode() in data
    new = data.replace(ascii_text.encode(), other.encode("utf-8"))
    # Python itself reads the same names: the syntax trees are equal.
    assert ast.dump(ast.parse(new)) == ast.dump(ast.parse(data))
    return new


# Every spelling with the seed profile; the boundary profile matches other names (linears, attention calls).
PROFILE_SPELLINGS = [
    *(pytest.param("seed", *spelling.values, id=f"seed-{spelling.id}") for spelling in SPELLINGS),
    *(pytest.param("boundary", *spelling.values, id=f"boundary-{spelling.id}")
      for spelling in SPELLINGS if spelling.id in ("fullwidth-class-initial", "fullwidth-attribute")),
]


@pytest.mark.parametrize(("profile", "ascii_text", "other"), PROFILE_SPELLINGS)
def test_equivalent_spellings_are_the_same_names(profile: str, ascii_text: str, other: str) -> None:
    source = respelled(ORIGINAL, ascii_text, other)
    assert could_contain_target(source, parse_targets(DEFAULT_TARGETS))
    result, expected = rewrite(source, profile), plain(profile)
    assert result.error is None and expected.new is not None
    assert result.new == respelled(expected.new, ascii_text, other)
    assert [(t.class_name, t.method, [s.status for s in t.sites]) for t in result.targets] == [
        (t.class_name, t.method, [s.status for s in t.sites]) for t in expected.targets
    ]


def test_an_equivalent_contiguous_call_is_present() -> None:
    source = respelled(FIXED, ".contiguous()", ".\uff43ontiguous()")
    result = rewrite(source, "seed")
    assert result.new == source
    assert {site.status for target in result.targets for site in target.sites} == {"present"}


def test_a_latin_1_file_with_an_equivalent_class_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The byte prefilter sees `SingleStre\\xaamAttention` in latin-1: not the ASCII name, still the class."""
    cookie = b"# -*- coding: latin-1 -*-\n"
    source = cookie + ORIGINAL.replace(b"class SingleStreamAttention", b"class SingleStre\xaamAttention")
    (tmp_path / "m.py").write_bytes(source)
    monkeypatch.chdir(tmp_path)
    code, _, err = invoke("fix", "--no-cache", "m.py")
    assert code == 1, err
    fixed = (tmp_path / "m.py").read_bytes()
    assert fixed == cookie + FIXED.replace(b"class SingleStreamAttention", b"class SingleStre\xaamAttention")


def test_other_non_ascii_names_are_parsed_and_left_alone() -> None:
    source = "class Caf\u00e9:\n    def forward(self, x):\n        return x.view(1)\n".encode()
    assert could_contain_target(source, parse_targets(DEFAULT_TARGETS))
    result = rewrite(source, "seed")
    assert (result.error, result.new, result.targets) == (None, source, ())


def test_a_method_pattern_finds_an_equivalent_method_name() -> None:
    """`*.forward` has no class name to look for: the method's own spelling must not hide it."""
    source = respelled(ORIGINAL, "def forward", "def \uff46orward")
    targets = ["*Attention.forward", "*.forward"]
    for target in targets:
        assert could_contain_target(source, parse_targets([target]))
    result = rewrite(source, "seed", ["*.forward"])
    assert [target.method for target in result.targets] == ["forward"] * len(plain("seed", ("*.forward",)).targets)
    assert result.changed
