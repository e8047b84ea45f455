"""The import hook, each behaviour in a fresh interpreter: what it loads, what it caches, every fallback.

Counts of `.contiguous()` calls come from the rewrite itself (`rewrite` of the same bytes), never from literals.
"""

from __future__ import annotations

import marshal
import os
from pathlib import Path

import pytest

from codemod.match.patterns import DEFAULT_TARGETS
from codemod.rewrite.file import rewrite

from .conftest import Child, run_child

INSTALL = """
import sys
import codemod.hook
hook = codemod.hook.install([{root!r}]{options})
sys.path.insert(0, {root!r})
"""
IMPORT_TARGET = INSTALL + """
import target
result = report(target)
result["libcst"] = "libcst" in sys.modules
result["torch"] = "torch" in sys.modules
result["loader"] = type(target.__loader__).__name__
"""


def _expected(tree: Path, profile: str = "seed") -> dict[str, int]:
    """`.contiguous()` calls per target forward after the rewrite fix writes, from the rewrite's own report."""
    result = rewrite((tree / "target.py").read_bytes(), profile, DEFAULT_TARGETS)
    assert result.error is None
    counts: dict[str, int] = {}
    for target in result.targets:
        counts[target.class_name] = counts.get(target.class_name, 0) + target.inserted
    return counts


def _import(tree: Path, cache: Path | None, options: str = "", env: dict[str, str] | None = None) -> Child:
    return run_child(IMPORT_TARGET.format(root=str(tree), options=options), tree, cache, env)


def _rewritten_lines(child: Child) -> list[str]:
    return [line for line in child.hook_lines if "rewrote in memory" in line]


def _warnings(child: Child) -> list[str]:
    return [line for line in child.hook_lines if "warning" in line]


def test_rewrites_in_memory_leaves_the_file_and_caches(target_tree: Path, cache_dir: Path) -> None:
    before = (target_tree / "target.py").read_bytes()
    first = _import(target_tree, cache_dir)
    assert first.returncode == 0, first.stderr
    expected = _expected(target_tree)
    assert {name: first.report[name] for name in expected} == expected and sum(expected.values()) > 0
    assert first.report["loader"] == "RewrittenLoader"
    [line] = _rewritten_lines(first)
    assert "target.py" in line and "profile seed" in line and f"{sum(expected.values())} insertions" in line
    assert "not cached" in line
    second = _import(target_tree, cache_dir)
    [line] = _rewritten_lines(second)
    assert "from the cache" in line
    assert {name: second.report[name] for name in expected} == expected
    assert second.report["libcst"] is False and second.report["torch"] is False  # a hit needs neither
    assert first.report["torch"] is False
    assert (target_tree / "target.py").read_bytes() == before
    # Nothing of the rewrite is left for a plain import: no bytecode of it beside the file.
    plain = run_child(f"import sys\nsys.path.insert(0, {str(target_tree)!r})\nimport target\nresult = report(target)",
                      target_tree, cache_dir)
    assert all(plain.report[name] == 0 for name in expected), plain.stderr


def test_profile_option_overrides_the_settings(target_tree: Path, cache_dir: Path) -> None:
    child = _import(target_tree, cache_dir, ", profile='boundary'")
    expected = _expected(target_tree, "boundary")
    assert {name: child.report[name] for name in expected} == expected
    assert expected != _expected(target_tree, "seed")
    assert "profile boundary" in _rewritten_lines(child)[0]


def test_checkout_settings_choose_the_profile(target_tree: Path, cache_dir: Path) -> None:
    (target_tree / "pyproject.toml").write_text('[tool.contiguify]\nprofile = "boundary"\n')
    child = _import(target_tree, cache_dir)
    assert {name: child.report[name] for name in _expected(target_tree, "boundary")} == _expected(target_tree,
                                                                                                 "boundary")


def test_excluded_file_is_left_alone(target_tree: Path, cache_dir: Path) -> None:
    (target_tree / "pyproject.toml").write_text('[tool.contiguify]\nexclude = ["target.py"]\n')
    child = _import(target_tree, cache_dir)
    assert child.returncode == 0 and not child.hook_lines
    assert child.report["loader"] == "SourceFileLoader"


def test_file_fixed_on_disk_loads_as_it_is(target_tree: Path, cache_dir: Path) -> None:
    fixed = rewrite((target_tree / "target.py").read_bytes(), "seed", DEFAULT_TARGETS)
    assert fixed.new is not None
    (target_tree / "target.py").write_bytes(fixed.new)
    child = _import(target_tree, cache_dir)
    assert child.report["loader"] == "SourceFileLoader"
    assert not _rewritten_lines(child) and not _warnings(child)
    assert any("already has its .contiguous() calls" in line for line in child.hook_lines)


