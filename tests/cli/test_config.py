"""`[tool.contiguify]` per checkout: found above each path, checked with a message naming file and key,
excludes and path-qualified targets relative to it, excludes applied to named files too, typos reported."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from codemod.rewrite.file import rewrite
from fixtures.catalog import CASES
from tests.cli_runner import invoke

ORIGINAL = (CASES / "jan2026.in.py").read_bytes()
FIXED = rewrite((CASES / "jan2026.in.py").read_bytes(), "seed").new
MINE = b"class Mine:\n    def forward(self, x):\n        x = x.reshape(B, N, C)\n        return x\n"
SMALL = MINE.replace(b"Mine", b"SingleStreamMultiAttention")  # one seed site: quick to parse


def checkout(path: Path, pyproject: str | bytes | None = None, files: dict[str, bytes] | None = None) -> Path:
    """A directory with an upstream multitalk/multitalk.py, other files, and a pyproject.toml when given."""
    for name, data in {"multitalk/multitalk.py": ORIGINAL, **(files or {})}.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)
    if pyproject is not None:
        (path / "pyproject.toml").write_bytes(pyproject.encode() if isinstance(pyproject, str) else pyproject)
    return path


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


MALFORMED: dict[str, tuple[str | bytes, str]] = {
    "tool-integer": ("tool = 5\n", "tool must be a table, not an integer"),
    "tool-string": ('tool = "x"\n', "tool must be a table, not a string"),
    "tool-array-of-tables": ("[[tool]]\nname = 1\n", "tool must be a table, not an array of tables"),
    "table-array-of-tables": ("[[tool.contiguify]]\nstrict = true\n",
                              "tool.contiguify must be a table, not an array of tables"),
    "table-integer": ("[tool]\ncontiguify = 3\n", "tool.contiguify must be a table, not an integer"),
    "targets-string": ('[tool.contiguify]\ntargets = "Mine.forward"\n',
                       "tool.contiguify.targets must be an array of strings, not a string"),
    "targets-numbers": ("[tool.contiguify]\ntargets = [1, 2]\n",
                        "tool.contiguify.targets must be an array of strings, not an array"),
    "target-syntax": ('[tool.contiguify]\ntargets = ["forward"]\n',
                      "tool.contiguify.targets: target 'forward' is not of the form"),
    "profile-unknown": ('[tool.contiguify]\nprofile = "fast"\n', "tool.contiguify.profile: unknown profile 'fast'"),
    "strict-string": ('[tool.contiguify]\nstrict = "yes"\n', "tool.contiguify.strict must be a boolean, not a string"),
    "exclude-string": ('[tool.contiguify]\nexclude = "tests"\n',
                       "tool.contiguify.exclude must be an array of strings, not a string"),
    "unknown-key": ("[tool.contiguify]\ntarget = []\n", "unknown key tool.contiguify.target"),
    "entry-points-strings": ('[tool.contiguify]\nentry-points = ["fused_attention"]\n',
                             "tool.contiguify.entry-points must be an array of tables"),
    "entry-point-no-layout": ('[[tool.contiguify.entry-points]]\nnames = ["f"]\n', "tool.contiguify.entry-points[0]: names and layout are required"),
    "entry-point-bad-layout": ('[[tool.contiguify.entry-points]]\nnames = ["f"]\nlayout = "BLHD"\n',
                               "tool.contiguify.entry-points[0]: layout must be one of 'B L H D'"),
    "entry-point-unknown-key": ('[[tool.contiguify.entry-points]]\nnames = ["f"]\nlayout = "B L H D"\nname = "f"\n',
                                "tool.contiguify.entry-points[0]: unknown key name"),
    "entry-point-self-method": ('[[tool.contiguify.entry-points]]\nnames = ["self.attn"]\nlayout = "B L H D"\n',
                                "tool.contiguify.entry-points[0]: names: 'self.attn': a method of self is never"),
    "entry-point-any-name": ('[[tool.contiguify.entry-points]]\nnames = ["*.*"]\nlayout = "B L H D"\n',
                             "tool.contiguify.entry-points[0]: names: '*.*': its last part must name the function"),
    **{
        f"entry-point-{label}": (
            f'[tool.contiguify]\nprofile = "boundary"\n[[tool.contiguify.entry-points]]\nnames = ["{name}"]\n'
            'layout = "B L H D"\n',
            f"tool.contiguify.entry-points[0]: names: '{name}' matches the {kind} `{word}`, which is never an attention",
        )
        for label, name, kind, word in (
            ("tensor-method", "*.view", "tensor operation", "view"),
            ("tensor-method-wildcard", "*.resh?pe", "tensor operation", "reshape"),
            ("builtin", "range", "builtin", "range"),
            ("torch-function", "torch.cat", "tensor operation", "cat"),
        )
    },
    "entry-point-not-a-name": ('[[tool.contiguify.entry-points]]\nnames = ["f(q)"]\nlayout = "B L H D"\n',
                               "tool.contiguify.entry-points[0]: names: 'f(q)' is not a dotted name"),
    "entry-point-two-keywords": ('[[tool.contiguify.entry-points]]\nnames = ["f"]\nlayout = "B L H D"\nkeywords = ["q", "k"]\n',
                                 "tool.contiguify.entry-points[0]: keywords must name q, k and v"),
    "entry-point-packed-string": ('[[tool.contiguify.entry-points]]\nnames = ["f"]\nlayout = "B L H D"\npacked = "yes"\n',
                                  "tool.contiguify.entry-points[0]: packed must be true or false"),
    "entry-point-layout-if-list": (('[[tool.contiguify.entry-points]]\nnames = ["f"]\nlayout = "B L H D"\n'
                                    'layout-if = [{keyword = "mode", value = [1], layout = "B H L D"}]\n'),
                                   "tool.contiguify.entry-points[0]: layout-if.value must be"),
    "entry-point-second-bad": ('[[tool.contiguify.entry-points]]\nnames = ["f"]\nlayout = "B L H D"\n[[tool.contiguify.entry-points]]\nnames = ["g"]\n',
                               "tool.contiguify.entry-points[1]: names and layout are required"),
    "exclude-absolute": ('[tool.contiguify]\nexclude = ["/tmp/checkout/tests"]\n',
                         "tool.contiguify.exclude: '/tmp/checkout/tests' is an absolute path"),
    "exclude-parent": ('[tool.contiguify]\nexclude = ["../checkout"]\n', "tool.contiguify.exclude: '../checkout' has a '..' part"),
    "exclude-parent-inside": ('[tool.contiguify]\nexclude = ["multitalk/../multitalk"]\n',
                              "tool.contiguify.exclude: 'multitalk/../multitalk' has a '..' part"),
    "exclude-nothing": ('[tool.contiguify]\nexclude = ["./"]\n', "tool.contiguify.exclude: './' names no path"),
    "deep-array": ("x = " + "[" * 500 + "]" * 500 + "\n", "not readable: arrays or inline tables nested too deeply"),
    "deep-inline-table": ("x = " + "{a = " * 500 + "1" + "}" * 500 + "\n",
                          "not readable: arrays or inline tables nested too deeply"),
    "deep-targets": ("[tool.contiguify]\ntargets = " + "[" * 100_000 + "]" * 100_000 + "\n",
                     "not readable: arrays or inline tables nested too deeply"),
    "too-large": ("[tool.contiguify]\n" + "#" * 1024 * 1024 + "\n", "too large to be a pyproject.toml"),
    "not-toml": ("[tool.contiguify\n", "not valid TOML"),
    "not-utf8": (b"[tool.contiguify]\n# \xff\n", "not UTF-8"),
}


@pytest.mark.parametrize("case", MALFORMED)
@pytest.mark.parametrize("command", ["check", "fix"])
def test_a_malformed_config_is_an_error_naming_file_and_key_and_the_run_goes_on(
    case: str, command: str, work: Path
) -> None:
    text, message = MALFORMED[case]
    checkout(work / "bad", text)
    good = checkout(work / "good", "[tool.contiguify]\n", {"multitalk/multitalk.py": SMALL})
    code, _, err = invoke(command, "bad", "good")
    assert code == 2
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: bad/pyproject.toml: {message}"), err
    assert (work / "bad" / "multitalk" / "multitalk.py").read_bytes() == ORIGINAL
    verb = "rewrote" if command == "fix" else "would rewrite"
    assert f"{verb} good/multitalk/multitalk.py" in err
    assert ((good / "multitalk" / "multitalk.py").read_bytes() == SMALL) == (command == "check")


def test_a_malformed_config_under_stdin_is_a_usage_error(work: Path) -> None:
    (work / "pyproject.toml").write_text("tool = 5\n")
    code, out, err = invoke("fix", "-", input=ORIGINAL)
    assert (code, out) == (2, b"")
    assert "pyproject.toml: tool must be a table, not an integer" in err and "Traceback" not in err


def test_each_checkout_uses_its_own_config(work: Path) -> None:
    mine = checkout(work / "mine", '[tool.contiguify]\ntargets = ["Mine.forward"]\n', {"other.py": MINE})
    plain = checkout(work / "plain", None, {"other.py": MINE})
    code, patch, _ = invoke("check", mine.name, plain.name)
    assert code == 1
    changed = {line.split(b" b/")[0].removeprefix(b"diff --git a/") for line in patch.splitlines()
               if line.startswith(b"diff --git ")}
    assert changed == {b"mine/other.py", b"plain/multitalk/multitalk.py"}


def test_config_is_found_above_a_named_file_and_from_another_working_directory(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = checkout(work / "checkout", '[tool.contiguify]\ntargets = ["Mine.forward"]\n', {"deep/er/other.py": MINE})
    (work / "elsewhere").mkdir()
    monkeypatch.chdir(work / "elsewhere")
    assert invoke("check", str(root / "multitalk" / "multitalk.py"))[:2] == (0, b"")
    assert invoke("check", str(root / "deep" / "er" / "other.py"))[0] == 1


EXCLUDES = {
    "directory name": "multitalk",
    "path from the root": "multitalk/multitalk.py",
    "glob from the root": "multitalk/*.py",
    "file name glob": "multi*.py",
    # Spelled as paths are: the same patterns once normalised.
    "directory with a slash": "multitalk/",
    "directory from dot": "./multitalk",
    "path from dot": "./multitalk/./multitalk.py",
    "doubled slash": "multitalk//multitalk.py",
    "any depth": "**/multitalk",
}


@pytest.mark.parametrize("pattern", EXCLUDES.values(), ids=list(EXCLUDES))
def test_exclude_is_relative_to_the_config_and_applies_to_named_files(pattern: str, work: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    root = checkout(work / "checkout", f'[tool.contiguify]\nexclude = ["{pattern}"]\n')
    for cwd, paths in ((work, ["checkout"]), (root, ["."]), (root, ["multitalk/multitalk.py"]),
                       (root / "multitalk", ["multitalk.py"]), (work, [str(root / "multitalk" / "multitalk.py")])):
        monkeypatch.chdir(cwd)
        code, out, err = invoke("fix", *paths)
        assert (code, out) == (0, b""), (cwd, paths, err)
        assert err.strip() == "0 files rewritten, 0 left unchanged, 0 errors"
    assert (root / "multitalk" / "multitalk.py").read_bytes() == ORIGINAL


def test_exclude_does_not_match_above_the_config(work: Path) -> None:
    """`exclude = ["work*"]` is about names inside the checkout, not the directories that hold it."""
    nested = checkout(work / "workspace" / "checkout", '[tool.contiguify]\nexclude = ["workspace", "check*"]\n')
    assert invoke("check", str(nested))[0] == 1


QUALIFIED = {
    "glob from the root": ("multitalk/*.py::SingleStreamAttention.forward", True, False),
    "file name": ("multitalk.py::SingleStreamAttention.forward", True, False),
    "another file": ("other.py::SingleStreamAttention.forward", False, True),
    "unqualified": ("SingleStreamAttention.forward", True, True),
}


@pytest.mark.parametrize("case", QUALIFIED)
@pytest.mark.parametrize("source", ["config", "command line"])
def test_path_qualified_targets_apply_only_to_matching_files(case: str, source: str, work: Path) -> None:
    target, in_multitalk, in_other = QUALIFIED[case]
    other = ORIGINAL.replace(b"SingleStreamMultiAttention", b"Unrelated")
    config = f'[tool.contiguify]\ntargets = ["{target}"]\n' if source == "config" else "[tool.contiguify]\n"
    root = checkout(work / "checkout", config, {"other.py": other})
    (work / "run-from-here").mkdir()
    options = ["--target", target] if source == "command line" else []
    code, patch, err = invoke("check", *options, str(root))
    assert code == (1 if in_multitalk or in_other else 0), err
    assert (b"multitalk/multitalk.py b/" in patch) == in_multitalk
    assert (b"other.py b/" in patch) == in_other


def test_targets_on_the_command_line_replace_those_of_the_config(work: Path) -> None:
    root = checkout(work / "checkout", '[tool.contiguify]\ntargets = ["Mine.forward"]\n', {"other.py": MINE})
    code, patch, _ = invoke("check", "--target", "SingleStream*.forward", str(root))
    assert code == 1 and b"multitalk.py" in patch and b"other.py" not in patch


TYPOS = {
    "command line": (["--target", "SingleStreamAtention.forward"], None),
    "config": ([], '[tool.contiguify]\ntargets = ["SingleStreamAtention.forward", "SingleStreamAttention.forward"]\n'),
    "path of a qualified target": (["--target", "multitalk/nope.py::SingleStreamAttention.forward"], None),
}


@pytest.mark.parametrize("case", TYPOS)
def test_a_target_that_matches_nothing_is_reported(case: str, work: Path) -> None:
    options, config = TYPOS[case]
    checkout(work / "checkout", config)
    code, _, err = invoke("check", *options, "checkout")
    typo = options[1] if options else "SingleStreamAtention.forward"
    assert f"warning: target '{typo}' matched nothing" in err
    assert err.count("matched nothing") == 1


@pytest.mark.parametrize("options", [
    [], ["--target", "SingleStream*.forward"],
    ["--target", "SingleStreamAttention.forward", "--target", "SingleStreamMutiAttention.forward"],
], ids=["defaults", "wildcard", "default spellings named"])
def test_targets_that_match_say_nothing(options: list[str], work: Path) -> None:
    """The defaults name spellings a checkout lacks (SingleStreamMutiAttention): no warning for them."""
    checkout(work / "checkout")
    code, _, err = invoke("check", *options, "checkout")
    assert code == 1 and "matched nothing" not in err


def test_stdin_takes_the_config_of_the_working_directory(work: Path) -> None:
    (work / "pyproject.toml").write_text('[tool.contiguify]\ntargets = ["Mine.forward"]\n')
    assert invoke("fix", "-", input=ORIGINAL)[:2] == (0, ORIGINAL)
    code, out, err = invoke("fix", "-", input=MINE)
    assert code == 1 and out != MINE
    assert "rewrote <stdin> to stdout (" in err and "would rewrite" not in err


def test_a_profile_from_the_config_and_strict(work: Path) -> None:
    old = rewrite((CASES / "aug2025_rearrange.in.py").read_bytes(), "seed").new or b""
    checkout(work / "strict", "[tool.contiguify]\nstrict = true\n", {"multitalk/multitalk.py": old})
    checkout(work / "lenient", None, {"multitalk/multitalk.py": old})
    assert invoke("check", "strict")[0] == 1
    assert invoke("check", "lenient")[0] == 0
    assert invoke("check", "--no-strict", "strict")[0] == 0
    shutil.rmtree(work / "lenient")
    checkout(work / "boundary", '[tool.contiguify]\nprofile = "boundary"\n')
    code, patch, _ = invoke("check", "boundary")
    assert code == 1 and b"q.contiguous(), encoder_k.contiguous(), encoder_v.contiguous()" in patch


def repository(path: Path) -> Path:
    """A checkout that is a git repository (what marks one: a `.git` in it)."""
    (path / ".git").mkdir(parents=True)
    return checkout(path)


HOSTILE = {
    "exclude everything": '[tool.contiguify]\nexclude = ["*"]\n',
    "other targets": '[tool.contiguify]\ntargets = ["Mine.forward"]\n',
    "entry points": '[tool.contiguify]\nprofile = "boundary"\n[[tool.contiguify.entry-points]]\nnames = ["*.view"]\nlayout = "B L H D"\n',
    "not TOML": "[tool.contiguify\n",
}


@pytest.mark.parametrize("case", HOSTILE)
@pytest.mark.parametrize("where", ["from above", "inside", "deep inside", "the file"])
def test_a_pyproject_above_the_repository_is_never_read(
    case: str, where: str, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (work / "pp").mkdir()
    (work / "pp" / "pyproject.toml").write_text(HOSTILE[case])
    root = repository(work / "pp" / "checkout")
    cwd, path = {"from above": (work, "pp/checkout"), "inside": (root, "."), "deep inside": (root / "multitalk", "."),
                 "the file": (work / "pp", "checkout/multitalk/multitalk.py")}[where]
    monkeypatch.chdir(cwd)
    code, patch, err = invoke("fix", "--no-cache", path)
    assert code == 1 and "error:" not in err, err
    assert (root / "multitalk" / "multitalk.py").read_bytes() == FIXED


def test_a_nested_repository_has_its_own_settings(work: Path) -> None:
    """Walking a tree that holds another checkout: that checkout is judged as if it were named itself."""
    outer = checkout(work / "outer", '[tool.contiguify]\ntargets = ["Mine.forward"]\n', {"other.py": MINE})
    inner = repository(outer / "vendored")
    code, patch, _ = invoke("check", "outer")
    names = {line.split(b" b/")[0].removeprefix(b"diff --git a/") for line in patch.splitlines()
             if line.startswith(b"diff --git ")}
    assert code == 1
    # The inner checkout's names are relative to its own repository root.
    assert names == {b"outer/other.py", b"multitalk/multitalk.py"}
    assert invoke("check", str(inner))[1] == patch[patch.index(b"diff --git a/multitalk/"):]
