"""`contiguify verify` over every fixture case, each where it lives, with every profile.

    python benchmarks/verify_cases.py [--device cuda] [--format text|json]

Each case is placed in a copy of its checkout (or alone, when it is a bare file) under one temporary
directory, and one `verify` command runs over all of them; its report goes to stdout and its exit
code is this script's. On a GPU machine the kernels that are installed there run instead of stubs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fixtures.catalog import cases  # noqa: E402 - the repository root goes on the path first


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="contiguify-verify-") as work:
        placed = [str(case.place(Path(work) / case.name)) for case in cases()]
        command = [sys.executable, "-m", "codemod", "verify", "--device", args.device, "--format", args.format, *placed]
        return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main())