def test_traceback_names_the_real_file_and_line(target_tree: Path, cache_dir: Path) -> None:
    source = (target_tree / "target.py").read_bytes()
    line = source[:source.index(b"class SingleStreamAttention")].count(b"\n") + 1
    code = INSTALL.format(root=str(target_tree), options="") + (
        "import target\nforward = target.SingleStreamAttention.forward\n"
        "result = {'file': forward.__code__.co_filename, 'class_line': target.SingleStreamAttention.forward"
        ".__code__.co_firstlineno, 'loader': type(target.__loader__).__name__}\n")
    child = run_child(code, target_tree, cache_dir)
    assert child.report["loader"] == "RewrittenLoader"
    assert child.report["file"] == str(target_tree / "target.py")
    method_line = source.split(b"\n")[child.report["class_line"] - 1]
    assert method_line.strip().startswith(b"def forward") and child.report["class_line"] > line


def test_syntax_error_warns_once_and_loads_unmodified(target_tree: Path, cache_dir: Path) -> None:
    path = target_tree / "target.py"
    path.write_bytes(path.read_bytes() + b"\ndef broken(:\n")
    code = INSTALL.format(root=str(target_tree), options="") + (
        "try:\n    import target\nexcept SyntaxError as error:\n    result = {'error': error.filename}\n")
    child = run_child(code, target_tree, cache_dir)
    assert child.returncode == 0, child.stderr
    assert child.report == {"error": str(path)}  # Python's own error for the unmodified file, nothing of the hook's
    [warning] = _warnings(child)
    assert "target.py" in warning and "syntax error" in warning and "loaded unmodified" in warning


def test_refused_rewrite_warns_once_and_loads_unmodified(target_tree: Path, cache_dir: Path) -> None:
    (target_tree / "pyproject.toml").write_text("[tool.contiguify]\nmax-file-size = 100\n")
    child = _import(target_tree, cache_dir)
    assert child.returncode == 0, child.stderr
    assert child.report["loader"] == "SourceFileLoader" and child.report["SingleStreamAttention"] == 0
    [warning] = _warnings(child)
    assert "target.py" in warning and "too large" in warning and "loaded unmodified" in warning


def test_missing_libcst_warns_once_and_loads_unmodified(target_tree: Path) -> None:
    code = "import sys\nsys.modules['libcst'] = None\n" + IMPORT_TARGET.format(root=str(target_tree), options="")
    child = run_child(code, target_tree, None)
    assert child.returncode == 0, child.stderr
    assert child.report["SingleStreamAttention"] == 0
    [warning] = _warnings(child)
    assert "target.py" in warning and "libcst" in warning and "loaded unmodified" in warning


def _entries(cache: Path) -> list[Path]:
    return [path for path in cache.glob("*/*") if path.is_file() and not path.name.startswith((".", "CACHEDIR"))]


def _forge(entry: Path) -> None:
    """Code in place of the insertions, with the checksum recomputed, as someone who can write the cache would."""
    from codemod.run.cache import _checksum

    payload = marshal.loads(entry.read_bytes().partition(b"\n")[2])
    payload["insertions"][0] = [0, "import os; os.system('exit 3')\n"]
    data = marshal.dumps(payload)
    entry.write_bytes(_checksum(data) + b"\n" + data)


@pytest.mark.parametrize("damage", ["forged", "corrupt"])
def test_damaged_cache_entry_is_a_miss(target_tree: Path, cache_dir: Path, damage: str) -> None:
    assert _import(target_tree, cache_dir).returncode == 0
    [entry] = _entries(cache_dir)
    if damage == "forged":
        _forge(entry)
    else:
        entry.write_bytes(entry.read_bytes()[:-40] + os.urandom(40))
    child = _import(target_tree, cache_dir)
    assert child.returncode == 0, child.stderr
    expected = _expected(target_tree)
    assert {name: child.report[name] for name in expected} == expected
    [line] = _rewritten_lines(child)
    assert "not cached" in line  # rewritten afresh


def _code_entries(cache: Path) -> list[Path]:
    return [path for path in cache.glob("*/code/*") if path.is_file() and not path.name.endswith(".tmp")]


