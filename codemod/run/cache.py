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

The cache is private: its directory must be a directory of this user's own that no one else may write
(not a symbolic link), else it is not used and the run says so once. Entries are opened without following
links, only if they are regular files of at most `ENTRY_LIMIT` bytes, and every field is checked: text
fields are single printable lines, and each site's status agrees with the file (a `present` site's line
holds a `.contiguous()` call, an `inserted` one's holds an insertion). The cache stays bounded: at most
`MAX_ENTRIES` entries per fingerprint (the oldest go first) and the `MAX_FINGERPRINTS` newest fingerprint
directories.

The import hook also keeps the code it compiled from a rewrite (`lookup_with_code`, `store_code`), in the
`code` directory beside the entries, so that a start needs neither a parse nor a compile. A code entry
is bound to the result entry it was compiled from (its name hashes that entry's checksum, the file's
path and the optimization level) and is written only once that entry's rewrite passed the check above;
it is read under the rules above (private directory, no links, a regular file of bounded size, its own
checksum) and must be a code object of that path. Like Python's own `__pycache__`, and unlike a result
entry, a code entry is not re-derived from the file: whoever can write this user's private directory
can make a start run other code, as they could through the user's site-packages. At most
`MAX_CODE_ENTRIES` are kept.
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import marshal
import os
import re
import stat
import sys
from collections.abc import Callable, Sequence
from types import CodeType
from typing import Any

try:  # built into CPython; `hashlib` would load OpenSSL first, 2 ms of a 50 ms cached run
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - other interpreters
    from hashlib import blake2b

import codemod
from codemod.decoding import LINE_END, decode, lines_and_ends
from codemod.guards import INSERTED_TEXT, check_insertions_only, insertions, rebuild
from codemod.results import FileResult, SiteResult, TargetResult
from codemod.run.job import Job

PACKAGE_DIRECTORY = os.path.dirname(os.path.abspath(codemod.__file__))
CACHE_DIR_VARIABLE = "CONTIGUIFY_CACHE_DIR"
NO_CACHE_VARIABLE = "CONTIGUIFY_NO_CACHE"
FORMAT = 3
SITE_STATUSES = ("inserted", "present", "missing")
# An entry is about 1 KB (a target file's sites and insertions); one of a 2 MiB file with thousands of
# insertions stays far below this.
ENTRY_LIMIT = 256 * 1024
# The code of a 15 KiB target file marshals to about 40 KiB; a file at the size limit (2 MiB) to some 6 MiB.
CODE_LIMIT = 16 * 1024 * 1024
CODE_DIRECTORY = "code"
# 4,096 entries of about 1 KB: every target file of many checkouts and versions. Past it, the oldest quarter goes.
MAX_ENTRIES = 4096
# Code entries (about 40 KiB each) are kept only for the files a hook rewrites: a few per ComfyUI tree.
MAX_CODE_ENTRIES = 256
MAX_FINGERPRINTS = 4  # directories of other versions of the tool (or of libcst, Python) kept beside this one
STALE_TEMP_S = 3600.0  # a temp file this old is left by a killed run
_FINGERPRINT = re.compile(r"[0-9a-f]{32}")
_TEXT_LIMIT = 2000


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


def _is_line(value: Any) -> bool:
    """A non-empty, printable, single line of text of bounded length: what an entry may print."""
    return isinstance(value, str) and 0 < len(value) <= _TEXT_LIMIT and value.isprintable()


def _is_line_number(value: Any) -> bool:
    return type(value) is int and value >= 1


def _targets_from_plain(value: Any) -> tuple[TargetResult, ...]:
    """Raises ValueError / TypeError on anything but the shape `_targets_to_plain` writes."""
    targets = []
    for class_name, method, line, role, sites in value:
        checked_sites = []
        for site_id, site_line, status, reason in sites:
            if not (_is_line(site_id) and (site_line is None or _is_line_number(site_line))
                    and status in SITE_STATUSES and (reason is None or _is_line(reason))):
                raise ValueError("malformed site")
            checked_sites.append(SiteResult(site_id, site_line, status, reason))
        if not (_is_line(class_name) and _is_line(method) and _is_line_number(line) and _is_line(role)):
            raise ValueError("malformed target")
        targets.append(TargetResult(class_name, method, line, role, tuple(checked_sites)))
    return tuple(targets)


