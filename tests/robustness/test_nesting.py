"""Deep nesting: libcst's native parser crashes the interpreter (SIGSEGV) on a few thousand levels of
brackets and takes minutes on long operator chains, so such a file is measured on tokens and reported
before libcst sees it; and a parser that crashes anyway, in a worker, costs that file alone."""

from __future__ import annotations

import multiprocessing
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from codemod.guards import MAX_NESTING, nesting_problem
from codemod.isolation import death_reason
from codemod.match.patterns import DEFAULT_TARGETS, parse_targets
from codemod.results import FileResult
from codemod.rewrite import file as rewrite_file
from codemod.run import runner
from codemod.run.job import Job
from codemod.run.runner import rewrite_job
from fixtures.catalog import CASES, WRAPPER, cases

from .conftest import JAN2026_SEED, all_files

TARGETS = parse_targets(DEFAULT_TARGETS)
# The file ends without a newline, as upstream's does: one is added so that what a test appends is a line of its own.
MULTITALK = (WRAPPER / "multitalk" / "multitalk.py").read_bytes() + b"\n"

# Expressions `depth` levels deep, one per way Python nests: each bracket, and each operator, attribute,
# call or subscript of a chain, is a level (a conditional and a lambda are two: `if`/`else`, `lambda`/`:`).
NESTED: dict[str, Callable[[int], str]] = {
    "parentheses": lambda depth: "(" * depth + "1" + ")" * depth,
    "lists": lambda depth: "[" * depth + "]" * depth,
    "dicts": lambda depth: "{1: " * (depth // 2) + "1" + "}" * (depth // 2),
    "sum": lambda depth: "+".join(["a"] * (depth + 1)),
    "attributes": lambda depth: "a" + ".b" * depth,
    "calls": lambda depth: "f" + "()" * depth,
    "subscripts": lambda depth: "a" + "[0]" * depth,
    "not": lambda depth: "not " * depth + "a",
    "unary-minus": lambda depth: "-" * depth + "a",
    "power": lambda depth: "**".join(["a"] * (depth + 1)),
    "conditional": lambda depth: "a if b else " * (depth // 2) + "c",
    "lambda": lambda depth: "lambda: " * (depth // 2) + "a",
    "f-string": lambda depth: 'f"{' + "(" * depth + "1" + ")" * depth + '}"',
}
# Flat, however long: nothing nests in a sequence of elements.
FLAT: dict[str, Callable[[int], str]] = {
    "list": lambda size: "[" + ", ".join(["a + b"] * size) + "]",
    "arguments": lambda size: "f(" + ", ".join(f"x{number}=a.b(c)" for number in range(size)) + ")",
    "strings": lambda size: "(" + "\n".join(['"text"'] * size) + ")",
    "statements": lambda size: "1\n" + "\n".join(["y = a + b"] * size),
}


def _module(expression: str) -> str:
    return f"import torch\n\n\ndef helper(a, b, c, f):\n    return 1\n\n\nX = {expression}\n"


@pytest.mark.parametrize("construct", NESTED, ids=str)
def test_too_deep_is_reported_with_its_line(construct: str) -> None:
    problem = nesting_problem(_module(NESTED[construct](MAX_NESTING + 10)))
    assert problem == f"too deeply nested to parse safely: more than {MAX_NESTING} levels at line 8"


@pytest.mark.parametrize("construct", NESTED, ids=str)
def test_nesting_within_the_limit_passes(construct: str) -> None:
    assert nesting_problem(_module(NESTED[construct](MAX_NESTING - 10))) is None


@pytest.mark.parametrize("construct", FLAT, ids=str)
def test_long_flat_code_passes(construct: str) -> None:
    assert nesting_problem(_module(FLAT[construct](MAX_NESTING * 4))) is None


def test_a_file_that_does_not_tokenize_is_left_to_the_parser() -> None:
    assert nesting_problem("def f(:\n    return (\n") is None
    result = rewrite_job(Job("m.py", MULTITALK + b"\nX = (\n", "seed", TARGETS))
    assert result.error is not None and result.error.startswith("syntax error")


def test_moderate_nesting_in_a_target_file_is_rewritten() -> None:
    deep = rewrite_job(Job("m.py", MULTITALK + b"\nX = " + NESTED["sum"](50).encode() + b"\n", "seed", TARGETS))
    plain = rewrite_job(Job("m.py", MULTITALK, "seed", TARGETS))
    assert deep.error is None and deep.changed and deep.targets == plain.targets


def _deep_tree(root: Path) -> dict[str, bytes]:
    """The shapes of the report: 5,000 levels of parentheses and 30,000 terms after a real multitalk.py."""
    files = {
        "a_todo.py": (CASES / "jan2026.in.py").read_bytes(),
        "multitalk.py": MULTITALK + b"X = " + b"(" * 5000 + b"1" + b")" * 5000 + b"\n",
        "sum.py": MULTITALK + b"Y = " + b"+".join([b"a"] * 30000) + b"\n",
        "fstring.py": MULTITALK + b'Z = f"{' + b"(" * 5000 + b"1" + b")" * 5000 + b'}"\n',
        "z_plain.py": b"import torch\n",
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    return files


def _contiguify(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "codemod", *args], cwd=cwd, capture_output=True, text=True,
                          check=False, timeout=120)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_deep_file_costs_itself_alone(jobs: str, tmp_path: Path) -> None:
    files = _deep_tree(tmp_path)
    finished = _contiguify("fix", "--jobs", jobs, ".", cwd=tmp_path)
    assert finished.returncode == 2, finished.stderr
    for name in ("multitalk.py", "sum.py", "fstring.py"):
        assert f"error: {name}: too deeply nested to parse safely: more than {MAX_NESTING} levels at line" \
            in finished.stderr
        assert (tmp_path / name).read_bytes() == files[name]
    assert (tmp_path / "a_todo.py").read_bytes() == JAN2026_SEED
    assert (tmp_path / "z_plain.py").read_bytes() == files["z_plain.py"]
    assert all_files(tmp_path) == set(files)


def test_one_deep_file_as_a_hook_runs_it(tmp_path: Path) -> None:
    _deep_tree(tmp_path)
    finished = _contiguify("fix", "multitalk.py", cwd=tmp_path)
    assert finished.returncode == 2
    assert finished.stderr.startswith("error: multitalk.py: too deeply nested")


@pytest.mark.skipif(multiprocessing.get_start_method() != "fork", reason="the patch reaches workers through fork")
def test_a_parser_crash_in_a_worker_costs_that_file_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the pre-check off, libcst really crashes on the deep file (50,000 levels overflow even the worker's
    large stack): in a worker, which is replaced."""
    monkeypatch.setattr(rewrite_file, "nesting_problem", lambda text: None)
    sources = [case.source for case in cases()][:6]
    jobs = [Job(path.name, path.read_bytes(), "seed", TARGETS) for path in sources]
    deep = Job("deep.py", MULTITALK + b"X = " + b"(" * 50_000 + b"1" + b")" * 50_000 + b"\n", "seed", TARGETS)
    jobs.insert(3, deep)
    results = runner.rewrite_jobs(jobs, 2)
    reason = death_reason(-signal.SIGSEGV, runner.parse_limits(len(deep.data)))
    assert results[3] == FileResult("deep.py", error=f"{reason}; left untouched")
    assert [result for result in results if result is not results[3]] == [rewrite_job(job) for job in jobs
                                                                           if job is not deep]
