"""Results of earlier runs, keyed by everything that decides a result, so that none can be stale.

The key hashes the file's bytes, the profile, the targets and the entry points; entries live in a directory named
after a fingerprint of the code that computes results (this package's sources, libcst's version,
the Python version). The path is not part of the key: the same bytes give the same result anywhere.
An entry is a checksum line and a `marshal` payload (plain values only; `json` alone would take 1 ms
of a 50 ms cached run to import); one that cannot be read, does not match its checksum or its key,
or is not of the expected shape is a miss, never an error. The payload is read only once its checksum
holds, and the cache lives in the user's own directory, so nothing else should write it.

Even so an entry is not trusted with new bytes: it holds where `.contiguous()` calls (and the
parentheses they need) go, and a hit rebuilds the new bytes from the file's own and passes them through
the check every fresh rewrite passes (`check_insertions_only`: the result parses, and its syntax tree is
the old one but for `.contiguous()` calls). The worst a forged entry can do is insert `.contiguous()`
calls where the syntax allows them, in places the profile would not.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

try:  # built into CPython; `hashlib` would load OpenSSL first, 2 ms of a 50 ms cached run
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - other interpreters
    from hashlib import blake2b

import codemod
from codemod.decoding import decode
from codemod.guards import INSERTED_TEXT, check_insertions_only, insertions, rebuild
from codemod.results import FileResult, SiteResult, TargetResult
from codemod.run.job import Job

PACKAGE_DIRECTORY = os.path.dirname(os.path.abspath(codemod.__file__))
CACHE_DIR_VARIABLE = "CONTIGUIFY_CACHE_DIR"
NO_CACHE_VARIABLE = "CONTIGUIFY_NO_CACHE"
FORMAT = 3
SITE_STATUSES = ("inserted", "present", "missing")


def default_directory() -> str:
    """`$CONTIGUIFY_CACHE_DIR`, else `$XDG_CACHE_HOME/contiguify`, else `~/.cache/contiguify`.

    Per user rather than per checkout: results depend on content alone, so every checkout shares them,
    and a checkout cannot bring entries of its own.
    """
    explicit = os.environ.get(CACHE_DIR_VARIABLE)
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "contiguify")


def cache_disabled() -> bool:
    """`CONTIGUIFY_NO_CACHE` set to anything but empty, 0, false or no."""
    return os.environ.get(NO_CACHE_VARIABLE, "") not in ("", "0", "false", "no")


def _sources_digest(directory: str) -> bytes:
    """Of every `.py` file below `directory`: its path relative to it and its bytes."""
    digest = blake2b(digest_size=32)
    for root, directories, files in os.walk(directory):
        directories[:] = sorted(name for name in directories if name != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(root, name)
                digest.update(os.path.relpath(path, directory).encode() + b"\0")
                with open(path, "rb") as handle:
                    digest.update(handle.read() + b"\0")
    return digest.digest()


def _libcst_version() -> bytes:
    """Read from the installed files, found as the import system finds them: importing libcst
    costs more than a whole cached run."""
    for folder in sys.path:
        try:
            with open(os.path.join(folder or os.curdir, "libcst", "_version.py"), "rb") as handle:
                return handle.read()
        except OSError:
            continue
    return b"not found"


def code_fingerprint(package_directory: str = PACKAGE_DIRECTORY) -> str:
    """Changes whenever the code that computes a result may have changed, version bump or not:
    it hashes every source file of the package (not where it lies), libcst's version and Python's."""
    digest = blake2b(f"format {FORMAT}\0{sys.version}\0".encode(), digest_size=32)
    digest.update(_libcst_version() + b"\0")
    digest.update(_sources_digest(package_directory))
    return digest.hexdigest()[:32]


def _checksum(payload: bytes) -> bytes:
    return blake2b(payload, digest_size=32).hexdigest().encode()


def _targets_to_plain(targets: Sequence[TargetResult]) -> list[Any]:
    return [
        [target.class_name, target.method, target.line, target.role,
         [[site.id, site.line, site.status, site.reason] for site in target.sites]]
        for target in targets
    ]


def _targets_from_plain(value: Any) -> tuple[TargetResult, ...]:
    """Raises ValueError / TypeError on anything but the shape `_targets_to_plain` writes."""
    targets = []
    for class_name, method, line, role, sites in value:
        checked_sites = []
        for site_id, site_line, status, reason in sites:
            if not (isinstance(site_id, str) and (site_line is None or type(site_line) is int)
                    and status in SITE_STATUSES and (reason is None or isinstance(reason, str))):
                raise ValueError("malformed site")
            checked_sites.append(SiteResult(site_id, site_line, status, reason))
        if not (isinstance(class_name, str) and isinstance(method, str) and type(line) is int
                and isinstance(role, str)):
            raise ValueError("malformed target")
        targets.append(TargetResult(class_name, method, line, role, tuple(checked_sites)))
    return tuple(targets)


def _warn_unwritable(reason: str) -> None:
    sys.stderr.write(f"warning: {reason}; going on without it\n")


class ResultCache:
    """Maps a job (bytes, profile, targets) to its result; lookups and stores never raise."""

    def __init__(self, root: str, on_unwritable: Callable[[str], None] | None = None) -> None:
        """`on_unwritable`: told, once, why the directory cannot be written (default: a warning on stderr)."""
        self.root = root
        self.on_unwritable = on_unwritable or _warn_unwritable
        self._directory: str | None = None
        self._created = False
        self._unwritable = False  # said once, then not tried again

    @property
    def directory(self) -> str:
        """Computed on first use, so that a run where no file needs parsing never reads the sources."""
        if self._directory is None:
            self._directory = os.path.join(self.root, code_fingerprint())
        return self._directory

    def key(self, job: Job) -> str:
        digest = blake2b(job.profile.encode() + b"\0", digest_size=32)
        for target in job.targets:
            digest.update(f"{target.class_pattern}.{target.method_pattern}\0".encode())
        digest.update(b"\0")
        digest.update(repr(job.entry_points).encode())  # frozen dataclasses of plain values: a stable repr
        digest.update(b"\0")
        digest.update(job.data)
        return digest.hexdigest()

    def _path(self, key: str) -> str:
        return os.path.join(self.directory, key)

    def lookup(self, job: Job) -> FileResult | None:
        key = self.key(job)
        try:
            with open(self._path(key), "rb") as handle:
                checksum, _, payload = handle.read().partition(b"\n")
            if _checksum(payload) != checksum:
                return None
            return self._result(job, key, marshal.loads(payload))
        except (OSError, ValueError, TypeError, LookupError, EOFError, SyntaxError):
            return None

    def _result(self, job: Job, key: str, entry: Any) -> FileResult | None:
        if not isinstance(entry, dict) or entry.get("format") != FORMAT or entry.get("key") != key:
            return None
        targets = _targets_from_plain(entry["targets"])
        error, inserted = entry["error"], entry["insertions"]
        if error is not None:
            return FileResult(job.path, error=error, targets=targets) if isinstance(error, str) else None
        reported = sum(target.inserted for target in targets)
        if inserted is None:
            return FileResult(job.path, targets=targets, old=job.data, new=job.data) if reported == 0 else None
        text, codec = decode(job.data)
        new_text = rebuild(text, inserted)
        if new_text is None or new_text.count(INSERTED_TEXT) - text.count(INSERTED_TEXT) != reported:
            return None
        if check_insertions_only(text, new_text) is not None:  # the check every fresh rewrite passes: it parses
            return None
        return FileResult(job.path, targets=targets, old=job.data, new=new_text.encode(codec))

    def store(self, job: Job, result: FileResult) -> None:
        """Remember `result`; a result whose new bytes are not the old ones plus insertions is not kept."""
        if self._unwritable:
            return
        inserted = None
        if result.changed and result.new is not None:
            text, codec = decode(job.data)
            inserted = insertions(text, result.new.decode(codec))
            if inserted is None:
                return
        key = self.key(job)
        entry = {
            "format": FORMAT,
            "key": key,
            "error": result.error,
            "targets": _targets_to_plain(result.targets),
            "insertions": inserted,
        }
        temp = None
        try:
            path = self._path(key)
            temp = f"{path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
            if not self._created:
                os.makedirs(self.directory, exist_ok=True)
                self._mark_root()
                self._created = True
            payload = marshal.dumps(entry)
            with open(temp, "xb") as handle:
                handle.write(_checksum(payload) + b"\n" + payload)
            os.replace(temp, path)
        except OSError as error:
            if temp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
            self._unwritable = True
            self.on_unwritable(f"cannot write the result cache in {self.root}: {error.strerror or error}")

    def _mark_root(self) -> None:
        """Tell backup tools and git that the directory holds a cache, as other tools' caches do."""
        for name, text in (("CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55\n"), (".gitignore", "*\n")):
            path = os.path.join(self.root, name)
            if not os.path.exists(path):
                with open(path, "w", encoding="ascii") as handle:
                    handle.write(text)