def consistent(text: str, targets: Sequence[TargetResult], offsets: Sequence[int] | None) -> bool:
    """The sites agree with the file: each target's line names its method, a `present` site's line holds a
    `.contiguous()` call and an `inserted` site's line one of `offsets` (where insertions go in `text`;
    None: not known, as for an error). Lines count as the tokenizer counts them."""
    starts = [0] + [match.end() for match in LINE_END.finditer(text)]
    lines = lines_and_ends(text)[0]
    inserted_lines = None if offsets is None else {bisect.bisect_right(starts, offset) for offset in offsets}
    for target in targets:
        if target.line > len(lines) or target.method not in lines[target.line - 1]:
            return False
        for site in target.sites:
            if site.status == "missing":
                continue
            if site.line is None or site.line > len(lines):
                return False
            if site.status == "present" and INSERTED_TEXT not in lines[site.line - 1]:
                return False
            if site.status == "inserted" and inserted_lines is not None and site.line not in inserted_lines:
                return False
    return True


def private_problem(path: str) -> str | None:
    """Why the directory at `path` is not this user's alone, or None. Raises OSError when it is missing or
    not a directory. One that only others may read is made private (an older version made it so)."""
    status = os.lstat(path)
    if stat.S_ISLNK(status.st_mode):
        return "it is a symbolic link"
    if not stat.S_ISDIR(status.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
    if hasattr(os, "geteuid") and status.st_uid != os.geteuid():
        return f"it is owned by user id {status.st_uid}, not by this user ({os.geteuid()})"
    if status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"others may write it (mode {stat.S_IMODE(status.st_mode):o})"
    if status.st_mode & 0o077:
        os.chmod(path, 0o700)
    return None


def _read_entry(path: str, limit: int = ENTRY_LIMIT) -> bytes | None:
    """The entry's bytes if it is a regular file (not a link, a FIFO, a device) of at most `limit` bytes."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    descriptor = os.open(path, flags)
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode) or status.st_size > limit:
            return None
        chunks, left = [], limit + 1
        while left > 0 and (chunk := os.read(descriptor, left)):
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(descriptor)
    data = b"".join(chunks)
    return data if len(data) <= limit else None


def _create_exclusively(path: str, data: bytes) -> None:
    """Write a new file at `path`; an existing one (or a link there, dangling or not) is left as it is."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags, 0o600)
    except FileExistsError:
        return
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def _warn_unwritable(reason: str) -> None:
    sys.stderr.write(f"warning: {reason}; going on without it\n")


class ResultCache:
    """Maps a job (bytes, profile, targets) to its result; lookups and stores never raise."""

    def __init__(self, root: str, on_unwritable: Callable[[str], None] | None = None) -> None:
        """`on_unwritable`: told, once, why the directory cannot be used or written (default: a warning on stderr)."""
        self.root = root
        self.on_unwritable = on_unwritable or _warn_unwritable
        self._directory: str | None = None
        self._private: bool | None = None  # None: not known yet (the directory may not exist)
        self._created = False
        self._unwritable = False  # said once, then not tried again
        self._code_ok = False

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

    def _usable(self) -> bool:
        """Whether the root exists and is private; a root that is not is said once and never used."""
        if self._private is None:
            try:
                problem = private_problem(self.root)
            except OSError:
                return False  # missing, or not a directory: a store says why, if it comes to that
            self._private = problem is None
            if problem is not None:
                self._unwritable = True
                self.on_unwritable(f"cannot use the result cache in {self.root}: {problem}; it must be a directory "
                                   "of this user's own that no one else may write")
        return self._private

    def lookup(self, job: Job) -> FileResult | None:
        found = self.lookup_with_code(job, code=False)
        return None if found is None else found[0]

    def lookup_with_code(self, job: Job, *, code: bool = True) -> tuple[FileResult, CodeType | None] | None:
        """The result of `job`, and for the import hook (`code`) the code compiled from its rewrite when a code
        entry is bound to its result entry. With that code the result's insertions are not checked again: the
        code entry was written only once they had been (see the module's docstring); without it they are."""
        key = self.key(job)
        found = self._read(self._path(key))
        if found is None:
            return None
        checksum, payload = found
        compiled = self._code(job, checksum) if code else None
        result = self._guarded(self._result, job, key, payload, compiled is None)
        if result is None:
            return None
        return result, compiled if result.changed else None

    def _code(self, job: Job, entry_checksum: bytes) -> CodeType | None:
        """The code entry bound to the result entry with `entry_checksum`, if there is a sound one."""
        if not self._code_private():
            return None
        found = self._read(self._code_path(job, entry_checksum), CODE_LIMIT)
        loaded = None if found is None else self._guarded(marshal.loads, found[1])
        return loaded if isinstance(loaded, CodeType) and loaded.co_filename == job.path else None

    def _code_private(self) -> bool:
        """Whether the directory of code entries is there and this user's alone (not a link), as the root must be;
        once it is, not looked at again."""
        if not self._code_ok:
            try:
                self._code_ok = private_problem(os.path.join(self.directory, CODE_DIRECTORY)) is None
            except OSError:
                return False
        return self._code_ok

    def _code_path(self, job: Job, entry_checksum: bytes) -> str:
        name = blake2b(entry_checksum + b"\0" + f"{sys.flags.optimize}\0{job.path}".encode(), digest_size=32)
        return os.path.join(self.directory, CODE_DIRECTORY, name.hexdigest())

    def _read(self, path: str, limit: int = ENTRY_LIMIT) -> tuple[bytes, bytes] | None:
        """The checksum and payload of the entry at `path`, when the cache is usable and the checksum holds."""
        if not self._usable():
            return None
        try:
            data = _read_entry(path, limit)
        except OSError:
            return None
        if data is None:
            return None
        checksum, _, payload = data.partition(b"\n")
        return (checksum, payload) if _checksum(payload) == checksum else None

    @staticmethod
    def _guarded(function: Callable[..., Any], *arguments: Any) -> Any:
        """`function(*arguments)`, or None where an entry's payload makes it raise: a miss, never an error."""
        try:
            return function(*arguments)
        except (OSError, ValueError, TypeError, LookupError, EOFError, SyntaxError, RecursionError, MemoryError):
            return None

    def _result(self, job: Job, key: str, payload: bytes, check: bool) -> FileResult | None:
        """The entry's result; `check=False` leaves out the insertions-only check (a bound code entry vouches)."""
        entry = marshal.loads(payload)
        if not isinstance(entry, dict) or entry.get("format") != FORMAT or entry.get("key") != key:
            return None
        targets = _targets_from_plain(entry["targets"])
        error, inserted = entry["error"], entry["insertions"]
        if error is not None:
            if not _is_line(error) or inserted is not None:
                return None
            if targets and not consistent(decode(job.data)[0], targets, None):  # no targets: it may not decode
                return None
            return FileResult(job.path, error=error, targets=targets)
        reported = sum(target.inserted for target in targets)
        text, codec = decode(job.data)
        if inserted is None:
            if reported != 0 or not consistent(text, targets, ()):
                return None
            return FileResult(job.path, targets=targets, old=job.data, new=job.data)
        new_text = rebuild(text, inserted)
        if new_text is None or new_text.count(INSERTED_TEXT) - text.count(INSERTED_TEXT) != reported:
            return None
        if not consistent(text, targets, [offset for offset, _ in inserted]):
            return None
        if check and check_insertions_only(text, new_text) is not None:  # what every fresh rewrite passes
            return None
        return FileResult(job.path, targets=targets, old=job.data, new=new_text.encode(codec))

    def store(self, job: Job, result: FileResult) -> None:
        """Remember `result`; one that a lookup would not take back (not insertions, sites that do not agree
        with the file, text that is not one line) is not kept."""
        if self._unwritable or self._private is False:
            return
        if result.error is not None and not _is_line(result.error):
            return
        inserted = None
        if result.targets or result.changed:  # else the file may not even decode (an error about it)
            text, codec = decode(job.data)
            if result.changed and result.new is not None:
                inserted = insertions(text, result.new.decode(codec))
                if inserted is None:
                    return
            offsets = None if result.error is not None else [offset for offset, _ in inserted or ()]
            if not consistent(text, result.targets, offsets):
                return
        key = self.key(job)
        entry = {
            "format": FORMAT,
            "key": key,
            "error": result.error,
            "targets": _targets_to_plain(result.targets),
            "insertions": inserted,
        }
        payload = marshal.dumps(entry)
        if len(payload) + 65 <= ENTRY_LIMIT:
            self._write(self._path(key), payload)

    def store_code(self, job: Job, code: CodeType) -> None:
        """Remember the code the hook compiled from the rewrite of `job`, bound to the result entry stored
        for it (none stored, or one that fails its checksum: nothing is kept)."""
        if self._unwritable or self._private is False:
            return
        found = self._read(self._path(self.key(job)))
        if found is None:
            return
        payload = marshal.dumps(code)
        if len(payload) + 65 <= CODE_LIMIT:
            path = self._code_path(job, found[0])
            self._write(path, payload, make=os.path.dirname(path))  # made at the first: `check` makes none

    def _write(self, path: str, payload: bytes, make: str | None = None) -> None:
        """`payload` and its checksum at `path`, atomically, after making the directory `make`; a failure is
        said once and ends the cache's writes."""
        temp = None
        try:
            if not self._created and not self._create():
                return
            if make is not None:
                self._make_private(make)
            temp = f"{path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
            _create_exclusively(temp, _checksum(payload) + b"\n" + payload)
            os.replace(temp, path)
        except OSError as error:
            if temp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
            self._unwritable = True
            self.on_unwritable(f"cannot write the result cache in {self.root}: {error.strerror or error}")

    def _create(self) -> bool:
        """The root (mode 0700) and this fingerprint's directory, checked, then the cache kept bounded;
        False when the root is not private (said once). Raises OSError when they cannot be made."""
        os.makedirs(os.path.dirname(os.path.abspath(self.root)), exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(self.root, 0o700)
        if not stat.S_ISDIR(os.stat(self.root).st_mode):
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), self.root)
        if not self._usable():
            return False
        self._make_private(self.directory)
        self._mark_root()
        self._created = True
        self._bound()
        return True

    @staticmethod
    def _make_private(directory: str) -> None:
        """`directory` made (mode 0700) unless it exists; raises OSError unless it is private."""
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory, 0o700)
        problem = private_problem(directory)
        if problem is not None:
            raise OSError(errno.EPERM, f"{directory}: {problem}")

    def _mark_root(self) -> None:
        """Tell backup tools and git that the directory holds a cache, as other tools' caches do."""
        for name, text in (("CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55\n"), (".gitignore", "*\n")):
            _create_exclusively(os.path.join(self.root, name), text.encode("ascii"))

    def _bound(self) -> None:
        """Keep the newest MAX_FINGERPRINTS fingerprint directories and, in this one, at most MAX_ENTRIES
        entries (the oldest go first); remove temp files left by killed runs. Never raises."""
        with contextlib.suppress(OSError):
            others = []
            with os.scandir(self.root) as listing:
                for item in listing:
                    if (_FINGERPRINT.fullmatch(item.name) and item.path != self.directory
                            and item.is_dir(follow_symlinks=False)):
                        others.append((item.stat(follow_symlinks=False).st_mtime, item.path))
            if len(others) >= MAX_FINGERPRINTS:
                import shutil

                for _, path in sorted(others)[:len(others) - MAX_FINGERPRINTS + 1]:
                    shutil.rmtree(path, ignore_errors=True)
        self._bound_entries(self.directory, MAX_ENTRIES)
        self._bound_entries(os.path.join(self.directory, CODE_DIRECTORY), MAX_CODE_ENTRIES)

    @staticmethod
    def _bound_entries(directory: str, most: int) -> None:
        """At most `most` entries in `directory`, the oldest going first; stale temp files go. Never raises."""
        with contextlib.suppress(OSError):
            names = [name for name in os.listdir(directory) if name != CODE_DIRECTORY]
            temps = [name for name in names if name.endswith(".tmp")]
            if len(names) - len(temps) <= most and not temps:
                return
            import time

            now = time.time()
            dated = []
            for name in names:
                path = os.path.join(directory, name)
                with contextlib.suppress(OSError):
                    modified = os.lstat(path).st_mtime
                    if name.endswith(".tmp"):
                        if now - modified > STALE_TEMP_S:
                            os.unlink(path)
                    else:
                        dated.append((modified, path))
            if len(dated) > most:
                for _, path in sorted(dated)[:len(dated) - most * 3 // 4]:
                    with contextlib.suppress(OSError):
                        os.unlink(path)
