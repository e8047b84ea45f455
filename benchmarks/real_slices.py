"""Whether libcst's reading of a slice (codemod/rewrite/slices.py) gives the rewrite of the whole file, on every
upstream version of the real target files, and on every Python file of checkouts given with `--tree`.

    python benchmarks/real_slices.py [--mirrors /work/.mirror] [--tree CHECKOUT ...] > docs/real-checkouts/slices.md

The versions are those `benchmarks/real_checkouts.py` runs on (read from the fetched bare mirrors). For each
file and profile, the rewrite through the slice (what `contiguify` does) is compared with the rewrite of the
whole file by libcst (the engine without the slice): the new text and every target's site results must be
equal. Exit 1 when any differ.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.real_checkouts import PROFILES, SOURCES, git, versions  # noqa: E402
from codemod.decoding import BOM, decoded  # noqa: E402
from codemod.guards import python_tree  # noqa: E402
from codemod.match.entry_points import ENTRY_POINTS  # noqa: E402
from codemod.match.patterns import DEFAULT_TARGETS, parse_targets  # noqa: E402
from codemod.rewrite import engine  # noqa: E402
from codemod.rewrite.profiles import get_profile  # noqa: E402
from codemod.rewrite.slices import module_slice  # noqa: E402

TARGETS = parse_targets(DEFAULT_TARGETS)


def compare(text: str) -> tuple[str, str]:
    """(the slice: kept lines of all, or why there is none; per profile `same (N inserted)` or `DIFFERENT`)."""
    text = text.removeprefix(BOM)
    tree = python_tree(text)
    if tree is None:
        return "not Python here", "-"
    parsed, restore = engine._for_libcst(text)
    piece = module_slice(parsed, tree, TARGETS)
    kept = "whole file" if piece is None else f"{len(piece.kept)} of {len(piece.lines)} lines"
    cells = []
    for name in PROFILES:
        profile = get_profile(name)
        through = engine.rewrite_module_source(text, profile, TARGETS, ENTRY_POINTS)
        done = engine._rewrite_module(parsed, tree, profile, TARGETS, ENTRY_POINTS)
        whole = (text, ()) if done is None else (restore(done[0]), done[1])
        inserted = sum(target.inserted for target in through[1])
        cells.append(f"{name}: same ({inserted} inserted)" if through == whole else f"{name}: DIFFERENT")
    return kept, ", ".join(cells)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    parser.add_argument("--tree", type=Path, action="append", default=[], help="also every .py file below it")
    arguments = parser.parse_args(argv)
    different = 0
    print("| repository | file | commit | date | slice read by libcst | rewrite through the slice vs the whole file |")
    print("|---|---|---|---|---|---|")
    for source in SOURCES:
        for version in versions(arguments.mirrors, source):
            data = git(arguments.mirrors / source.repo / "repo", "show", f"{version.commit}:{version.path}")
            kept, cells = compare(data)
            different += "DIFFERENT" in cells
            print(f"| {source.repo.replace('+', '/')} | `{version.path}` | {version.commit[:10]} | {version.date} | "
                  f"{kept} | {cells} |")
    for tree in arguments.tree:
        files = sorted(tree.rglob("*.py"))
        summary: dict[str, int] = {}
        for path in files:
            text = decoded(path.read_bytes())
            kept, cells = compare(text[0]) if not isinstance(text, str) else (text, "-")
            different += "DIFFERENT" in cells
            summary[cells] = summary.get(cells, 0) + 1
            if kept[0] not in "0w" or "DIFFERENT" in cells:  # libcst reads part of it: it holds a target class
                print(f"| `{tree}` | `{path.relative_to(tree)}` | | | {kept} | {cells} |")
        print(f"\n`{tree}`: {len(files)} files; " + "; ".join(f"{count} × {cells}" for cells, count in summary.items()))
    print(f"\n{'no file differs' if not different else f'{different} files differ'}")
    return 1 if different else 0


if __name__ == "__main__":
    raise SystemExit(main())
