"""File names in diffs, messages and JSON: named as `git diff` names them (its quoting, the exact bytes,
relative to each file's repository), so that `git apply` applies every patch; no name stops a run."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from codemod.report.diff import NO_NEWLINE
from codemod.rewrite.file import rewrite
from fixtures.catalog import CASES, REPO_ROOT
from tests.cli_runner import invoke

ORIGINAL = (CASES / "jan2026.in.py").read_bytes()
FIXED = rewrite((CASES / "jan2026.in.py").read_bytes(), "seed").new

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

NAMES: dict[str, bytes] = {
    "plain": b"plain.py",
    "space": b"with space.py",
    "not-utf8": b"bad\xffbyte.py",
    "newline": b"new\nline.py",
    "utf8": "café.py".encode(),
    "double-quote": b'say "hi".py',
    "backslash": b"back\\slash.py",
    "tab": b"tab\there.py",
    "escape-byte": b"esc\x1bape.py",
}


def git(repo: Path, *args: str, input: bytes | None = None) -> bytes:
    return subprocess.run(["git", "-C", str(repo), *args], input=input, capture_output=True, check=True).stdout


def make_repo(path: Path, names: list[bytes]) -> Path:
    """A git repository holding the unfixed upstream file under each name, committed."""
    path.mkdir(parents=True)
    git(path, "init", "-q")
    git(path, "config", "user.email", "user@example.com")
    git(path, "config", "user.name", "user")
    for name in names:
        (path / os.fsdecode(name)).parent.mkdir(parents=True, exist_ok=True)
        (path / os.fsdecode(name)).write_bytes(ORIGINAL)
    git(path, "add", "-A")
    git(path, "commit", "-qm", "upstream")
    return path


def headers(patch: bytes) -> list[bytes]:
    return [line for line in patch.split(b"\n") if line.startswith((b"diff --git ", b"--- ", b"+++ "))]


@pytest.mark.parametrize("case", NAMES)
def test_each_name_is_written_as_git_writes_it_and_the_patch_applies(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = NAMES[case]
    repo = make_repo(tmp_path / "repo", [name])
    monkeypatch.chdir(repo)
    code, patch, err = invoke("check", ".")
    assert code == 1, err
    assert err.count("would rewrite") == 1 and "Traceback" not in err
    git(repo, "apply", "--check", "-", input=patch)
    git(repo, "apply", "-", input=patch)
    assert (repo / os.fsdecode(name)).read_bytes() == FIXED
    # git's own diff of the change it just applied names the file exactly as contiguify did.
    assert headers(patch) == headers(git(repo, "-c", "core.quotePath=true", "diff", "--no-color"))


def test_one_run_over_every_name_loses_no_diff(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path / "repo", list(NAMES.values()))
    monkeypatch.chdir(repo)
    code, patch, err = invoke("check", ".")
    assert code == 1, err
    assert patch.count(b"\ndiff --git ") + patch.startswith(b"diff --git ") == len(NAMES)
    assert len([line for line in err.splitlines() if line.startswith("would rewrite")]) == len(NAMES)
    git(repo, "apply", "-", input=patch)
    assert all((repo / os.fsdecode(name)).read_bytes() == FIXED for name in NAMES.values())


def test_json_carries_every_name_losslessly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path / "repo", list(NAMES.values()))
    monkeypatch.chdir(repo)
    code, out, _ = invoke("check", "--format", "json", ".")
    assert code == 1
    found = {}
    for entry in json.loads(out.decode("utf-8"))["files"]:
        if "path_bytes" in entry:
            raw = base64.b64decode(entry["path_bytes"])
            with pytest.raises(UnicodeDecodeError):
                raw.decode("utf-8")
        else:
            raw = entry["path"].encode("utf-8")
        found[raw] = entry["changed"]
    assert found == {name: True for name in NAMES.values()}


def test_a_repository_outside_the_working_directory_gets_names_relative_to_its_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "checkout", [b"multitalk.py"])
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    code, patch, err = invoke("check", str(repo))
    assert code == 1, err
    assert patch.startswith(b"diff --git a/multitalk.py b/multitalk.py\n")
    git(repo, "apply", "-", input=patch)
    assert (repo / "multitalk.py").read_bytes() == FIXED


def test_a_patch_made_in_a_subdirectory_applies_from_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path / "checkout", [b"sub/multitalk.py"])
    monkeypatch.chdir(repo / "sub")
    code, patch, _ = invoke("check", ".")
    assert code == 1
    assert patch.startswith(b"diff --git a/sub/multitalk.py b/sub/multitalk.py\n")
    subprocess.run(["git", "apply", "-"], input=patch, cwd=repo / "sub", check=True)
    assert (repo / "sub" / "multitalk.py").read_bytes() == FIXED


def test_no_repository_and_outside_the_working_directory_is_said(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "loose").mkdir()
    (tmp_path / "loose" / "multitalk.py").write_bytes(ORIGINAL)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    code, patch, err = invoke("check", str(tmp_path / "loose"))
    assert code == 1
    absolute = str(tmp_path / "loose" / "multitalk.py").encode()
    assert patch.startswith(b"diff --git a/" + absolute)
    assert "in no git repository and outside the working directory" in err


# Characters that `str.splitlines` takes for line ends and git does not (a lone carriage return included).
SEPARATORS = {
    "form-feed": "\x0c", "vertical-tab": "\x0b", "file-separator": "\x1c", "group-separator": "\x1d",
    "record-separator": "\x1e", "next-line": "\x85", "line-separator": "\u2028", "paragraph-separator": "\u2029",
    "carriage-return": "\r",
}


@pytest.mark.parametrize("case", SEPARATORS)
def test_context_lines_holding_odd_separators_apply(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The character sits in a comment right above a rewritten line, so it is in the diff's context."""
    lines = ORIGINAL.decode("utf-8").split("\n")
    site = next(index for index, line in enumerate(lines) if line.strip().startswith("q = self.q_linear(x)"))
    indent = lines[site][:len(lines[site]) - len(lines[site].lstrip())]
    # After a lone `\r` Python starts a new line: the comment goes on there, indented alike.
    lines.insert(site, f"{indent}# one{SEPARATORS[case]}{indent if case == 'carriage-return' else ''}# line")
    source = "\n".join(lines).encode("utf-8")
    fixed = rewrite(source, "seed").new
    assert fixed is not None and fixed != source
    repo = make_repo(tmp_path / "repo", [b"multitalk.py"])
    (repo / "multitalk.py").write_bytes(source)
    monkeypatch.chdir(repo)
    code, patch, err = invoke("check", "multitalk.py")
    assert code == 1, err
    assert NO_NEWLINE.encode() not in patch
    git(repo, "apply", "--check", "-", input=patch)
    git(repo, "apply", "-", input=patch)
    assert (repo / "multitalk.py").read_bytes() == fixed


def test_the_readme_apply_command_works_from_a_sibling_subdirectory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plain `git apply` in `other/` passes over `sub/multitalk.py`; the README's command applies it."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    (command,) = [line.split("| ", 1)[1].split("  #", 1)[0].strip() for line in readme.splitlines()
                  if line.startswith("contiguify check ... | ")]
    repo = make_repo(tmp_path / "checkout", [b"sub/multitalk.py", b"other/keep.py"])
    monkeypatch.chdir(repo / "other")
    code, patch, _ = invoke("check", "../sub")
    assert code == 1
    subprocess.run(["git", "apply", "-"], input=patch, cwd=repo / "other", check=True)
    assert (repo / "sub" / "multitalk.py").read_bytes() == ORIGINAL  # git's own rule: paths outside are skipped
    subprocess.run(["bash", "-c", command], input=patch, cwd=repo / "other", check=True)
    assert (repo / "sub" / "multitalk.py").read_bytes() == FIXED
