"""Importing torch for a short command without paying for its objects twice: while it imports, and at exit.

torch's import makes a few hundred thousand long-lived objects. The cyclic garbage collector scans them
again and again while they are being made, and collects them once more as the interpreter exits. On a
2-core machine `python -c "import torch"` takes 3.3 s (median of 5), and 2.6 s with this around the
import. `gc.freeze()` is made for this case (long-lived objects created at start-up): it moves them out
of the collector's sight.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

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
