"""`fix` never writes over an edit saved after it read the file: not when the save lands in the moment
between writing the new bytes and putting them in place, by rename or in place, with or without the
atomic swap, and not with an editor saving all the time while `fix` runs in a loop."""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from codemod.results import FileResult
from codemod.run import write
from codemod.run.files import Source, read_source
from codemod.run.runner import apply_changes
from codemod.run.write import TEMP_SUFFIX
from fixtures.catalog import CASES


from .conftest import all_files, seed_rewrite


OLD = (CASES / "jan2026.in.py").read_bytes()
NEW = seed_rewrite(OLD)
CHANGED = "file changed while contiguify ran; left untouched"


def _save_by_rename(path: Path, data: bytes) -> None:
    """As most editors save: a new file, renamed over the old one."""
    temp = path.with_name(f".{path.name}.editor")
    temp.write_bytes(data)
    os.replace(temp, path)


def _save_in_place(path: Path, data: bytes) -> None:
    """As some editors (and `>` in a shell) save: the same file, truncated as it is opened, and written."""
    with open(path, "wb") as handle:
        handle.write(data)


def _save_in_place_same_size(path: Path, data: bytes) -> None:
    """In place, the same size as before: only the bytes (and perhaps not the time) tell."""
    with open(path, "r+b") as handle:
        handle.write(data[: len(OLD)].ljust(len(OLD), b"#"))


SAVES: dict[str, Callable[[Path, bytes], None]] = {
    "rename": _save_by_rename,
    "in-place": _save_in_place,
    "in-place-same-size": _save_in_place_same_size,
}
EDIT = OLD.replace(b"import torch", b"import torch  # an edit", 1)


def _fix(path: Path, source: Source) -> FileResult:
    [result] = apply_changes([FileResult(str(path), old=source.data, new=NEW)], {str(path): source})
    return result


def _can_exchange(folder: Path) -> bool:
    first, second = folder / "first", folder / "second"
    first.write_bytes(b"1")
    second.write_bytes(b"2")
    swapped = write._exchange(str(first), str(second))
    first.unlink()
    second.unlink()
    return swapped