def test_a_hit_runs_the_code_compiled_before_and_neither_parses_nor_compiles(target_tree: Path,
                                                                             cache_dir: Path) -> None:
    first = _import(target_tree, cache_dir)
    assert first.returncode == 0, first.stderr
    [code_entry] = _code_entries(cache_dir)
    probe = INSTALL.format(root=str(target_tree), options="") + """
import ast, builtins
seen = []
real_parse, real_compile = ast.parse, builtins.compile
ast.parse = lambda *a, **k: seen.append("parse") or real_parse(*a, **k)
builtins.compile = lambda *a, **k: seen.append("compile") or real_compile(*a, **k)
import target
ast.parse, builtins.compile = real_parse, real_compile
result = report(target)
result["seen"] = seen
result["filename"] = target.SingleStreamAttention.forward.__code__.co_filename
"""
    second = run_child(probe, target_tree, cache_dir)
    assert second.returncode == 0, second.stderr
    expected = _expected(target_tree)
    assert {name: second.report[name] for name in expected} == expected
    assert second.report["seen"] == []
    assert second.report["filename"] == str(target_tree / "target.py")
    assert "from the cache" in _rewritten_lines(second)[0]
    assert _code_entries(cache_dir) == [code_entry]


def _not_code(entry: Path) -> None:
    from codemod.run.cache import _checksum

    data = marshal.dumps({"not": "code"})
    entry.write_bytes(_checksum(data) + b"\n" + data)


def _code_of_another_file(entry: Path) -> None:
    from codemod.run.cache import _checksum

    data = marshal.dumps(compile("import os; os._exit(3)", "/elsewhere/target.py", "exec"))
    entry.write_bytes(_checksum(data) + b"\n" + data)


CODE_DAMAGE = {
    "corrupt": lambda entry: entry.write_bytes(entry.read_bytes()[:-40] + os.urandom(40)),
    "not-code": _not_code,
    "another-files-code": _code_of_another_file,
    "truncated": lambda entry: entry.write_bytes(entry.read_bytes()[:100]),
}


@pytest.mark.parametrize("damage", CODE_DAMAGE)
def test_a_damaged_code_entry_is_compiled_again(target_tree: Path, cache_dir: Path, damage: str) -> None:
    """The result entry still holds: the hit checks it as `check` does, compiles it and writes the code again."""
    assert _import(target_tree, cache_dir).returncode == 0
    [code_entry] = _code_entries(cache_dir)
    good = code_entry.read_bytes()
    CODE_DAMAGE[damage](code_entry)
    child = _import(target_tree, cache_dir)
    assert child.returncode == 0, child.stderr
    expected = _expected(target_tree)
    assert {name: child.report[name] for name in expected} == expected
    assert "from the cache" in _rewritten_lines(child)[0] and not _warnings(child)
    assert code_entry.read_bytes() == good


def test_a_code_entry_is_bound_to_its_file_and_its_result_entry(target_tree: Path, cache_dir: Path,
                                                                tmp_path: Path) -> None:
    """The same bytes at another path get code of their own (tracebacks name each file); a changed result entry
    (the forged test above) leaves the code entry unused."""
    assert _import(target_tree, cache_dir).returncode == 0
    other = tmp_path / "other"
    other.mkdir()
    (other / "target.py").write_bytes((target_tree / "target.py").read_bytes())
    child = _import(other, cache_dir)
    assert child.returncode == 0, child.stderr
    assert len(_code_entries(cache_dir)) == 2
    [entry] = _entries(cache_dir)  # one result entry: the key is the bytes, not the path
    _forge(entry)
    forged = _import(target_tree, cache_dir)
    assert "not cached" in _rewritten_lines(forged)[0]


