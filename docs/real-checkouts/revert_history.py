"""revert(fix(x)) == x on every upstream version of a file, for every profile; run by hand, output committed.

    python docs/real-checkouts/revert_history.py GIT_DIR PATH > docs/real-checkouts/revert.md

GIT_DIR is a (bare) clone of ComfyUI-WanVideoWrapper, PATH the file inside it (multitalk/multitalk.py).
For each commit that touched PATH, oldest first: fix with each profile, revert the result, compare bytes.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence

from codemod.match.patterns import DEFAULT_TARGETS, parse_targets
from codemod.rewrite import profile_names
from codemod.rewrite.revert import revert
from codemod.rewrite.file import rewrite


def _git(git_dir: str, *args: str) -> bytes:
    return subprocess.run(["git", f"--git-dir={git_dir}", *args], check=True, capture_output=True).stdout


def main(argv: Sequence[str]) -> int:
    git_dir, path = argv
    commits = _git(git_dir, "log", "--reverse", "--format=%H %cs", "--", path).decode().split("\n")
    targets = parse_targets(DEFAULT_TARGETS)
    profiles = profile_names()
    print(f"# revert(fix(x)) == x on every version of `{path}`\n")
    print(f"`python docs/real-checkouts/revert_history.py {git_dir} {path}`\n")
    print("| commit | date | bytes | " + " | ".join(f"{name}: inserted, removed, equal" for name in profiles) + " |")
    print("|---|---|---|" + "---|" * len(profiles))
    failures = versions = 0
    for line in filter(None, commits):
        commit, date = line.split()
        try:
            data = _git(git_dir, "show", f"{commit}:{path}")
        except subprocess.CalledProcessError:  # the commit deleted the file
            continue
        versions += 1
        cells = []
        for profile in profiles:
            fixed = rewrite(data, profile, targets, path=path)
            if fixed.error is not None or fixed.new is None:
                cells.append(f"fix error: {fixed.error}")
                failures += 1
                continue
            back = revert(fixed.new, profile, targets, path=path)
            inserted = fixed.new.count(b".contiguous()") - data.count(b".contiguous()")
            removed = fixed.new.count(b".contiguous()") - (back.new or fixed.new).count(b".contiguous()")
            equal = back.error is None and back.new == data
            failures += not equal
            cells.append(f"{inserted}, {removed}, {'yes' if equal else 'NO: ' + str(back.error)}")
        print(f"| {commit[:10]} | {date} | {len(data)} | " + " | ".join(cells) + " |")
    print(f"\n{versions} versions, {len(profiles)} profiles: {failures} failures.")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
