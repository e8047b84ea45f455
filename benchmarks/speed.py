"""How fast `contiguify check` is on a checkout-sized tree and on a large tree, next to ruff; and what
one large or deeply nested target file costs in time and memory.

    python benchmarks/speed.py [--repeat N] [--checkout PATH] [--large PATH] [--skip-large] [--sizes MB,MB,...]
                               [--only-files]

Tree (a) is built in a temporary directory to the size of a ComfyUI-WanVideoWrapper checkout
(145 files, about 40k lines): the fixture `multitalk.py` with its package, a large module that
imports and uses the target classes without defining them (as upstream's model code does), and
ordinary modules of the running interpreter's standard library. Tree (b) is the running
interpreter's site-packages unless `--large` names another.

Every timing is the whole command as a user runs it (interpreter start included), the median of
`--repeat` runs, with the minimum beside it. "first" runs each start from an empty result cache,
"repeated" runs share one that an earlier run filled. ruff runs as `ruff check --select E9 --no-cache`,
in the same run; each contiguify row gives its ratio to ruff. Beside the wall time, each row has the
CPU time (user + system, of the command and its worker processes): on a machine loaded by other work,
the wall time is the machine's, the CPU time the command's. `--checkout` adds a real checkout (r).
PYTHONDONTWRITEBYTECODE is cleared for the timed commands: an installed package has its bytecode
compiled, and a run that compiles every module of its own measures the compiler.

Large files: the fixture `multitalk.py` followed by ordinary code (standard-library modules) up to
each size, checked once with no cache and no size limit: wall time and the peak resident memory of
the process (from `wait4`). Then the largest with the default limit, and deeply nested files: both
are refused before parsing. The nesting check alone is timed in this process on `multitalk.py`.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_CHECKOUT = ROOT / "fixtures" / "comfyui" / "custom_nodes" / "ComfyUI-WanVideoWrapper"
CHECKOUT_FILES = 145
SKIPPED_STDLIB = {"site-packages", "test", "tests", "idlelib", "lib2to3", "__pycache__", "turtledemo"}

MODEL_USE = b'''

from ..multitalk.multitalk import SingleStreamAttention, SingleStreamMultiAttention


class AudioBlock:
    """Builds the audio cross-attention the way upstream's model code does."""

    def __init__(self, dim, heads, multi):
        cls = SingleStreamMultiAttention if multi else SingleStreamAttention
        self.audio_cross_attn = cls(dim=dim, encoder_hidden_states_dim=768, num_heads=heads)
