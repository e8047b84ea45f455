"""verify, fix --verify and explain on code that exits, hangs, prints or verifies nothing: a per-file result each.

Each file's code runs in a child process with a time limit (`codemod.isolation.call_in_fork`); these run the
commands in this process, as a user's shell runs them, and look at what the run as a whole did.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="verify runs the modules under torch")

from codemod.isolation import can_fork
from codemod.rewrite import profile_names
from codemod.rewrite.file import rewrite
from fixtures.catalog import CASES, REPO_ROOT
from tests.cli_runner import Cli

pytestmark = pytest.mark.skipif(not can_fork(), reason="needs os.fork")

GOOD = (CASES / "port_sdpa.in.py").read_text()  # a bare file: imports nothing unusual
TIMEOUT = "3"

# What a file does at import, and the reason verify gives for it.
AT_IMPORT = {
    "hangs": ("while True:\n    pass\n", f"it did not finish within {TIMEOUT} s"),
    "exits_0": ("import sys\nsys.exit(0)\n", "its code called sys.exit(0)"),
    "ends_the_process": ("import os\nos._exit(0)\n", "its code ended the process (exit status 0)"),
    "exits_3": ("import sys\nsys.exit(3)\n", "its code called sys.exit(3)"),
    "starts_a_thread": (
        "import threading, time\nthreading.Thread(target=time.sleep, args=(60,), name='importer').start()\n",
        "its code left a thread running (importer)",
    ),
    "cannot_import": ("raise RuntimeError('not here')\n", "RuntimeError: not here"),
}
# Both forwards replaced by one that raises: every path is `same-error` in every profile.
RAISES_EVERYWHERE = GOOD + (
    "\n\ndef _broken(self, *args, **kwargs):\n    raise RuntimeError('no kernel here')\n\n\n"
    "SingleStreamAttention.forward = SingleStreamMultiAttention.forward = _broken\n"
)
PRINTS = "print('Warning: Could not load sageattention')\n" + GOOD

@pytest.fixture
def files(tmp_path: Path) -> Path:
    for name, (prefix, _) in AT_IMPORT.items():
        (tmp_path / f"{name}.py").write_text(prefix + GOOD)
    (tmp_path / "good.py").write_text(GOOD)
    return tmp_path


def test_verify_reports_each_file_that_exits_hangs_or_leaves_a_thread_and_goes_on(cli: Cli, files: Path) -> None:
    code, out, err = cli("verify", "--timeout", TIMEOUT, "--format", "json", str(files))
    assert code == 2
    reports = {(Path(file["path"]).stem, file["profile"]): file for file in json.loads(out)["files"]}
    assert set(reports) == {(name, profile) for name in [*AT_IMPORT, "good"] for profile in profile_names()}
    for (name, _), file in reports.items():
        if name == "good":
            assert (file["verified"], file["error"]) == (True, None)
        elif name == "cannot_import":
            assert not file["verified"] and AT_IMPORT[name][1] in file["unverified_reason"]
            assert f"error: {files / 'cannot_import.py'}: not verified: " in err
        else:
            assert not file["verified"] and file["error"].startswith(f"cannot run its code: {AT_IMPORT[name][1]}")
            assert f"error: {files / name}.py: cannot run its code: {AT_IMPORT[name][1]}" in err


def test_fix_verify_writes_only_the_files_that_verify(cli: Cli, files: Path) -> None:
    (files / "raises_everywhere.py").write_text(RAISES_EVERYWHERE)
    before = {path.name: path.read_bytes() for path in files.iterdir()}
    code, _, err = cli("fix", "--verify", "--timeout", TIMEOUT, "--no-cache", str(files))
    assert code == 2
    for name, data in before.items():
        if name == "good.py":
            assert (files / name).read_bytes() == rewrite(data, "seed").new
        else:
            assert (files / name).read_bytes() == data, name
            assert f"{files / name}: not written: " in err
    assert (f"{files / 'raises_everywhere.py'}: not written: not verified: SingleStreamAttention.forward: no path "
            "ran to the end") in err


def test_a_file_whose_forwards_raise_in_every_scenario_verifies_nothing(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "raises_everywhere.py"
    path.write_text(RAISES_EVERYWHERE)
    code, out, err = cli("verify", str(path))
    assert code == 2
    assert "same-error (RuntimeError: no kernel here" in out and "equal" not in out
    assert out.splitlines()[-1].endswith(f"0 verified, {len(profile_names())} not")
    assert f"error: {path}: not verified: [seed] SingleStreamAttention.forward: no path ran to the end" in err


def test_allow_unverified_passes_it_and_says_so(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "raises_everywhere.py"
    path.write_text(RAISES_EVERYWHERE)
    code, _, err = cli("verify", "--allow-unverified", str(path))
    assert code == 0
    assert f"warning: {path}: not verified, passed with --allow-unverified: [seed] " in err
    code, _, err = cli("fix", "--verify", "--allow-unverified", "--no-cache", str(path))
    assert code == 1
    assert path.read_bytes() == rewrite(RAISES_EVERYWHERE.encode(), "seed").new
    assert f"warning: {path}: written although not verified (--allow-unverified): " in err


def test_prints_of_the_imported_code_stay_off_stdout(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "prints.py"
    path.write_text(PRINTS)
    code, out, err = cli("verify", "--format", "json", str(path))
    assert code == 0 and all(file["verified"] for file in json.loads(out)["files"])
    assert "Warning: Could not load sageattention" in err
    code, out, err = cli("fix", "--verify", "-", stdin=PRINTS.encode())
    assert code == 1
    assert out.encode() == rewrite(PRINTS.encode(), "seed").new
    assert "Warning: Could not load sageattention" in err


def test_explain_reports_a_file_that_exits_at_import(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "exits.py"
    path.write_text(AT_IMPORT["exits_0"][0] + GOOD)
    code, out, err = cli("explain", str(path), "--dim", "64", "--heads", "4", "--frames", "2")
    assert (code, out) == (2, "")
    assert f"{path}: cannot run its code: its code called sys.exit(0)" in err


def test_a_file_that_does_not_import_in_its_checkout_is_verified_on_its_own_and_says_so(
    cli: Cli, tmp_path: Path,
) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "broken.py").write_text("raise RuntimeError('a sibling that cannot import here')\n")
    (package / "target.py").write_text("from .broken import thing\n" + GOOD)
    code, out, _ = cli("verify", "--format", "json", str(package / "target.py"))
    files = json.loads(out)["files"]
    assert code == 0 and all(file["verified"] for file in files)
    for file in files:
        assert file["stubbed"] == [".broken"]
        assert file["notes"][0].startswith("imported on its own (bare: its relative imports stubbed), since in its "
                                           "checkout original: cannot import it: RuntimeError: a sibling")
    code, out, _ = cli("verify", "--bare", "--format", "json", str(package / "target.py"))
    files = json.loads(out)["files"]
    assert code == 0 and all(file["verified"] and file["notes"] == [] for file in files)


def test_an_explain_killed_at_its_time_limit_leaves_no_temporary_files(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tempfile

    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    path = tmp_path / "hangs.py"
    path.write_text(GOOD + "\nwhile True:\n    pass\n")  # after the loader has copied the source
    code, _, err = cli("explain", "--timeout", "2", str(path))
    assert code == 2 and "did not finish within 2 s" in err
    assert list(temporary.iterdir()) == []


def test_a_forward_broken_in_every_scenario_but_one_frame_is_verified_on_one_frame(cli: Cli, tmp_path: Path) -> None:
    """As a real August 2025 WanVideoWrapper version: its single-speaker forward miscounts frames (and the
    multi-speaker class falls through to it), so it runs only on a one-frame video."""
    path = tmp_path / "miscounts.py"
    path.write_text(GOOD + (
        "\n\n_forward = SingleStreamAttention.forward\n\n\n"
        "def _miscounting(self, x, encoder_hidden_states, shape=None):\n"
        "    if shape[0] != 1:\n        raise RuntimeError('frames miscounted')\n"
        "    return _forward(self, x, encoder_hidden_states, shape)\n\n\n"
        "SingleStreamAttention.forward = _miscounting\n"))
    code, out, err = cli("verify", "--format", "json", str(path))
    assert code == 0, err
    for file in json.loads(out)["files"]:
        assert file["verified"]
        runs = {target["class"]: [(run["path"], run["status"]) for run in target["runs"]] for target in file["targets"]}
        assert runs == {
            "SingleStreamAttention": [("single", "same-error"), ("single-1-frame", "equal")],
            "SingleStreamMultiAttention": [("single", "same-error"), ("two", "equal")],
        }


@pytest.mark.cuda
@pytest.mark.skipif(not Path("/dev/nvidiactl").exists(), reason="needs a CUDA GPU")
def test_on_cuda_each_file_runs_in_a_child_that_initialises_cuda_itself(tmp_path: Path) -> None:
    """A fresh process, as a user runs it: the parent imports torch and forks; CUDA starts in the child."""
    import subprocess

    path = tmp_path / "good.py"
    path.write_text(PRINTS)
    done = subprocess.run([sys.executable, "-m", "codemod", "verify", "--device", "cuda", "--format", "json",
                           str(path)], capture_output=True, text=True, check=False, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    assert all(file["verified"] for file in json.loads(done.stdout)["files"])
    assert "Warning: Could not load sageattention" in done.stderr
