"""Fixture cases `<case>.in.py` and their expected rewrites, stored as `check` diffs `<case>.<profile>.diff`.

Every case is tried with every discovered profile. The expected output is the stored diff applied to the
input (by `apply_diff` below, not by the tool). To regenerate the diffs after an intended change:

    CONTIGUIFY_UPDATE_EXPECTED=1 python -m pytest tests/rewrite

then review them (`git diff fixtures/cases`) before committing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from codemod.match.entry_points import ENTRY_POINTS, EntryPoint
from codemod.report.diff import file_diff
from codemod.rewrite.file import rewrite
from codemod.rewrite.profiles import all_profiles, get_profile
from fixtures.catalog import CASES, CHECKOUTS, CORPUS, WRAPPER_MULTITALK, Case, cases

UPDATE = os.environ.get("CONTIGUIFY_UPDATE_EXPECTED") == "1"

INPUTS = [case.source for case in cases()]
PROFILES = sorted(all_profiles())
# Each case is rewritten with the entry points of the checkout it lives in, as `contiguify fix` would there.
TABLES = {case.source: case.entry_points for case in cases()}
PAIRS = [pytest.param(source, profile, id=f"{source.name.removesuffix('.in.py')}-{profile}")
         for source in INPUTS for profile in PROFILES]
HUNK = re.compile(rb"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
NO_NEWLINE = b"\\ No newline at end of file"


def expected_diff(source: Path, profile: str) -> Path:
    return source.with_name(source.name.replace(".in.py", f".{profile}.diff"))


def tool_result(data: bytes, profile: str, label: str = "case.py",
                table: Sequence[EntryPoint] = ENTRY_POINTS) -> tuple[bytes, bytes]:
    """(new bytes, the `check` diff) of the tool's rewrite with the entry points of `table`."""
    result = rewrite(data, profile, path=label, entry_points=table)
    assert result.error is None, result.error
    assert result.new is not None
    return result.new, file_diff(result)


def _lines(data: bytes) -> list[bytes]:
    """Lines with their endings, split as `check` splits them before diffing (the cases are UTF-8)."""
    return [line.encode("utf-8") for line in data.decode("utf-8").splitlines(keepends=True)]


def apply_diff(old: bytes, patch: bytes) -> bytes:
    """`patch` (one file, unified format as `check` writes it) applied to `old`; fails on any mismatch."""
    source = _lines(old)
    patch_lines = patch.splitlines(keepends=True)
    output: list[bytes] = []
    position = 0
    index = next((number for number, line in enumerate(patch_lines) if line.startswith(b"@@")), len(patch_lines))
    while index < len(patch_lines):
        header = HUNK.match(patch_lines[index])
        assert header is not None, patch_lines[index]
        start = int(header[1]) - (0 if header[2] == b"0" else 1)
        output.extend(source[position:start])
        position = start
        index += 1
        while index < len(patch_lines) and not patch_lines[index].startswith(b"@@"):
            line = patch_lines[index]
            text = line[1:]
            following = patch_lines[index + 1] if index + 1 < len(patch_lines) else b""
            if following.rstrip(b"\r\n") == NO_NEWLINE:
                text = text.removesuffix(b"\n")
                index += 1
            if line.startswith((b" ", b"-")):
                assert source[position] == text, (position, source[position], text)
                position += 1
            if line.startswith((b" ", b"+")):
                output.append(text)
            index += 1
    output.extend(source[position:])
    return b"".join(output)


def _hunks(patch: bytes) -> bytes:
    """A diff less its header lines, which name the file by where the run stands."""
    return patch[patch.find(b"\n@@") + 1:] if patch else b""


def expected_output(source: Path, profile: str) -> bytes:
    return apply_diff(source.read_bytes(), expected_diff(source, profile).read_bytes())