@pytest.fixture(params=["exchange", "replace"])
def swap(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Both ways of putting the file in place: the atomic swap (Linux), and a last check then `os.replace`."""
    if request.param == "exchange" and not _can_exchange(tmp_path):
        pytest.skip("no renameat2(RENAME_EXCHANGE) on this system or file system")
    if request.param == "replace":
        monkeypatch.setattr(write, "_exchange", lambda first, second: False)
    return str(request.param)


@pytest.mark.parametrize("save", SAVES, ids=str)
def test_a_save_between_writing_and_replacing_is_kept(save: str, swap: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "multitalk.py"
    path.write_bytes(OLD)
    source = read_source(str(path))
    assert isinstance(source, Source)
    original_swap_in = write._swap_in

    def save_first(*args: object) -> None:  # the temp file is written and synced: the editor saves now
        SAVES[save](path, EDIT)
        original_swap_in(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(write, "_swap_in", save_first)
    result = _fix(path, source)
    assert result.error == CHANGED
    assert path.read_bytes() == (EDIT if save != "in-place-same-size" else EDIT[: len(OLD)].ljust(len(OLD), b"#"))
    assert all_files(tmp_path) == {"multitalk.py"}


@pytest.mark.parametrize("save", SAVES, ids=str)
def test_a_save_before_fix_writes_is_kept(save: str, swap: str, tmp_path: Path) -> None:
    path = tmp_path / "multitalk.py"
    path.write_bytes(OLD)
    source = read_source(str(path))
    assert isinstance(source, Source)
    SAVES[save](path, EDIT)
    before = path.read_bytes()
    assert _fix(path, source).error == CHANGED
    assert path.read_bytes() == before
    assert all_files(tmp_path) == {"multitalk.py"}


def test_a_save_between_the_swap_and_the_swap_back_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The displaced file was edited, and a second save lands before it is swapped back: the second stays."""
    if not _can_exchange(tmp_path):
        pytest.skip("no renameat2(RENAME_EXCHANGE) on this system or file system")
    path = tmp_path / "multitalk.py"
    path.write_bytes(OLD)
    source = read_source(str(path))
    assert isinstance(source, Source)
    SAVES["in-place"](path, EDIT)  # seen only once the file is displaced: the early check is skipped below
    second = EDIT + b"# a second edit\n"
    original_unchanged, original_exchange = write._unchanged, write._exchange
    early_check = [True]
    swaps = []

    def exchange(first: str, other: str) -> bool:
        swaps.append(first)
        done = original_exchange(first, other)
        if len(swaps) == 1:
            _save_by_rename(path, second)
        return done

    def unchanged(name: str, original: Source) -> bool:
        return early_check.pop() if early_check else original_unchanged(name, original)

    monkeypatch.setattr(write, "_unchanged", unchanged)
    monkeypatch.setattr(write, "_exchange", exchange)
    assert _fix(path, source).error == CHANGED
    assert path.read_bytes() == second
    assert len(swaps) == 3
    assert all_files(tmp_path) == {"multitalk.py"}


def test_an_unchanged_file_is_replaced(swap: str, tmp_path: Path) -> None:
    path = tmp_path / "multitalk.py"
    path.write_bytes(OLD)
    path.chmod(0o640)
    source = read_source(str(path))
    assert isinstance(source, Source)
    assert _fix(path, source).error is None
    assert path.read_bytes() == NEW and path.stat().st_mode & 0o777 == 0o640
    assert all_files(tmp_path) == {"multitalk.py"}


# The loop runs at least this long, and on until it has written and been refused a few times (a busy
# machine makes both rarer), but never past the cap.
STRESS_SECONDS, STRESS_CAP_SECONDS, ENOUGH_WRITES, ENOUGH_REFUSALS = 3.0, 30.0, 10, 3


@pytest.mark.parametrize("save", ["rename", "in-place"])
def test_fix_in_a_loop_beside_a_saving_editor_loses_no_edit(save: str, swap: str, tmp_path: Path) -> None:
    """An editor saves a new version 15 times a second; `fix` reads, rewrites and writes in a loop.

    Before each save the editor looks at the file: it must hold its last save, or that save fixed;
    anything else that stays is a fix of an older version written over the last save.
    """
    path = tmp_path / "multitalk.py"
    marker = b"# save %d\n"
    path.write_bytes(OLD + marker % 0)
    lost: list[int] = []
    stop = threading.Event()

    def editor() -> None:
        number = 0
        while not stop.is_set():
            time.sleep(1 / 15)
            expected = (OLD + marker % number, NEW + marker % number)
            if path.read_bytes() not in expected:
                # Between a swap and the swap back, the path shows the older file for an instant (the
                # fixing thread may lose the interpreter right then): lost is what stays.
                time.sleep(0.05)
                if path.read_bytes() not in expected:
                    lost.append(number)
            number += 1
            SAVES[save](path, OLD + marker % number)

    thread = threading.Thread(target=editor)
    thread.start()
    randomness = random.Random(20261130)
    writes = stale = 0
    start = time.monotonic()

    def going_on() -> bool:
        elapsed = time.monotonic() - start
        return elapsed < STRESS_SECONDS or (elapsed < STRESS_CAP_SECONDS
                                            and (writes < ENOUGH_WRITES or stale < ENOUGH_REFUSALS))

    try:
        while going_on():
            source = read_source(str(path))
            if isinstance(source, str) or not source.data.startswith(OLD):
                continue  # caught mid-save (empty, or half written), or already fixed
            new = NEW + source.data[len(OLD):]
            time.sleep(randomness.uniform(0, 0.1))  # the rewrite, up to longer than a save takes: one may land now
            [result] = apply_changes([FileResult(str(path), old=source.data, new=new)], {str(path): source})
            writes += result.error is None
            stale += result.error == CHANGED
    finally:
        stop.set()
        thread.join()
    assert lost == []
    assert writes >= ENOUGH_WRITES and stale >= ENOUGH_REFUSALS  # it wrote, and met saves it had to leave alone
    assert not [name for name in all_files(tmp_path) if name.endswith(TEMP_SUFFIX)]
