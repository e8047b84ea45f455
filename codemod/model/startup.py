"""Importing torch for a short command: next to other work, and without paying for its objects twice.

`alongside_torch_import` runs the rewrites (libcst, about 1.4 s for two profiles on 2 cores) in a
forked process while this one imports torch (2.3 to 3 s there), so they cost next to nothing.

torch's import makes a few hundred thousand long-lived objects. The cyclic garbage collector scans them
again and again while they are being made, and collects them once more as the interpreter exits. On a
2-core machine `python -c "import torch"` takes 3.3 s (median of 5), and 2.6 s with this around the
import. `gc.freeze()` is made for this case (long-lived objects created at start-up): it moves them out
of the collector's sight.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
M = TypeVar("M")

# torch warns at import when NumPy is missing; explain and verify never hand torch a NumPy array.
NUMPY_WARNING = "Failed to initialize NumPy"


@contextmanager
def importing_torch() -> Iterator[None]:
    """No collection while the block imports; what exists afterwards is frozen, never scanned again.

    Also silences torch's warning that NumPy is missing, which nothing here needs.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=NUMPY_WARNING)
            yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def alongside_torch_import(work: Callable[[], T], importer: Callable[[], M]) -> tuple[T, M]:
    """`work()` and `importer()` (which imports torch) at once, each result as if run one after the other.

    `work` runs in a forked process where processes fork and torch is not imported yet (a process
    that has initialised CUDA must not fork); `work`, its result and its exceptions must pickle. If that
    process dies, `work` runs again here, as where processes do not fork.
    """
    if "fork" not in multiprocessing.get_all_start_methods() or "torch" in sys.modules:
        return work(), importer()
    from codemod.isolation import die_with_parent

    # The worker dies with this process (killed while importing torch): it would wait on its queue for good.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"), initializer=die_with_parent,
                             initargs=(os.getpid(),)) as pool:
        pending = pool.submit(work)
        try:
            imported = importer()
        except BaseException:
            pending.cancel()
            raise
        try:
            return pending.result(), imported
        except BrokenProcessPool:  # the forked process died (killed, or crashed): the work is done here instead
            return work(), imported