@pytest.mark.parametrize(("source", "profile"), PAIRS)
def test_case_rewrites_to_expected_output(source: Path, profile: str) -> None:
    new, patch = tool_result(source.read_bytes(), profile, source.name, TABLES[source])
    if UPDATE:
        expected_diff(source, profile).write_bytes(patch)
    assert _hunks(patch) == _hunks(expected_diff(source, profile).read_bytes())
    assert new == expected_output(source, profile)


@pytest.mark.parametrize(("source", "profile"), PAIRS)
def test_rewrite_of_expected_output_is_a_no_op(source: Path, profile: str) -> None:
    data = expected_output(source, profile)
    assert tool_result(data, profile, table=TABLES[source]) == (data, b"")


@pytest.mark.parametrize(("source", "profile"), PAIRS)
def test_outputs_differ_from_inputs_by_insertions_only(source: Path, profile: str) -> None:
    expected = expected_output(source, profile)
    assert expected.replace(b".contiguous()", b"") == source.read_bytes().replace(b".contiguous()", b"")


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("source", sorted(CORPUS.glob("*.py")), ids=lambda path: path.stem)
def test_ordinary_python_round_trips_unchanged(source: Path, profile: str) -> None:
    data = source.read_bytes()
    assert tool_result(data, profile) == (data, b"")


def test_bundled_checkout_carries_the_jan2026_case() -> None:
    assert WRAPPER_MULTITALK.read_bytes() == (CASES / "jan2026.in.py").read_bytes()


def test_jan2026_rewrite_equals_the_spec_applied_by_hand() -> None:
    """`hand_fixed` was written from the spec, not by the tool; it differs only by one doubled call."""
    rewritten, _ = tool_result((CASES / "jan2026.in.py").read_bytes(), "seed")
    by_hand = (CASES / "hand_fixed.in.py").read_bytes()
    assert rewritten == by_hand.replace(b".contiguous().contiguous()", b".contiguous()")
    assert rewritten.count(b".contiguous()") == len(get_profile("seed").sites())


BUNDLED = [case for case in cases() if case.bundled]


@pytest.mark.parametrize("case", BUNDLED, ids=lambda case: case.name)
def test_checkout_carries_its_bundled_case(case: Case) -> None:
    assert case.checkout_root is not None
    assert (case.checkout_root / case.path).read_bytes() == case.source.read_bytes()


def test_every_checkout_bundles_one_listed_case() -> None:
    """Each checkout holds one listed case; the ComfyUI tree's custom node holds jan2026 besides (a drop-in)."""
    assert sorted(str(case.checkout) for case in BUNDLED) == sorted(CHECKOUTS)
    assert WRAPPER_MULTITALK.read_bytes() == (CASES / "jan2026.in.py").read_bytes()


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"a\nb\nc", b"a\nB\nc"),
        (b"a\r\nb\r\n", b"a\r\nb.contiguous()\r\n"),
        (b"\xef\xbb\xbfa\nb", b"\xef\xbb\xbfa.contiguous()\nb"),
        (b"".join(b"%d\n" % n for n in range(40)), b"".join(b"%d.x\n" % n if n in (3, 30) else b"%d\n" % n for n in range(40))),
    ],
    ids=["no-final-newline", "crlf", "bom", "two-hunks"],
)
def test_apply_diff_inverts_the_check_diff(old: bytes, new: bytes) -> None:
    """The applier the expectations rely on, against `check`'s own diffs."""
    from codemod.results import FileResult

    assert apply_diff(old, file_diff(FileResult("f.py", old=old, new=new))) == new


# Last, so that a regenerating run has written the diffs it checks for.
def test_every_case_has_an_expected_diff_per_profile() -> None:
    assert INPUTS, "no fixture cases found"
    stored = sorted(CASES.glob("*.diff"))
    assert stored == sorted(expected_diff(source, profile) for source in INPUTS for profile in PROFILES)
    assert not list(CASES.glob("*.out.py")), "expected outputs are stored as diffs"
