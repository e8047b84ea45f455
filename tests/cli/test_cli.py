"""The command-line contract: streams, exit codes, JSON shape, stdin mode, strict, config, errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from codemod.rewrite.file import rewrite
from codemod.rewrite.profiles import get_profile
from fixtures.catalog import CASES, WRAPPER
from tests.cli_runner import Cli, invoke

SEED_SITES = get_profile("seed").sites()


def seed_output(case: str) -> bytes:
    """The seed rewrite of a fixture case (tests/rewrite checks it against the case's reviewed diff)."""
    new = rewrite((CASES / f"{case}.in.py").read_bytes(), "seed").new
    assert new is not None
    return new


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the fixture checkout, with the working directory at its parent."""
    copy = tmp_path / "wanvideowrapper"
    shutil.copytree(WRAPPER, copy)
    monkeypatch.chdir(tmp_path)
    return copy


def test_check_prints_a_diff_and_exits_1_without_writing(checkout: Path) -> None:
    target = checkout / "multitalk" / "multitalk.py"
    before = target.read_bytes()
    code, out, err = invoke("check", "wanvideowrapper")
    assert code == 1
    name = b"wanvideowrapper/multitalk/multitalk.py"
    assert out.startswith(b"diff --git a/%s b/%s\n--- a/%s\n+++ b/%s\n" % (name, name, name, name))
    # The hunks are the reviewed expectation for the bundled file's case.
    assert out.split(b"\n@@", 1)[1] == (CASES / "jan2026.seed.diff").read_bytes().split(b"\n@@", 1)[1]
    assert f"would rewrite wanvideowrapper/multitalk/multitalk.py ({len(SEED_SITES)} .contiguous() inserted)" in err
    assert target.read_bytes() == before


def test_check_diff_applies_with_git_apply(checkout: Path, tmp_path: Path) -> None:
    _, patch, _ = invoke("check", "wanvideowrapper")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "apply", "-"], cwd=tmp_path, input=patch, check=True)
    assert (checkout / "multitalk" / "multitalk.py").read_bytes() == seed_output("jan2026")


def test_fix_rewrites_reports_and_is_then_clean(checkout: Path) -> None:
    target = checkout / "multitalk" / "multitalk.py"
    code, out, err = invoke("fix", "wanvideowrapper")
    assert (code, out) == (1, b"")
    assert "rewrote wanvideowrapper/multitalk/multitalk.py" in err
    assert target.read_bytes() == seed_output("jan2026")
    mtime = target.stat().st_mtime_ns
    assert invoke("fix", "wanvideowrapper")[0] == 0
    assert invoke("check", "wanvideowrapper")[:2] == (0, b"")
    assert target.stat().st_mtime_ns == mtime


def test_fix_exit_zero_even_if_changed(checkout: Path) -> None:
    assert invoke("fix", "--exit-zero-even-if-changed", "wanvideowrapper")[0] == 0


def test_stdin_mode(checkout: Path) -> None:
    source = (CASES / "crlf_bom.in.py").read_bytes()
    code, out, _ = invoke("fix", "-", input=source)
    assert (code, out) == (1, seed_output("crlf_bom"))
    code, out, _ = invoke("check", "-", input=source)
    assert code == 1 and out.startswith(b"diff --git a/- b/-\n--- a/-\n+++ b/-\n")
    expected = (CASES / "hand_fixed.in.py").read_bytes()
    assert invoke("fix", "-", input=expected)[:2] == (0, expected)


def test_json_report_shape(checkout: Path) -> None:
    code, out, _ = invoke("check", "--format", "json", str(CASES / "aug2025_rearrange.in.py"))
    assert code == 1
    (entry,) = json.loads(out)["files"]
    assert set(entry) == {"path", "changed", "error", "targets"}
    assert entry["changed"] is True and entry["error"] is None
    single, multi = entry["targets"]
    assert (single["class"], single["method"]) == ("SingleStreamAttention", "forward")
    assert {site["status"] for site in single["sites"]} == {"missing"}
    assert multi["class"] == "SingleStreamMutiAttention"
    assert [(site["id"], site["status"]) for site in multi["sites"]] == [
        (site.id, "inserted") for site in SEED_SITES if site.role == "multi"
    ]
    assert all(set(site) == {"id", "line", "status", "reason"} for site in multi["sites"])
    assert all(isinstance(site["line"], int) for site in multi["sites"])


def test_missing_sites_warn_and_strict_fails(checkout: Path, tmp_path: Path) -> None:
    old, current = tmp_path / "old.py", tmp_path / "current.py"
    old.write_bytes(seed_output("aug2025_rearrange"))
    current.write_bytes(seed_output("jan2026"))
    code, _, err = invoke("check", str(old))
    assert code == 0
    assert "SingleStreamAttention.forward: sites not found: single.x-view-in" in err
    assert invoke("check", "--strict", str(old))[0] == 1
    assert invoke("check", "--strict", str(current))[0] == 0


def test_errors_exit_2_and_other_files_go_on(checkout: Path) -> None:
    (checkout / "broken.py").write_text("class SingleStreamAttention(:\n")
    (checkout / "binary.py").write_bytes(b"SingleStreamAttention\0\xff")
    code, _, err = invoke("fix", "wanvideowrapper", "no-such-dir")
    assert code == 2
    assert "error: wanvideowrapper/broken.py: syntax error" in err
    assert "error: wanvideowrapper/binary.py: binary file" in err
    assert "error: no-such-dir: no such file or directory" in err
    assert "rewrote wanvideowrapper/multitalk/multitalk.py" in err
    assert (checkout / "broken.py").read_text() == "class SingleStreamAttention(:\n"


def test_targets_from_command_line_and_config(checkout: Path, tmp_path: Path) -> None:
    other = checkout / "other.py"
    other.write_text("class Mine:\n    def forward(self, x):\n        x = x.reshape(B, N, C)\n")
    assert invoke("check", "wanvideowrapper/other.py")[0] == 0
    assert invoke("check", "--target", "Mi?e.forward", "wanvideowrapper/other.py")[0] == 1
    (tmp_path / "pyproject.toml").write_text('[tool.contiguify]\ntargets = ["Mine.*"]\nexclude = ["multitalk"]\n')
    code, out, _ = invoke("check", "wanvideowrapper")
    assert code == 1
    assert b"other.py" in out and b"multitalk.py" not in out


def test_bad_target_and_bad_config_are_usage_errors(checkout: Path, tmp_path: Path, cli: Cli) -> None:
    assert cli("check", "--target", "forward", "wanvideowrapper").code == 2
    (tmp_path / "pyproject.toml").write_text("[tool.contiguify]\ntarget = 1\n")
    assert cli("check", "wanvideowrapper").code == 2


def test_dash_cannot_be_combined_with_paths(checkout: Path, cli: Cli) -> None:
    assert cli("check", "-", "wanvideowrapper").code == 2


def test_list_names_every_site_once() -> None:
    code, out, _ = invoke("list")
    lines = out.decode().splitlines()
    assert code == 0
    seed_ids = [line.split("\t")[1] for line in lines if line.startswith("seed\t")]
    assert seed_ids == [site.id for site in SEED_SITES]
    assert len(seed_ids) == len(set(seed_ids))


def test_installed_entry_point_and_module_agree(checkout: Path) -> None:
    script = shutil.which("contiguify", path=os.path.dirname(sys.executable))
    assert script is not None, "the contiguify console script is not installed next to this interpreter"
    for command in ([script], [sys.executable, "-m", "codemod"]):
        done = subprocess.run([*command, "check", "wanvideowrapper"], capture_output=True, check=False)
        assert done.returncode == 1
        assert done.stdout.startswith(b"diff --git a/wanvideowrapper/multitalk/multitalk.py")
        assert b"would rewrite" in done.stderr and b"would rewrite" not in done.stdout


def test_profile_choices_are_the_discovered_profiles() -> None:
    from codemod.options import PROFILE_NAMES
    from codemod.rewrite.profiles import all_profiles

    assert sorted(PROFILE_NAMES) == sorted(all_profiles())


def test_boundary_profile_from_the_command_line(checkout: Path) -> None:
    code, out, _ = invoke("check", "--profile", "boundary", "wanvideowrapper")
    assert code == 1
    assert b"+            q.contiguous(), encoder_k.contiguous(), encoder_v.contiguous()" in out


@pytest.mark.parametrize("declared, codec", [("cp1252", "cp1252"), ("windows-1252", "cp1252"), ("latin-1", None)])
def test_a_decode_error_names_the_codec_the_line_and_the_byte(declared: str, codec: str | None, checkout: Path) -> None:
    """Not "charmap" (the name of cp1252's implementation): the encoding as the user knows it."""
    path = checkout / "declared.py"
    path.write_bytes(f"# -*- coding: {declared} -*-\nclass SingleStreamAttention:\n    x = '\x81'\n".encode("latin-1"))
    code, _, err = invoke("check", "wanvideowrapper/declared.py")
    if codec is None:  # latin-1 decodes every byte
        assert code == 0 and "error" not in err.replace("0 errors", "")
    else:
        assert code == 2
        assert f"error: wanvideowrapper/declared.py: cannot decode as {codec} at line 3 (byte 0x81): " in err


@pytest.mark.parametrize("command", ["explain", "verify"])
def test_explain_and_verify_without_torch_say_what_to_install(command: str) -> None:
    """torch blocked in a fresh process: exit 2 with the install line, no traceback."""
    script = ("import sys; sys.modules['torch'] = None; from codemod.cli import main; "
              f"sys.exit(main([{command!r}, {str(CASES / 'jan2026.in.py')!r}]))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 2, done.stderr
    assert f"Error: {command} runs the forwards with torch: pip install 'contiguify[explain]'" in done.stderr
    assert "Traceback" not in done.stderr