def test_unwritable_cache_warns_once_and_still_rewrites(target_tree: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    child = _import(target_tree, blocked / "cache")
    assert child.returncode == 0, child.stderr
    expected = _expected(target_tree)
    assert {name: child.report[name] for name in expected} == expected
    [warning] = _warnings(child)
    assert "target.py" in warning and "cannot write the result cache" in warning


def test_module_imported_before_the_hook_is_reported(target_tree: Path, cache_dir: Path) -> None:
    code = (f"import sys\nsys.path.insert(0, {str(target_tree)!r})\nimport target\n"
            + INSTALL.format(root=str(target_tree), options="") + "result = report(target)\n")
    child = run_child(code, target_tree, cache_dir)
    assert child.returncode == 0, child.stderr
    assert child.report["SingleStreamAttention"] == 0
    [line] = child.hook_lines  # the warning alone: the file was not rewritten
    assert "warning" in line and "target.py" in line and "imported before the hook" in line


def test_uninstall_and_context_manager(target_tree: Path, cache_dir: Path) -> None:
    code = f"""
import sys
import codemod.hook
sys.path.insert(0, {str(target_tree)!r})
with codemod.hook.install([{str(target_tree)!r}]):
    installed = codemod.hook.installed() is not None
    import target
after = codemod.hook.installed() is None and not any(type(f).__name__ == "ContiguifyFinder" for f in sys.meta_path)
del sys.modules["target"]
import target as again
result = {{"inside": report(target), "again": report(again), "installed": installed, "after": after,
           "uninstall_again": codemod.hook.uninstall()}}
"""
    child = run_child(code, target_tree, cache_dir)
    assert child.returncode == 0, child.stderr
    expected = _expected(target_tree)
    assert {name: child.report["inside"][name] for name in expected} == expected
    assert all(count == 0 for count in child.report["again"].values())
    assert child.report["installed"] and child.report["after"] and child.report["uninstall_again"] is False


def test_a_file_changed_on_disk_is_rewritten_again_on_reload(target_tree: Path, cache_dir: Path) -> None:
    path = target_tree / "target.py"
    code = INSTALL.format(root=str(target_tree), options="") + f"""
import importlib, pathlib
import target
path = pathlib.Path({str(path)!r})
path.write_bytes(path.read_bytes() + b"\\nVERSION = 2\\n")
importlib.reload(target)
result = report(target)
result["version"] = getattr(target, "VERSION", None)
"""
    child = run_child(code, target_tree, cache_dir)
    assert child.returncode == 0, child.stderr
    assert child.report["version"] == 2
    expected = _expected(target_tree)  # of the file as it is now
    assert {name: child.report[name] for name in expected} == expected
    assert len(_rewritten_lines(child)) == 2


def test_the_checkouts_own_entry_points_are_used(tmp_path: Path, cache_dir: Path) -> None:
    """The vendor checkout declares its attention kernel in its pyproject.toml: the hook rewrites as fix does there."""
    from codemod.config import Project, Projects
    from fixtures.builders import torch_free
    from fixtures.catalog import FIXTURES

    vendor = FIXTURES / "vendor"
    tree = tmp_path / "vendor"
    tree.mkdir()
    (tree / "pyproject.toml").write_bytes((vendor / "pyproject.toml").read_bytes())
    (tree / "target.py").write_bytes(torch_free((vendor / "multitalk" / "multitalk.py").read_bytes()))
    project = Projects().for_file(str(tree / "target.py"))
    assert isinstance(project, Project) and project.declared_entry_points
    data = (tree / "target.py").read_bytes()
    own = rewrite(data, "boundary", DEFAULT_TARGETS, entry_points=project.entry_points)
    builtin = rewrite(data, "boundary", DEFAULT_TARGETS)
    expected = {target.class_name: target.inserted for target in own.targets}
    assert expected != {target.class_name: target.inserted for target in builtin.targets}
    child = _import(tree, cache_dir, ", profile='boundary'")
    assert child.returncode == 0, child.stderr
    assert {name: child.report[name] for name in expected} == expected


@pytest.mark.parametrize("problem", ["link", "others-may-write"])
def test_code_entries_in_a_directory_that_is_not_private_are_not_run(target_tree: Path, cache_dir: Path,
                                                                      tmp_path: Path, problem: str) -> None:
    """The code directory is held to the root's rule: a link to elsewhere, or one others may write, is not read."""
    assert _import(target_tree, cache_dir).returncode == 0
    [code_entry] = _code_entries(cache_dir)
    code_directory = code_entry.parent
    if problem == "link":
        elsewhere = tmp_path / "elsewhere"
        code_directory.rename(elsewhere)
        code_directory.symlink_to(elsewhere, target_is_directory=True)
    else:
        code_directory.chmod(0o777)
    probe = INSTALL.format(root=str(target_tree), options="") + """
import builtins
seen = []
real_compile = builtins.compile
builtins.compile = lambda *a, **k: seen.append("compile") or real_compile(*a, **k)
import target
builtins.compile = real_compile
result = report(target)
result["seen"] = seen
"""
    child = run_child(probe, target_tree, cache_dir)
    assert child.returncode == 0, child.stderr
    expected = _expected(target_tree)
    assert {name: child.report[name] for name in expected} == expected
    assert "compile" in child.report["seen"]  # compiled afresh, from the checked result entry
