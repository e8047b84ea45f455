"""`contiguify check`, `explain` and `verify` on real upstream checkouts, built from bare git mirrors; one table.

    python benchmarks/real_checkouts.py [--mirrors /work/.mirror] [--work real/checkouts] [--device cpu|cuda]
        [--python PYTHON] [--timeout 600] [--only wrapper,comfyui,meigen,wan2gp] [--newest] [--build-only]
    python benchmarks/real_checkouts.py --pack real/checkouts.tar.xz     # build, then pack the trees for another machine
    python benchmarks/real_checkouts.py --unpack real/checkouts.tar.xz   # run on packed trees (no mirrors needed)

Every version of each target file (every commit that changed it, and the repository's newest commit) is
checked out in its own commit's tree, as users have it: each WanVideoWrapper version as
`ComfyUI/custom_nodes/ComfyUI-WanVideoWrapper` inside one ComfyUI tree (the newest ComfyUI mirror's head),
ComfyUI core's `comfy/ldm/wan/model_multitalk.py` in its own tree, MeiGen MultiTalk and InfiniteTalk's
`wan/modules/attention.py`, Wan2GP's `models/wan/multitalk/attention.py` (earlier `wan/multitalk/attention.py`).
Only small text files (`*.py`, configs) are written: the mirrors lack some large blobs, and no command needs them.
Trees go under the work directory (ignored by git: `real/`), once; trees built before are reused.

Each command runs as a user runs it, `PYTHON -m codemod ...` with this repository on `PYTHONPATH`, in a
fresh process with a time limit: `check FILE`, `explain FILE --format json` (both profiles, both paths,
real shape on the meta device) and `verify FILE --format json --device DEVICE` (both profiles). `--python`
takes another interpreter (a ComfyUI venv); libcst, if that one lacks it, comes from this interpreter's.
A file counts as verified for a profile when verify reported no error for it, every target class has
at least one path that compared `equal`, and no path `differs` or raised a `new-error`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEXT_SUFFIXES = frozenset({".py", ".pyi", ".toml", ".txt", ".cfg", ".ini", ".yaml", ".yml", ".json"})
MAX_BLOB = 256 * 1024
NODE = PurePosixPath("custom_nodes/ComfyUI-WanVideoWrapper")
PROFILES = ("seed", "boundary")


@dataclass(frozen=True)
class Source:
    """One upstream code base: its mirror, the target file's paths over time, and how it is placed."""

    kind: str
    repo: str
    paths: tuple[str, ...]
    in_comfyui: bool = False  # a custom node: placed at NODE inside the ComfyUI host tree


SOURCES = (
    Source("wrapper", "rookiestar28+ComfyUI-WanVideoWrapper", ("multitalk/multitalk.py",), in_comfyui=True),
    Source("comfyui", "yzkee+ComfyUI", ("comfy/ldm/wan/model_multitalk.py",)),
    Source("comfyui", "hiddenswitch+ComfyUI", ("comfy/ldm/wan/model_multitalk.py",)),
    Source("meigen", "MeiGen-AI+MultiTalk", ("wan/modules/attention.py",)),
    Source("meigen", "MeiGen-AI+InfiniteTalk", ("wan/modules/attention.py",)),
    Source("wan2gp", "deepbeepmeep+Wan2GP", ("models/wan/multitalk/attention.py", "wan/multitalk/attention.py")),
)
HOST = "yzkee+ComfyUI"  # the ComfyUI tree custom nodes are placed in


@dataclass(frozen=True)
class Version:
    """One target file in one commit's tree."""

    source: Source
    commit: str
    date: str
    path: str  # in its repository

    @property
    def label(self) -> str:
        return f"{self.source.repo.partition('+')[2]}-{self.date}-{self.commit[:8]}"

    def tree(self, work: Path) -> Path:
        """The checkout a user has: for a custom node, the ComfyUI tree it sits in."""
        return work / self.source.kind / self.label

    def file(self, work: Path) -> Path:
        base = self.tree(work) / "ComfyUI" / NODE if self.source.in_comfyui else self.tree(work)
        return base / self.path


