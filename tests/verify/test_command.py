"""`contiguify verify` and `fix --verify` from the command line: reports, notes, exit codes, what gets written."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="verify runs the modules under torch")

from codemod.cli.verify import RUNS_CODE_NOTE
from codemod.rewrite import profile_names
from codemod.rewrite.file import rewrite
from codemod.verify.outcome import FileVerification, ScenarioRun, TargetRuns
from fixtures.catalog import CASES, CORPUS, FIXTURES, REPO_ROOT, WRAPPER, WRAPPER_NODE
from tests.cli_runner import Cli


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The WanVideoWrapper node, in a copy of the ComfyUI tree it lives in."""
    copy = tmp_path / "ComfyUI"
    shutil.copytree(FIXTURES / "comfyui", copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy / WRAPPER_NODE


def test_verify_reports_every_profile_target_and_scenario_in_json(cli: Cli, checkout: Path) -> None:
    code, out, err = cli("verify", "--format", "json", str(checkout))
    assert code == 0, err
    files = json.loads(out)["files"]
    assert [(file["path"], file["profile"]) for file in files] == [
        (str(checkout / "multitalk" / "multitalk.py"), profile) for profile in profile_names()]
    for file in files:
        # the one stub is the node's PyPI dependency that is not installed here (requirements.txt)
        assert set(file) == {"path", "profile", "stubbed", "notes", "error", "verified", "unverified_reason",
                             "targets"} and file["stubbed"] == ["gguf"]
        assert (file["verified"], file["unverified_reason"], file["error"]) == (True, None, None)
        assert [(t["class"], t["method"], [r["path"] for r in t["runs"]]) for t in file["targets"]] == [
            ("SingleStreamAttention", "forward", ["single"]),
            ("SingleStreamMultiAttention", "forward", ["single", "two"]),
        ]
        for target in file["targets"]:
            for run in target["runs"]:
                assert set(run) == {"path", "status", "detail", "max_abs_diff"}
                assert run["status"] == "equal", run
    assert err.splitlines().count(RUNS_CODE_NOTE) == 1


def test_verify_text_names_the_stubs_and_each_run(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO_ROOT)
    path = "fixtures/cases/port_flash.in.py"
    code, out, _ = cli("verify", "--profile", "boundary", path)
    lines = out.splitlines()
    assert code == 0
    assert lines[0] == f"{path} [boundary]: stubbed (not importable here): flash_attn, sageattention"
    assert lines[1:4] == [
        f"{path} [boundary] SingleStreamAttention.forward single: equal",
        f"{path} [boundary] SingleStreamMultiAttention.forward single: equal",
        f"{path} [boundary] SingleStreamMultiAttention.forward two: equal",
    ]
    assert lines[-1] == "1 file runs: 3 equal; 1 verified, 0 not"


def test_files_without_targets_are_not_run(cli: Cli) -> None:
    code, out, err = cli("verify", str(CORPUS))
    assert (code, out, err) == (0, "0 file runs: nothing run; 0 verified, 0 not\n", "")


def test_a_file_it_cannot_read_is_an_error(cli: Cli, tmp_path: Path) -> None:
    code, _, err = cli("verify", str(tmp_path / "missing.py"))
    assert code == 2 and f"error: {tmp_path / 'missing.py'}:" in err


def test_help_says_verify_runs_the_code() -> None:
    result = subprocess.run([sys.executable, "-m", "codemod", "verify", "--help"], capture_output=True, text=True,
                            check=True)
    assert "IMPORTED AND RUN, as pytest runs a project's code" in " ".join(result.stdout.split())


def test_fix_verify_writes_a_rewrite_that_verifies(cli: Cli, checkout: Path) -> None:
    code, _, err = cli("fix", "--verify", str(checkout))
    assert code == 1, err
    assert (checkout / "multitalk" / "multitalk.py").read_bytes() == rewrite((CASES / "jan2026.in.py").read_bytes(), "seed").new
    assert RUNS_CODE_NOTE in err.splitlines()


def test_fix_verify_leaves_a_failing_file_alone_and_says_why(
    cli: Cli, checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The codemod's rewrites verify; a failing verification is simulated to see what fix does with one."""
    import codemod.verify.run

    def failing(rewrites: dict[str, object], *args: object, **kwargs: object) -> list[FileVerification]:
        runs = (ScenarioRun("two", "differs", max_abs_diff=0.5),)
        return [FileVerification(str(getattr(result, "path")), profile, (), (TargetRuns("A", "forward", runs),))
                for profile, result in rewrites.items()]

    monkeypatch.setattr(codemod.verify.run, "verify_rewrites", failing)  # the forked child inherits it
    target = checkout / "multitalk" / "multitalk.py"
    before = target.read_bytes()
    code, _, err = cli("fix", "--verify", str(checkout))
    assert code == 2
    assert target.read_bytes() == before
    assert f"{target}: not written: verify: A.forward, two: differs (max abs diff 0.5)" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_cuda_device_is_an_error(cli: Cli, checkout: Path) -> None:
    code, out, err = cli("verify", "--device", "cuda", str(checkout))
    assert (code, out) == (2, "") and "torch sees no CUDA device here" in err


def test_a_fresh_process_rewrites_while_torch_imports_and_reports_the_same(cli: Cli, tmp_path: Path) -> None:
    """In a process without torch the rewrites run in a forked worker (see `alongside_torch_import`);
    here, with torch imported, they run in this process. Both must give the same report."""
    pytest.importorskip("einops", reason="the fixture imports einops")
    files = [WRAPPER, FIXTURES / "vendor"]
    for source in files:
        shutil.copytree(source, tmp_path / source.name, ignore=shutil.ignore_patterns("__pycache__"))
    paths = [str(tmp_path / source.name) for source in files]
    in_process = cli("verify", "--format", "json", *paths)
    fresh = subprocess.run([sys.executable, "-m", "codemod", "verify", "--format", "json", *paths],
                           capture_output=True, text=True, check=False, cwd=REPO_ROOT)
    assert (fresh.returncode, fresh.stdout) == in_process[:2], fresh.stderr
    assert [file["profile"] for file in json.loads(fresh.stdout)["files"]] == [*profile_names()] * len(files)
