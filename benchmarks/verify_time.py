"""Wall time of `contiguify verify FILE` on CPU at the small shape, as a user runs it (interpreter start included).

    python benchmarks/verify_time.py [--runs 5] [--cores 0,1]

Each case is verified with every profile (the command's default) in a fresh process; the median of
`--runs` runs is printed with the machine. `--cores` pins the processes (taskset) to those CPUs.
Besides wall time, the CPU time (user + system) of the process is printed: on a busy machine it
stays close to what the wall time would be on an idle one, for a process that works on one thread.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fixtures.catalog import cases  # noqa: E402 - the repository root goes on the path first

# One case per kind of home: a WanVideoWrapper drop-in, mini checkouts with siblings and stubs (one with
# its own entry point declared in its pyproject.toml), a bare port.
TIMED_CASES = ("jan2026", "comfyui_core", "meigen_multitalk", "wan2gp", "vendor_kernel", "port_flash")


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    load = " / ".join(f"{value:.1f}" for value in os.getloadavg())
    return (f"machine: {os.cpu_count()} CPUs ({model}), {platform.system()} {platform.release()}, load average {load}\n"
            f"python {platform.python_version()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cores", default=None, help="CPUs to pin to, e.g. 0,1 (needs taskset)")
    args = parser.parse_args()
    pin = ["taskset", "-c", args.cores] if args.cores and shutil.which("taskset") else []
    import torch

    print(machine())
    print(f"torch {torch.__version__}; pinned to CPUs {args.cores if pin else 'none'}; median of {args.runs} runs\n")
    print("| case | where | wall time (median) | min | max | CPU time (median) |")
    print("|---|---|---|---|---|---|")
    by_name = {case.name: case for case in cases()}
    for name in TIMED_CASES:
        case = by_name[name]
        with tempfile.TemporaryDirectory() as work:
            placed = case.place(Path(work))
            command = [*pin, sys.executable, "-m", "codemod", "verify", str(placed)]
            times, cpu_times = [], []
            for _ in range(args.runs):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                start = time.perf_counter()
                done = subprocess.run(command, capture_output=True, text=True, check=False,
                                      env={**os.environ, "CONTIGUIFY_NO_CACHE": "1"})
                times.append(time.perf_counter() - start)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu_times.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
                if done.returncode != 0:
                    print(f"verify {name} exited {done.returncode}:\n{done.stdout}{done.stderr}", file=sys.stderr)
                    return 1
        where = case.checkout or "bare file"
        print(f"| {name} | {where} | {statistics.median(times):.2f} s | {min(times):.2f} s | {max(times):.2f} s "
              f"| {statistics.median(cpu_times):.2f} s |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