def git(git_dir: Path, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={git_dir}", *args], check=True, capture_output=True, text=True).stdout


def versions(mirrors: Path, source: Source) -> list[Version]:
    """Each commit that changed the file (oldest first, one per distinct content), and the head if it is not one."""
    git_dir = mirrors / source.repo / "repo"
    found: list[Version] = []
    seen_blobs: set[str] = set()
    log = git(git_dir, "log", "--all", "--reverse", "--format=%H %cs", "--", *source.paths).split("\n")
    head = git(git_dir, "log", "-1", "--format=%H %cs", "HEAD").split()
    for line in [*filter(None, log), " ".join(head)]:
        commit, date = line.split()
        for path in source.paths:
            blob = git(git_dir, "ls-tree", commit, "--", path).split()
            if blob:
                break
        else:
            continue  # the commit deleted it
        if blob[2] in seen_blobs and commit != head[0]:
            continue
        if any(v.commit == commit for v in found):
            continue
        seen_blobs.add(blob[2])
        found.append(Version(source, commit, date, path))
    return found


def materialize(git_dir: Path, commit: str, dest: Path) -> tuple[int, int]:
    """The commit's small text files under `dest`; (written, missing in the mirror)."""
    listing = git(git_dir, "ls-tree", "-r", "-l", "-z", commit).split("\0")
    wanted: list[tuple[str, str]] = []
    absent = 0  # `ls-tree -l` gives no size for a blob the mirror lacks
    for entry in filter(None, listing):
        meta, _, name = entry.partition("\t")
        mode, kind, oid, size = meta.split()
        if kind != "blob" or mode == "120000" or PurePosixPath(name).suffix not in TEXT_SUFFIXES:
            continue
        if not size.isdigit():
            absent += 1
        elif int(size) <= MAX_BLOB:
            wanted.append((oid, name))
    batch = subprocess.run(
        ["git", f"--git-dir={git_dir}", "cat-file", "--batch"],
        input=b"".join(f"{oid}\n".encode() for oid, _ in wanted), check=True, capture_output=True,
    ).stdout
    written, missing = 0, absent
    offset = 0
    for oid, name in wanted:
        end = batch.index(b"\n", offset)
        header = batch[offset:end].split()
        offset = end + 1
        if header[-1] == b"missing":
            missing += 1
            continue
        length = int(header[2])
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(batch[offset:offset + length])
        offset += length + 1
        written += 1
    return written, missing


def build(mirrors: Path, work: Path, chosen: list[Version]) -> None:
    """Every chosen version's tree, unless built before (a `.built` marker)."""
    host: Path | None = None
    for version in chosen:
        tree = version.tree(work)
        if (tree / ".built").is_file():
            continue
        shutil.rmtree(tree, ignore_errors=True)
        git_dir = mirrors / version.source.repo / "repo"
        if version.source.in_comfyui:
            if host is None:
                host = work / "host" / "ComfyUI"
                if not (host.parent / ".built").is_file():
                    shutil.rmtree(host, ignore_errors=True)
                    host_git = mirrors / HOST / "repo"
                    materialize(host_git, git(host_git, "rev-parse", "HEAD").strip(), host)
                    (host.parent / ".built").write_text("")
            # hard links: every wrapper version shares one copy of ComfyUI's files on disk and in the pack
            shutil.copytree(host, tree / "ComfyUI", copy_function=os.link)
            written, missing = materialize(git_dir, version.commit, tree / "ComfyUI" / NODE)
        else:
            written, missing = materialize(git_dir, version.commit, tree)
        (tree / ".built").write_text(f"{version.source.repo} {version.commit} {version.date} {written} {missing}\n")
        print(f"built {tree}: {written} files ({missing} missing in the mirror)", file=sys.stderr)


def manifest(work: Path) -> list[Version]:
    """The versions recorded in the trees under `work` (for packed trees, without mirrors)."""
    by_repo = {source.repo: source for source in SOURCES}
    found = []
    for marker in sorted(work.glob("*/*/.built")):
        if marker.parent.parent.name == "host":
            continue
        repo, commit, date, *_ = marker.read_text().split()
        source = by_repo[repo]
        base = marker.parent / "ComfyUI" / NODE if source.in_comfyui else marker.parent
        path = next(p for p in source.paths if (base / p).is_file())
        found.append(Version(source, commit, date, path))
    return found


def unpack(pack: Path, work: Path) -> Path:
    """The trees of a `--pack` archive, extracted under `work`; `work`."""
    work.mkdir(parents=True, exist_ok=True)
    with tarfile.open(pack) as archive:
        archive.extractall(work, filter="data")
    return work


@dataclass(frozen=True)
class Outcome:
    code: int | None  # None: it ran out of time
    stdout: str
    stderr: str
    seconds: float


def run(python: str, env: dict[str, str], args: list[str], timeout: float, cwd: Path) -> Outcome:
    start = time.perf_counter()
    try:
        done = subprocess.run([python, "-m", "codemod", *args], capture_output=True, text=True, env=env,
                              timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as expired:
        out = expired.stdout.decode(errors="replace") if isinstance(expired.stdout, bytes) else (expired.stdout or "")
        err = expired.stderr.decode(errors="replace") if isinstance(expired.stderr, bytes) else (expired.stderr or "")
        return Outcome(None, out, err, time.perf_counter() - start)
    return Outcome(done.returncode, done.stdout, done.stderr, time.perf_counter() - start)


def json_document(text: str) -> dict[str, Any] | None:
    """The JSON document on stdout; a module's own prints in front of it are skipped (the table says so)."""
    start = 0 if text.lstrip().startswith("{") else text.find("{\n")
    try:
        document = json.loads(text[start:]) if start >= 0 else None
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _short(text: str, limit: int = 220, file: Path | None = None) -> str:
    if file is not None:
        text = text.replace(f"{file}: ", "").replace(str(file), "FILE")
    flat = " ".join(text.split()).replace("|", "\\|")
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def _last_line(text: str) -> str:
    """The command's own last message: not its `note:` lines nor what the imported code logged."""
    lines = [line for line in text.splitlines()
             if line.strip() and not line.startswith(("note:", "WARNING", "ERROR:root", "INFO", "Warning"))]
    return lines[-1] if lines else ""


def _exit(outcome: Outcome, timeout: float) -> str:
    return f"timed out ({timeout:.0f} s)" if outcome.code is None else f"exit {outcome.code}"


def check_cell(outcome: Outcome, timeout: float, file: Path) -> str:
    return f"{_exit(outcome, timeout)}: {_short(_last_line(outcome.stderr) or _last_line(outcome.stdout), file=file)}"


def explain_cell(outcome: Outcome, timeout: float, file: Path) -> str:
    document = json_document(outcome.stdout)
    if not isinstance(document, dict):
        return f"{_exit(outcome, timeout)}, no JSON: {_short(_last_line(outcome.stderr), file=file)}"
    runs = [run for run in document.get("runs", []) if isinstance(run, dict)]
    variants = sorted({str(run.get("variant")) for run in runs})
    scenarios = sorted({str(run.get("path")) for run in runs})  # "path": the scenario, as explain names it
    extra = "" if outcome.stdout.lstrip().startswith("{") else "; stdout has text before the JSON"
    problem = "" if outcome.code == 0 else f"; {_short(_last_line(outcome.stderr), file=file)}"
    shape = f"{'/'.join(variants)} × {'/'.join(scenarios)}"
    return f"{_exit(outcome, timeout)}, {len(runs)} runs ({shape}){extra}{problem}"


def verdict(entry: dict[str, object], file: Path) -> str:
    """One profile's result for the file: `verified (...)` or `not verified (...): why`."""
    if entry.get("error"):
        return f"not verified: error: {_short(str(entry['error']), file=file)}"
    targets = [t for t in entry.get("targets") or [] if isinstance(t, dict)]  # type: ignore[attr-defined]
    if not targets:
        return "not verified: no target ran"
    counts: dict[str, int] = {}
    reasons: dict[str, list[str]] = {}
    for target in targets:
        runs = [one for one in target.get("runs") or [] if isinstance(one, dict)]
        for one in runs:
            counts[str(one.get("status"))] = counts.get(str(one.get("status")), 0) + 1
        name = f"{target.get('class')}.{target.get('method')}"
        bad = [one for one in runs if one.get("status") in ("differs", "new-error")]
        if not bad and any(one.get("status") == "equal" for one in runs):
            continue
        first = bad[0] if bad else (runs[0] if runs else {})
        reason = f"{first.get('status')}: {_short(str(first.get('detail')), 160, file)}"
        reasons.setdefault(reason, []).append(f"{name} ({first.get('path')})")
    tally = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    bare = any("bare" in str(note) for note in entry.get("notes") or [])  # type: ignore[attr-defined]
    tally += ", imported bare" if bare else ""
    if not reasons:
        # the tool's own verdict where its JSON has one; it must agree with the runs
        agrees = entry.get("verified", True) is True
        return f"verified ({tally})" + ("" if agrees else f"; but verify says not: {entry.get('unverified_reason')}")
    why = "; ".join(f"{', '.join(names)}: {reason}" for reason, names in reasons.items())
    return f"not verified ({tally}): {why}"


def _both_verified(outcome: Outcome) -> bool:
    document = json_document(outcome.stdout)
    if not isinstance(document, dict):
        return False
    found = {str(e.get("profile")): verdict(e, Path()) for e in document.get("files", []) if isinstance(e, dict)}
    return all(found.get(profile, "").startswith("verified") for profile in PROFILES)


def verify_cell(outcome: Outcome, timeout: float, file: Path) -> str:
    """Per profile, merged when both say the same."""
    document = json_document(outcome.stdout)
    if not isinstance(document, dict):
        return f"{_exit(outcome, timeout)}, no JSON: {_short(_last_line(outcome.stderr), file=file)}"
    found = {str(entry.get("profile")): verdict(entry, file) for entry in document.get("files", []) if isinstance(entry, dict)}
    per = {profile: found.get(profile, "no result") for profile in PROFILES}
    extra = "" if outcome.stdout.lstrip().startswith("{") else " (stdout has text before the JSON)"
    if len(set(per.values())) == 1:
        return f"{_exit(outcome, timeout)}{extra}; both: {per[PROFILES[0]]}"
    return f"{_exit(outcome, timeout)}{extra}; " + "; ".join(f"{profile}: {text}" for profile, text in per.items())


def environment(python: str, work: Path) -> dict[str, str]:
    """`PYTHONPATH` with this repository, and libcst from this interpreter when `python` lacks it.

    Only libcst is lent (a directory holding a link to it alone): the other interpreter keeps its own
    torch and everything else.
    """
    env = dict(os.environ)
    parts = [str(ROOT)]
    probe = subprocess.run([python, "-c", "import libcst"], capture_output=True, check=False)
    if probe.returncode != 0:
        import libcst

        lent = work / "lent"
        lent.mkdir(parents=True, exist_ok=True)
        link = lent / "libcst"
        if not link.exists():
            link.symlink_to(Path(libcst.__file__).resolve().parent, target_is_directory=True)
        parts.append(str(lent))
    if env.get("PYTHONPATH"):
        parts.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(parts)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def rows(chosen: list[Version], work: Path, python: str, device: str, timeout: float,
         tally: dict[str, list[int]]) -> Iterator[str]:
    """One table row per version; `tally[kind]` counts [files, explain exit 0, verified on both profiles]."""
    env = environment(python, work)
    for version in chosen:
        file = version.file(work)
        cwd = version.tree(work)
        checked = run(python, env, ["check", str(file)], timeout, cwd)
        explained = run(python, env, ["explain", str(file), "--format", "json"], timeout, cwd)
        verified = run(python, env, ["verify", str(file), "--format", "json", "--device", device], timeout, cwd)
        counts = tally.setdefault(version.source.kind, [0, 0, 0])
        counts[0] += 1
        counts[1] += explained.code == 0
        counts[2] += _both_verified(verified)
        where = f"`{NODE}/{version.path}`" if version.source.in_comfyui else f"`{version.path}`"
        yield (f"| {version.source.repo.replace('+', '/')} | {where} | {version.commit[:10]} | {version.date} | "
               f"{check_cell(checked, timeout, file)} | {explain_cell(explained, timeout, file)} | "
               f"{verify_cell(verified, timeout, file)} |")
        print(f"{version.label}: check {checked.seconds:.1f} s, explain {explained.seconds:.1f} s, "
              f"verify {verified.seconds:.1f} s", file=sys.stderr)


def revision() -> str:
    """This repository's commit, or `?` where it is no git checkout (packed onto another machine)."""
    done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    return done.stdout.strip() or "?"


def describe(python: str, work: Path) -> str:
    """The machine, and the interpreter as the commands see it (with their `PYTHONPATH`)."""
    probe = subprocess.run(
        [python, "-c", "import sys, torch; print(sys.version.split()[0], torch.__version__, torch.cuda.is_available())"],
        capture_output=True, text=True, check=False, env=environment(python, work),
    )
    versions_ = probe.stdout.split() if probe.returncode == 0 else ["?", "not importable", "False"]
    return (f"{platform.node()} ({platform.machine()}, {os.cpu_count()} CPUs); `{python}`: Python {versions_[0]}, "
            f"torch {versions_[1]}, CUDA available: {versions_[2]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    parser.add_argument("--work", type=Path, default=ROOT / "real" / "checkouts")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per command")
    parser.add_argument("--only", default="", help="comma-separated kinds: wrapper, comfyui, meigen, wan2gp")
    parser.add_argument("--newest", action="store_true", help="only the newest version of each repository's file")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--pack", type=Path, help="build, then write the trees to this .tar.xz and stop")
    parser.add_argument("--unpack", type=Path, help="run on the trees in this .tar.xz (extracted into --work)")
    args = parser.parse_args(argv)
    kinds = {kind for kind in args.only.split(",") if kind}
    work = args.work.resolve()
    if args.unpack:
        chosen = manifest(unpack(args.unpack, work))
    else:
        chosen = []
        for source in SOURCES:  # a fork's commit that is also upstream's is run once, as upstream's
            chosen.extend(v for v in versions(args.mirrors, source) if all(v.commit != c.commit for c in chosen))
        build(args.mirrors, work, chosen)
    chosen = [v for v in chosen if not kinds or v.source.kind in kinds]
    if args.newest:
        newest = {v.source.repo: v for v in sorted(chosen, key=lambda v: v.date)}
        chosen = [v for v in chosen if newest[v.source.repo] is v]
    if args.pack:
        with tarfile.open(args.pack, "w:xz", preset=9) as archive:
            for entry in sorted(work.iterdir()):
                archive.add(entry, arcname=entry.name)
        print(f"packed {len(chosen)} trees into {args.pack} ({args.pack.stat().st_size / 2**20:.1f} MiB)", file=sys.stderr)
        return 0
    if args.build_only:
        return 0
    print(f"{describe(args.python, work)}; `--device {args.device}`; time limit {args.timeout:.0f} s per command; "
          f"contiguify {revision()}\n")
    print("| repository | file | commit | date | `check` | `explain`: runs (variants × paths) | `verify` (seed, boundary) |")
    print("|---|---|---|---|---|---|---|")
    tally: dict[str, list[int]] = {}
    for row in rows(chosen, work, args.python, args.device, args.timeout, tally):
        print(row, flush=True)
    print()
    for kind, (files, explained, verified) in tally.items():
        print(f"- {kind}: {files} files; `explain` exit 0 on {explained}; `verify` verified on both profiles: {verified}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
