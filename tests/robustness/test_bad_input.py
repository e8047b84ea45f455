"""Bad input through the command line: odd encodings and line endings come out byte-exact, broken files
are reported and left alone while the run goes on, and odd paths never stop or loop a run."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from codemod.match.patterns import DEFAULT_TARGETS, parse_targets
from codemod.results import FileResult
from codemod.run.files import read_source
from codemod.run.job import Job
from codemod.run.runner import apply_changes, rewrite_jobs
from codemod.run.write import TEMP_SUFFIX
from fixtures.catalog import CASES

from tests.cli_runner import Cli

from .conftest import JAN2026_SEED, Snapshot, all_files


IN_TEXT = (CASES / "jan2026.in.py").read_bytes().decode("utf-8")
OUT_TEXT = JAN2026_SEED.decode("utf-8")
NOT_LATIN_1 = {ord(char): "é" for char in set(IN_TEXT + OUT_TEXT) if ord(char) > 255}

SMALL_TARGET = b"""class SingleStreamMultiAttention:
    def forward(self, x):
        x = x.reshape(B, N, C)
        return x
"""


def _line_endings(text: str, endings: tuple[str, ...]) -> str:
    lines = text.split("\n")
    return "".join(line + endings[index % len(endings)] for index, line in enumerate(lines[:-1])) + lines[-1]


def _tabs(text: str) -> str:
    def convert(line: str) -> str:
        stripped = line.lstrip(" ")
        spaces = len(line) - len(stripped)
        return "\t" * (spaces // 4) + " " * (spaces % 4) + stripped

    return "\n".join(convert(line) for line in text.split("\n"))


def _form_feeds(text: str, prefix: str) -> str:
    """`prefix` (ending in a form feed) at the start of every indented line and of the first line."""
    lines = text.split("\n")
    return "\n".join(prefix + line if index == 0 or line.startswith(" ") else line
                     for index, line in enumerate(lines))


def _latin_1(text: str) -> bytes:
    return ("# -*- coding: latin-1 -*-\n# café, naïve, ¿qué?\n" + text.translate(NOT_LATIN_1)).encode("latin-1")


# Each variant applies to the input and to the expected output alike: the rewrite must commute with it.
VARIANTS: dict[str, Callable[[str], bytes]] = {
    "utf8": lambda text: text.encode("utf-8"),
    "utf8-bom": lambda text: b"\xef\xbb\xbf" + text.encode("utf-8"),
    "latin1-cookie": _latin_1,
    "crlf": lambda text: text.replace("\n", "\r\n").encode("utf-8"),
    "cr": lambda text: text.replace("\n", "\r").encode("utf-8"),
    "mixed-endings": lambda text: _line_endings(text, ("\n", "\r\n", "\n", "\r")).encode("utf-8"),
    "tabs": lambda text: _tabs(text).encode("utf-8"),
    "final-newline": lambda text: (text + "\n").encode("utf-8"),
    "trailing-blanks": lambda text: "\n".join(line + " \t " for line in text.split("\n")).encode("utf-8"),
    "all-at-once": lambda text: _latin_1(_tabs(text)).replace(b"\n", b"\r\n"),
    # Old Mac line ends with a final one, and form feeds in indentation (Python counts the columns after them).
    "cr-final-newline": lambda text: (text + "\n").replace("\n", "\r").encode("utf-8"),
    "form-feed-indent": lambda text: _form_feeds(text, "\f").encode("utf-8"),
    "form-feed-within-indent": lambda text: _form_feeds(text, "  \f\f").encode("utf-8"),
    "form-feed-cr": lambda text: _form_feeds(text + "\n", "\f").replace("\n", "\r").encode("utf-8"),
}


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("variant", VARIANTS, ids=str)
def test_encodings_and_line_endings_survive_byte_exact(variant: str, work: Path, cli: Cli) -> None:
    make = VARIANTS[variant]
    target = work / "multitalk.py"
    target.write_bytes(make(IN_TEXT))
    assert cli("check", "multitalk.py").code == 1
    outcome = cli("fix", "multitalk.py")
    assert outcome.code == 1, outcome.err
    assert target.read_bytes() == make(OUT_TEXT)
    before = Snapshot.of(target)
    assert cli("fix", "multitalk.py").code == 0
    assert Snapshot.of(target) == before


BROKEN = {
    "undecodable": (SMALL_TARGET + b"# \xff\xfe not UTF-8\n", "cannot decode as utf-8 at line 5"),
    "binary": (b"class SingleStreamAttention:\n\0\x01\x02" + bytes(range(256)), "binary file"),
    "syntax-error": (SMALL_TARGET.replace(b"(self, x):", b"(self, x)"), "syntax error at line 2"),
    "python2-print": (SMALL_TARGET.replace(b"return x", b"print 'x'"), "syntax error at line 4"),
    "python2-except": (
        SMALL_TARGET + b"try:\n    pass\nexcept Exception, error:\n    pass\n", "syntax error at line 7"
    ),
    "unknown-codec": (b"# -*- coding: klingon -*-\n" + SMALL_TARGET, "cannot read the encoding declaration"),
    "not-a-text-codec": (b"# -*- coding: rot13 -*-\n" + SMALL_TARGET, "cannot decode"),
    "bytes-the-codec-respells": (  # cp932 reads 0x8790 as U+2252, which it writes as 0x81E0
        b"# -*- coding: cp932 -*-\n" + SMALL_TARGET + b"SIGN = '\x87\x90'\n", "cp932 does not give back the same bytes"
    ),
    "bom-and-latin1-cookie": (
        b"\xef\xbb\xbf# coding: latin-1\n" + SMALL_TARGET, "cannot read the encoding declaration"
    ),
    "truncated": (SMALL_TARGET[:60], "syntax error"),
}


@pytest.mark.parametrize("case", BROKEN, ids=str)
@pytest.mark.parametrize("command", ["check", "fix"])
def test_broken_files_are_reported_untouched_and_the_run_goes_on(case: str, command: str, work: Path,
                                                                 cli: Cli) -> None:
    data, reason = BROKEN[case]
    broken, good = work / "a_broken.py", work / "b_good.py"
    broken.write_bytes(data)
    good.write_bytes(SMALL_TARGET)
    before = Snapshot.of(broken)
    outcome = cli(command, ".")
    assert outcome.code == 2
    error_lines = [line for line in outcome.err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and error_lines[0].startswith(f"error: a_broken.py: {reason}"), outcome.err
    assert Snapshot.of(broken) == before
    verb = "rewrote" if command == "fix" else "would rewrite"
    assert f"{verb} b_good.py" in outcome.err
    assert (good.read_bytes() != SMALL_TARGET) == (command == "fix")
    assert all_files(work) == {"a_broken.py", "b_good.py"}


def test_missing_paths_and_empty_directories(work: Path, cli: Cli) -> None:
    (work / "empty").mkdir()
    assert cli("check", "empty").code == 0
    (work / "good.py").write_bytes(SMALL_TARGET)
    outcome = cli("fix", "missing.py", "good.py", "empty", "missing-dir")
    assert outcome.code == 2
    assert "error: missing.py: no such file or directory" in outcome.err
    assert "error: missing-dir: no such file or directory" in outcome.err
    assert "rewrote good.py" in outcome.err
    assert outcome.err.rstrip().endswith("1 file rewritten, 0 left unchanged, 2 errors")


def test_symlink_loops_are_walked_once(work: Path, cli: Cli) -> None:
    tree = work / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "b" / "m.py").write_bytes(SMALL_TARGET)
    (tree / "a" / "b" / "up").symlink_to("../..")
    (tree / "self").symlink_to(".")
    (tree / "a" / "again").symlink_to("b")
    outcome = cli("check", "tree")
    assert outcome.code == 1
    assert outcome.err.count("would rewrite") == 1
    assert "1 file would be rewritten, 0 left unchanged, 0 errors" in outcome.err


def test_a_file_reached_twice_is_handled_once(work: Path, cli: Cli) -> None:
    (work / "real.py").write_bytes(SMALL_TARGET)
    (work / "link.py").symlink_to("real.py")
    outcome = cli("fix", "real.py", "./real.py", str(work / "real.py"), "link.py", ".")
    assert outcome.code == 1
    assert outcome.err.count("rewrote") == 1
    assert (work / "link.py").is_symlink() and os.readlink(work / "link.py") == "real.py"
    assert (work / "real.py").read_bytes() != SMALL_TARGET


def test_a_symlink_is_written_through_and_stays_a_link(work: Path, cli: Cli) -> None:
    (work / "elsewhere").mkdir()
    (work / "elsewhere" / "real.py").write_bytes(SMALL_TARGET)
    (work / "src").mkdir()
    (work / "src" / "link.py").symlink_to("../elsewhere/real.py")
    assert cli("fix", ".").code == 1  # the link's target lies inside the given path (tests/cli/test_symlinks.py)
    assert (work / "src" / "link.py").is_symlink()
    assert (work / "elsewhere" / "real.py").read_bytes() != SMALL_TARGET


def test_broken_links_and_special_files(work: Path, cli: Cli) -> None:
    (work / "dir").mkdir()
    (work / "dir" / "dangling.py").symlink_to("nowhere.py")
    os.mkfifo(work / "dir" / "pipe.py")
    assert cli("check", "dir").code == 0  # inside a walked directory: not Python files, passed over
    outcome = cli("check", "dir/dangling.py", "dir/pipe.py")
    assert outcome.code == 2
    assert "error: dir/dangling.py: broken symbolic link" in outcome.err
    assert "error: dir/pipe.py: not a regular file" in outcome.err


def test_read_only_file_is_an_error_and_nothing_else_is_touched(work: Path, cli: Cli) -> None:
    locked, other = work / "locked.py", work / "other.py"
    locked.write_bytes(SMALL_TARGET)
    other.write_bytes(SMALL_TARGET)
    locked.chmod(0o444)
    before = Snapshot.of(locked)
    outcome = cli("fix", ".")
    assert outcome.code == 2
    assert "error: locked.py: file is read-only; left untouched" in outcome.err
    assert Snapshot.of(locked) == before
    assert other.read_bytes() != SMALL_TARGET
    assert all_files(work) == {"locked.py", "other.py"}


def test_permission_bits_are_kept(work: Path, cli: Cli) -> None:
    script = work / "script.py"
    script.write_bytes(SMALL_TARGET)
    script.chmod(0o751)
    assert cli("fix", "script.py").code == 1
    assert script.stat().st_mode & 0o7777 == 0o751


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only root can give files away")
def test_the_owner_is_kept(work: Path, cli: Cli) -> None:
    owned = work / "owned.py"
    owned.write_bytes(SMALL_TARGET)
    os.chown(owned, 4321, 4321)
    assert cli("fix", "owned.py").code == 1
    assert (owned.stat().st_uid, owned.stat().st_gid) == (4321, 4321)


def test_unchanged_files_keep_their_mtime(work: Path, cli: Cli) -> None:
    plain = work / "plain.py"
    plain.write_bytes(b"import torch\n")
    done = work / "done.py"
    done.write_bytes(SMALL_TARGET.replace(b"C)\n", b"C).contiguous()\n"))
    before = {path: Snapshot.of(path) for path in (plain, done)}
    assert cli("fix", ".").code == 0
    assert {path: Snapshot.of(path) for path in (plain, done)} == before


def test_a_file_changed_during_the_run_is_not_overwritten(work: Path) -> None:
    path = work / "m.py"
    path.write_bytes(SMALL_TARGET)
    source = read_source("m.py")
    assert not isinstance(source, str)
    [result] = rewrite_jobs([Job("m.py", source.data, "seed", parse_targets(DEFAULT_TARGETS))], 1)
    assert result.changed
    path.write_bytes(SMALL_TARGET + b"# edited meanwhile\n")
    [written] = apply_changes([result], {"m.py": source})
    assert written == FileResult("m.py", error="file changed while contiguify ran; left untouched",
                                 targets=result.targets)
    assert path.read_bytes() == SMALL_TARGET + b"# edited meanwhile\n"


def test_thousands_of_files_in_one_directory(work: Path, cli: Cli) -> None:
    folder = work / "many"
    folder.mkdir()
    for number in range(3000):
        (folder / f"m{number:04d}.py").write_bytes(b"x = %d\n" % number)
    for number in (7, 1500, 2999):
        (folder / f"m{number:04d}.py").write_bytes(SMALL_TARGET + b"# %d\n" % number)
    outcome = cli("fix", "many")
    assert outcome.code == 1
    assert outcome.err.rstrip().endswith("3 files rewritten, 2997 left unchanged, 0 errors")


@pytest.mark.parametrize("skipped", [".git", ".venv", "venv", "node_modules", "__pycache__", "any-env", ".tox"])
def test_repositories_and_virtualenvs_are_skipped(skipped: str, work: Path, cli: Cli) -> None:
    folder = work / "checkout" / skipped / "lib"
    folder.mkdir(parents=True)
    (folder / "m.py").write_bytes(SMALL_TARGET)
    if skipped == "any-env":
        (work / "checkout" / skipped / "pyvenv.cfg").write_text("home = /usr/bin\n")
    assert cli("fix", "checkout").code == 0
    assert (folder / "m.py").read_bytes() == SMALL_TARGET
    assert cli("fix", str(folder)).code == 1  # named on the command line, it is taken


def test_temp_files_are_never_taken_for_source(work: Path, cli: Cli) -> None:
    (work / "m.py").write_bytes(SMALL_TARGET)
    leftover = work / f".m.py.0123456789ab{TEMP_SUFFIX}"
    leftover.write_bytes(SMALL_TARGET)
    outcome = cli("check", ".")
    assert "1 file would be rewritten, 0 left unchanged" in outcome.err
    assert not leftover.name.endswith(".py")
