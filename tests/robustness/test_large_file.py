"""Memory stays bounded: a file that could define a target and is larger than max-file-size (command
line, or `[tool.contiguify]`) is reported and left alone, unparsed, while the rest of the run goes on."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from codemod.options import DEFAULT_MAX_FILE_SIZE
from codemod.results import FileResult
from codemod.run import runner
from codemod.run.job import Job
from fixtures.catalog import CASES

from tests.cli_runner import Cli

from .conftest import Snapshot, seed_rewrite


OLD = (CASES / "jan2026.in.py").read_bytes()
NEW = seed_rewrite(OLD)
LIMIT = 100_000


def _large(size: int) -> bytes:
    """A target file padded with comments up to `size` bytes."""
    line = b"# " + b"x" * 97 + b"\n"
    return OLD + b"\n" + line * ((size - len(OLD)) // len(line) + 1)


def _reason(size: int, limit: int) -> str:
    return f"too large to parse: {size:,} bytes, over the limit of {limit:,} (max-file-size); left untouched"


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "big.py").write_bytes(_large(LIMIT))
    (tmp_path / "small.py").write_bytes(OLD)
    (tmp_path / "data.py").write_bytes(b"TABLE = [\n" + b"    1,\n" * 30_000 + b"]\n")  # large, but no target
    return tmp_path


@pytest.mark.parametrize("where", ["option", "pyproject"])
def test_a_file_over_the_limit_is_reported_and_left_alone(where: str, tree: Path, cli: Cli,
                                                          parsed: Callable[[], list[str]]) -> None:
    arguments = ["fix", "--jobs", "1", "."]
    if where == "option":
        arguments.insert(1, f"--max-file-size={LIMIT}")
    else:
        (tree / "pyproject.toml").write_text(f"[tool.contiguify]\nmax-file-size = {LIMIT}\n")
    before = {name: Snapshot.of(tree / name) for name in ("big.py", "data.py")}
    outcome = cli(*arguments)
    assert outcome.code == 2
    size = (tree / "big.py").stat().st_size
    assert f"error: big.py: {_reason(size, LIMIT)}\n" in outcome.err
    assert parsed() == ["small.py"]
    assert {name: Snapshot.of(tree / name) for name in before} == before
    assert (tree / "small.py").read_bytes() == NEW


def test_the_option_overrides_pyproject(tree: Path, cli: Cli) -> None:
    (tree / "pyproject.toml").write_text("[tool.contiguify]\nmax-file-size = 10\n")
    assert cli("check", f"--max-file-size={LIMIT * 2}", "big.py").code == 1


def test_the_default_limit_applies(tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch,
                                   parsed: Callable[[], list[str]]) -> None:
    monkeypatch.chdir(tmp_path)
    data = _large(DEFAULT_MAX_FILE_SIZE)
    (tmp_path / "huge.py").write_bytes(data)
    outcome = cli("check", "huge.py")
    assert (outcome.code, outcome.out) == (2, "")
    assert outcome.err.startswith(f"error: huge.py: {_reason(len(data), DEFAULT_MAX_FILE_SIZE)}\n")
    assert parsed() == []


def test_standard_input_has_the_same_limit(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _large(LIMIT)

    class Stdin:
        buffer = io.BytesIO(data)

    monkeypatch.setattr(sys, "stdin", Stdin)
    outcome = cli("fix", f"--max-file-size={LIMIT}", "-")
    assert outcome.code == 2
    assert outcome.out == data.decode()  # the input, unchanged, as with any error
    assert _reason(len(data), LIMIT) in outcome.err


@pytest.mark.parametrize("value", ['"2MB"', "0", "-1", "true", "1.5"])
def test_a_malformed_limit_in_pyproject_is_a_usage_error(value: str, tree: Path, cli: Cli) -> None:
    (tree / "pyproject.toml").write_text(f"[tool.contiguify]\nmax-file-size = {value}\n")
    outcome = cli("check", "small.py")
    assert outcome.code == 2
    assert "max-file-size must be" in outcome.err


@pytest.mark.parametrize("cwd", ["inside", "above", "elsewhere", "another checkout"])
def test_the_limit_is_the_files_own_projects(cwd: str, tmp_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """The `strict` checkout refuses its file wherever the run starts; `lax` has no limit of its own."""
    for name, settings, size in (("strict", f"max-file-size = {LIMIT}\n", LIMIT), ("lax", "", 2 * LIMIT)):
        (tmp_path / name / "pkg").mkdir(parents=True)
        (tmp_path / name / "pyproject.toml").write_text(f"[tool.contiguify]\n{settings}")
        (tmp_path / name / "pkg" / "big.py").write_bytes(_large(size))
    (tmp_path / "elsewhere").mkdir()
    here = {"inside": tmp_path / "strict" / "pkg", "above": tmp_path, "elsewhere": tmp_path / "elsewhere",
            "another checkout": tmp_path / "lax"}[cwd]
    monkeypatch.chdir(here)
    strict, lax = tmp_path / "strict" / "pkg" / "big.py", tmp_path / "lax" / "pkg" / "big.py"
    outcome = cli("check", str(strict), str(lax))
    assert outcome.code == 2
    assert _reason(strict.stat().st_size, LIMIT) in outcome.err
    # One error, the strict file's (by its size); the lax one, twice as large, is rewritten.
    assert [line for line in outcome.err.splitlines() if line.startswith("error:")] == [
        line for line in outcome.err.splitlines() if _reason(strict.stat().st_size, LIMIT) in line
    ]
    assert outcome.out.count("diff --git") == 1
