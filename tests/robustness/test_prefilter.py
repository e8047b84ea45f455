"""The byte prefilter never turns away a file that holds a target, and turns away files that only
use a target class; the progress line shows only on a terminal."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codemod.match.patterns import DEFAULT_TARGETS, TargetPattern, parse_targets
from codemod.run import progress
from codemod.prefilter import could_contain_target

DEFAULTS = parse_targets(DEFAULT_TARGETS)


@pytest.mark.parametrize("source", [
    b"class SingleStreamAttention(nn.Module):\n    def forward(self, x): ...\n",
    b"class  SingleStreamMultiAttention :\n    pass\n",
    b"class\tSingleStreamMutiAttention(Base, metaclass=M):\n    pass\n",
    b"class \\\n    SingleStreamAttention:\n    pass\n",
    b"if True:\n    class SingleStreamAttention: pass\n",
    b"x = 1; class SingleStreamAttention: pass\n",
    b"\xef\xbb\xbfclass SingleStreamAttention:\r\n    pass\r\n",
])
def test_files_defining_a_target_class_are_parsed(source: bytes) -> None:
    assert could_contain_target(source, DEFAULTS)


@pytest.mark.parametrize("source", [
    b"from ..multitalk.multitalk import SingleStreamAttention, SingleStreamMultiAttention\n",
    b"self.audio_cross_attn = SingleStreamMultiAttention(dim=dim)\n",
    b"class SingleStreamAttentionV2:\n    pass\n",
    b"class MySingleStreamAttention:\n    pass\n",
    b"# class SingleStream is gone; see SingleStreamAttention in multitalk.py\nclass Other: pass\n",
    b"import torch\n",
])
def test_files_that_only_use_a_target_class_are_not_parsed(source: bytes) -> None:
    assert not could_contain_target(source, DEFAULTS)


def test_non_ascii_names_are_found_in_any_source_encoding() -> None:
    pattern = parse_targets(["Aufmerksamkeit\u00e4.forward"])
    assert could_contain_target("class Aufmerksamkeit\u00e4:\n    pass\n".encode("utf-8"), pattern)
    assert could_contain_target(b"# coding: latin-1\nclass Aufmerksamkeit\xe4:\n    pass\n", pattern)
    pattern = parse_targets(["*.vorw\u00e4rts"])
    assert could_contain_target(b"# coding: latin-1\nclass A:\n    def vorw\xe4rts(self): pass\n", pattern)


IDENTIFIER = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
GAP = st.sampled_from([" ", "  ", "\t", " \\\n ", "\\\n"])


@st.composite
def pattern_for(draw: st.DrawFn, name: str) -> str:
    """A shell pattern that matches `name`: some of its characters replaced by wildcards."""
    pieces = []
    for char in name:
        pieces.append(draw(st.sampled_from([char, char, char, "?", "*", f"[{char}]"])))
    return "".join(pieces)


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(data=st.data(), class_name=IDENTIFIER, method=IDENTIFIER, gap=GAP)
def test_the_prefilter_accepts_every_class_a_pattern_matches(data: st.DataObject, class_name: str, method: str,
                                                              gap: str) -> None:
    target = TargetPattern(data.draw(pattern_for(class_name)), data.draw(pattern_for(method)))
    assert target.matches(class_name, method)
    source = f"import torch\n\nclass{gap}{class_name}(Base):\n    def {method}(self, x):\n        return x\n"
    assert could_contain_target(source.encode(), (target,))


def test_progress_shows_on_a_terminal_after_a_while_and_is_erased(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "DELAY_S", 0.0)
    monkeypatch.setattr(progress, "INTERVAL_S", 0.0)
    stream = io.StringIO()
    line = progress.Progress(stream)
    line.update("reading", 10)
    line.update("parsing", 3, 40)
    assert stream.getvalue().endswith("\r\x1b[Kcontiguify: parsing 3/40 files")
    line.finish()
    assert stream.getvalue().endswith("\r\x1b[K")


def test_progress_is_silent_off_a_terminal_and_for_short_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    line = progress.Progress.for_terminal()
    line.update("reading", 10)
    line.finish()
    quick = progress.Progress(stream)
    quick.update("reading", 10)  # within DELAY_S of the start
    quick.finish()
    assert stream.getvalue() == ""