'''


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n")


def _stdlib_modules() -> list[Path]:
    """Ordinary modules of 60 to 700 lines, in a fixed order."""
    found: list[Path] = []
    for root, directories, files in os.walk(sysconfig.get_paths()["stdlib"]):
        directories[:] = sorted(name for name in directories if name not in SKIPPED_STDLIB)
        found.extend(Path(root, name) for name in sorted(files) if name.endswith(".py"))
    return [path for path in found if 60 <= _lines(path) <= 700]


def build_checkout(destination: Path) -> Path:
    """Tree (a): 145 files; the same files on every run of this script with the same Python."""
    shutil.copytree(FIXTURE_CHECKOUT, destination, ignore=shutil.ignore_patterns("__pycache__"))
    modules = _stdlib_modules()
    largest = max(modules, key=_lines)
    model = destination / "wanvideo" / "modules" / "model.py"
    model.write_bytes(largest.read_bytes() + MODEL_USE)
    have = sum(1 for _ in destination.rglob("*.py"))
    wanted = CHECKOUT_FILES - have
    others = [path for path in modules if path != largest]
    step = len(others) / wanted
    for number in range(wanted):
        source = others[int(number * step)]
        folder = destination / "nodes" / f"group{number // 20}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{number:03d}_{source.name}").write_bytes(source.read_bytes())
    return destination


def count_tree(tree: Path) -> tuple[int, int]:
    """Files and lines that contiguify looks at, found the way it finds them."""
    from codemod.run.files import iter_candidates, read_source

    files = lines = 0
    for candidate in iter_candidates([str(tree)]):
        source = read_source(candidate.path)
        if candidate.problem is None and not isinstance(source, str):
            files += 1
            lines += source.data.count(b"\n")
    return files, lines


def contiguify_command() -> list[str]:
    script = Path(sys.executable).with_name("contiguify")
    return [str(script)] if script.exists() else [sys.executable, "-m", "codemod"]


def ruff_command() -> list[str] | None:
    beside = Path(sys.executable).with_name("ruff")
    found = str(beside) if beside.exists() else shutil.which("ruff")
    return [found, "check", "--select", "E9", "--no-cache", "--quiet"] if found else None


class Progress:
    """`benchmark: <what> 3/10` on stderr, only when stderr is a terminal."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()

    def show(self, text: str) -> None:
        if self.enabled:
            sys.stderr.write(f"\r\x1b[Kbenchmark: {text}")
            sys.stderr.flush()

    def clear(self) -> None:
        self.show("")
        if self.enabled:
            sys.stderr.write("\r\x1b[K")


def environment(**extra: str) -> dict[str, str]:
    variables = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    return {**variables, **extra}


class Times(NamedTuple):
    """Per run: wall seconds, and CPU seconds (user + system) of the command and every process it waited for."""

    wall: list[float]
    cpu: list[float]


def timed(
    label: str, command: Sequence[str], repeat: int, progress: Progress,
    before: Callable[[], dict[str, str]] | None = None,
) -> Times:
    """Wall and CPU times of `repeat` runs; `before` prepares each run and returns its environment.

    CPU time comes from `wait4` (the command's and its children's): on a machine that other work
    loads, it moves far less than the wall time does.
    """
    times = Times([], [])
    for number in range(repeat):
        variables = before() if before is not None else environment()
        progress.show(f"{label} {number + 1}/{repeat}")
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=variables)
        assert child.stderr is not None
        errors = child.stderr.read()
        _, status, usage = os.wait4(child.pid, 0)
        times.wall.append(time.perf_counter() - start)
        times.cpu.append(usage.ru_utime + usage.ru_stime)
        child.stderr.close()
        code = os.waitstatus_to_exitcode(status)
        if code not in (0, 1, 2):
            raise SystemExit(f"{label}: exit {code}\n{errors.decode(errors='replace')}")
    return times


def row(label: str, times: Times, files: int, lines: int, peer: Times | None = None) -> str:
    median = statistics.median(times.wall)
    cpu = statistics.median(times.cpu)
    ratio = ""
    if peer is not None:
        ratio = (f"  {median / statistics.median(peer.wall):5.1f}x ruff's wall, "
                 f"{cpu / statistics.median(peer.cpu):5.1f}x its CPU")
    return (f"  {label:<34} {median:8.3f} s  (min {min(times.wall):.3f})  CPU {cpu:6.3f} s  "
            f"{files / median:10,.0f} files/s  {lines / median:12,.0f} lines/s{ratio}")


class CacheDirs:
    """Fresh or shared result caches, all under one temporary directory."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.count = 0

    def fresh(self) -> dict[str, str]:
        self.count += 1
        return environment(CONTIGUIFY_CACHE_DIR=str(self.base / f"fresh{self.count}"))

    def shared(self) -> dict[str, str]:
        return environment(CONTIGUIFY_CACHE_DIR=str(self.base / "shared"))


def bench_tree(name: str, tree: Path, repeat: int, caches: CacheDirs, progress: Progress) -> list[str]:
    """`check` of a whole tree, from an empty result cache and from a filled one, and ruff on it in the same run."""
    files, lines = count_tree(tree)
    check = [*contiguify_command(), "check", str(tree)]
    lines_out = [f"({name}) {tree}: {files:,} files, {lines:,} lines"]
    timed(f"{name} warm-up", check, 1, progress, caches.shared)  # page cache, and the shared result cache
    ruff = ruff_command()
    peer = None
    if ruff is not None:
        timed(f"{name} ruff warm-up", [*ruff, str(tree)], 1, progress)
        peer = timed(f"{name} ruff", [*ruff, str(tree)], repeat, progress)
    lines_out.append(row("contiguify check, first run", timed(f"{name} first", check, repeat, progress, caches.fresh),
                         files, lines, peer))
    lines_out.append(row("contiguify check, repeated run",
                         timed(f"{name} repeated", check, repeat, progress, caches.shared), files, lines, peer))
    if peer is not None:
        lines_out.append(row("ruff check --select E9 --no-cache", peer, files, lines))
    else:
        lines_out.append("  ruff: not installed (pip install ruff)")
    return lines_out


def bench_start(repeat: int, progress: Progress) -> str:
    """The floor under every contiguify run: starting this interpreter, with its site packages."""
    times = timed("interpreter start", [sys.executable, "-c", "pass"], repeat, progress)
    return (f"python -c pass (interpreter start): {statistics.median(times.wall):.3f} s (min {min(times.wall):.3f}, "
            f"CPU {statistics.median(times.cpu):.3f} s)")


def bench_one_file(tree: Path, repeat: int, caches: CacheDirs, progress: Progress, scratch: Path) -> list[str]:
    """What a pre-commit hook runs: `contiguify fix FILE` on the file with the targets, unfixed each time."""
    original = tree / "multitalk" / "multitalk.py"
    copy = scratch / "multitalk.py"
    other = next((tree / "nodes").rglob("*.py"))

    def unfixed_and_fresh() -> dict[str, str]:
        shutil.copyfile(original, copy)
        return caches.fresh()

    def unfixed_and_shared() -> dict[str, str]:
        shutil.copyfile(original, copy)
        return caches.shared()

    fix = [*contiguify_command(), "fix", str(copy)]
    lines_original = _lines(original)
    return [
        "(pre-commit) one file",
        row("fix multitalk.py, first run", timed("fix first", fix, repeat, progress, unfixed_and_fresh),
            1, lines_original),
        row("fix multitalk.py, repeated run", timed("fix repeated", fix, repeat, progress, unfixed_and_shared),
            1, lines_original),
        row("check a file without targets", timed("check other", [*contiguify_command(), "check", str(other)],
                                                   repeat, progress, caches.fresh), 1, _lines(other)),
    ]


class Measured(NamedTuple):
    wall_s: float
    cpu_s: float
    peak_bytes: int
    exit_code: int

    def __str__(self) -> str:
        return (f"{self.wall_s:7.2f} s ({self.cpu_s:6.2f} s CPU), peak {self.peak_bytes / 2**20:5.0f} MiB, "
                f"exit {self.exit_code}")


def measured(command: Sequence[str], variables: dict[str, str]) -> Measured:
    """One run of `command`: its wall and CPU time, and its peak resident memory (from `wait4`)."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=variables)
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    peak = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    return Measured(elapsed, usage.ru_utime + usage.ru_stime, peak, child.returncode)


def large_file(destination: Path, size: int) -> Path:
    """`multitalk.py`, then ordinary modules in turn (one valid module in all) up to about `size` bytes."""
    modules = [data for data in (path.read_bytes() for path in _stdlib_modules()) if b"from __future__" not in data]
    pieces = [(FIXTURE_CHECKOUT / "multitalk" / "multitalk.py").read_bytes() + b"\n"]
    total = len(pieces[0])
    for module in itertools.cycle(modules):
        if total >= size:
            break
        pieces.append(module + b"\n")
        total += len(pieces[-1])
    destination.write_bytes(b"".join(pieces))
    return destination


def bench_files(sizes_mb: Sequence[float], scratch: Path, caches: CacheDirs, progress: Progress) -> list[str]:
    """Time and peak memory of `check` on one target file per size, with no size limit; then what the
    limits refuse."""
    from codemod.guards import MAX_NESTING, nesting_problem

    report = ["(large and deep files) one target file, no cache"]
    unlimited = "--max-file-size=1000000000000"
    for size_mb in sizes_mb:
        path = large_file(scratch / f"large_{size_mb}.py", int(size_mb * 1_000_000))
        progress.show(f"large file {size_mb} MB")
        run = measured([*contiguify_command(), "check", unlimited, str(path)], caches.fresh())
        report.append(f"  {path.stat().st_size / 1e6:6.2f} MB, {_lines(path):8,} lines: {run}")
    largest = scratch / f"large_{sizes_mb[-1]}.py"
    run = measured([*contiguify_command(), "check", str(largest)], caches.fresh())
    report.append(f"  {largest.stat().st_size / 1e6:6.2f} MB with the default limit: {run}")
    multitalk = (FIXTURE_CHECKOUT / "multitalk" / "multitalk.py").read_bytes() + b"\n"
    for label, expression in (("5,000 parentheses", b"(" * 5000 + b"1" + b")" * 5000),
                              ("30,000-term sum", b"+".join([b"a"] * 30000))):
        path = scratch / "deep.py"
        path.write_bytes(multitalk + b"X = " + expression + b"\n")
        run = measured([*contiguify_command(), "check", str(path)], caches.fresh())
        report.append(f"  multitalk.py + {label}: {run}")
    text = multitalk.decode()
    start = time.process_time()
    for _ in range(20):
        assert nesting_problem(text, MAX_NESTING) is None
    report.append(f"  nesting check of multitalk.py ({len(multitalk):,} bytes): "
                  f"{(time.process_time() - start) / 20 * 1000:.1f} ms CPU")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=10, help="runs per timing (default 10)")
    parser.add_argument("--large", type=Path, default=Path(sysconfig.get_paths()["purelib"]),
                        help="the large tree (default: this interpreter's site-packages)")
    parser.add_argument("--checkout", type=Path, action="append", default=[],
                        help="also time this real checkout (repeatable), e.g. a ComfyUI-WanVideoWrapper clone")
    parser.add_argument("--skip-large", action="store_true", help="time tree (a) only")
    parser.add_argument("--sizes", default="0.25,0.5,1,2,4",
                        help="sizes in MB of the large target files (default 0.25,0.5,1,2,4)")
    parser.add_argument("--only-files", action="store_true", help="the large and deep files only")
    arguments = parser.parse_args()
    sizes = [float(size) for size in arguments.sizes.split(",")]
    progress = Progress()
    print(f"machine: {os.cpu_count()} CPUs, {platform.machine()}, {platform.system()} {platform.release()}")
    print(f"python {platform.python_version()} ({sys.executable})")
    ruff = ruff_command()
    if ruff is not None:
        version = subprocess.run([ruff[0], "--version"], check=True, capture_output=True, text=True).stdout.strip()
        print(f"{version}")
    print(f"median of {arguments.repeat} runs each\n")
    with tempfile.TemporaryDirectory(prefix="contiguify-bench-") as scratch:
        base = Path(scratch)
        caches = CacheDirs(base / "caches")
        report = [bench_start(arguments.repeat, progress)]
        if not arguments.only_files:
            tree = build_checkout(base / "ComfyUI-WanVideoWrapper")
            report += bench_tree("a", tree, arguments.repeat, caches, progress)
            report += bench_one_file(tree, arguments.repeat, caches, progress, base)
            for number, checkout in enumerate(arguments.checkout, start=1):
                report += bench_tree(f"r{number}", checkout, arguments.repeat, caches, progress)
            if not arguments.skip_large:
                report += bench_tree("b", arguments.large, max(3, arguments.repeat // 3), caches, progress)
        report += bench_files(sizes, base, caches, progress)
        progress.clear()
        print("\n".join(report))


if __name__ == "__main__":
    main()
