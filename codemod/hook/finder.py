"""The import hook: target files get, in memory, the very rewrite `contiguify fix` would write.

A `sys.meta_path` finder asks `PathFinder` where a module is, as the import system would, and takes
over only source files below its roots that the byte prefilter of `check` accepts (with each file's
own `[tool.contiguify]` settings) and whose rewrite inserts something. Every other import goes on as
if the hook were not there. The loader compiles the rewritten bytes under the file's real path; the
rewrite inserts within lines, so tracebacks name the real file and line. Nothing is written next to
the file (no `__pycache__` entry for rewritten code), the result cache is the one `check` and `fix`
use, and any failure loads the file as it is, with one warning line: the hook never stops a start.
"""

from __future__ import annotations

import os
import sys
import types
from _thread import get_ident
from collections.abc import Callable, Iterable, Sequence
from importlib.machinery import ModuleSpec, PathFinder, SourceFileLoader
from importlib.util import spec_from_file_location
from typing import TYPE_CHECKING, NamedTuple

from codemod.config import ConfigError, Project, Projects
from codemod.match.patterns import DEFAULT_TARGETS, parse_targets
from codemod.options import PROFILE_NAMES, Options
from codemod.results import FileResult
from codemod.report.paths import display_path
from codemod.run.files import SKIPPED_DIRECTORIES, read_source
from codemod.prefilter import could_contain_target, settle_without_parsing
from codemod.run.job import Job

if TYPE_CHECKING:
    from codemod.run.cache import ResultCache

Log = Callable[[str], None]
PREFIX = "contiguify"


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class Rewritten(NamedTuple):
    """What the loader runs for one file, and what the log line says about it."""

    path: str
    source: bytes  # the file's bytes, as read
    code: types.CodeType  # compiled from the rewritten bytes under the file's path
    profile: str
    insertions: int
    cached: bool


class RewrittenLoader(SourceFileLoader):
    """Runs the code compiled from the rewritten bytes; never reads or writes a bytecode cache beside the
    file, so the unmodified file's `__pycache__` entry stays what Python wrote."""

    def __init__(self, fullname: str, path: str, rewritten: Rewritten) -> None:
        super().__init__(fullname, path)
        self.rewritten = rewritten

    def get_code(self, fullname: str) -> types.CodeType:
        return self.rewritten.code


class ContiguifyFinder:
    """Takes over the import of target files below `roots`; see the module's docstring.

    A meta-path finder by protocol (`find_spec`, `invalidate_caches`): `importlib.abc` would import
    `importlib.resources` and `re`, several milliseconds of a start.

    `options`: what overrides each file's `[tool.contiguify]` (a profile, targets), as on the command
    line. `cache_directory`: the result cache's (None: every file is rewritten afresh). `log`: where the
    one line per file and the warnings go.
    """

    def __init__(self, roots: Sequence[str], options: Options, cache_directory: str | None, log: Log) -> None:
        self.roots = tuple(os.path.realpath(root) for root in roots)
        self._spellings = tuple({*self.roots, *(os.path.abspath(root) for root in roots)})
        self.options = options
        self.log = log
        self.cache: ResultCache | None = None
        self._cache_problem: str | None = None
        if cache_directory is not None:
            from codemod.run.cache import ResultCache

            self.cache = ResultCache(cache_directory, on_unwritable=self._unwritable)
        self.projects = Projects(options)
        self.rewritten: dict[str, Rewritten] = {}  # by real path
        self.refused: dict[str, str] = {}  # real path -> why it was loaded unmodified
        self._ignored = tuple(os.path.realpath(prefix) for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix})
        self._busy: set[int] = set()  # threads inside find_spec: imports run in several threads at once
        self._entries: dict[str, bool] = {}
        # sys.path as last seen and its entries that reach a root; the same for each package's __path__.
        self._searched: list[str] = []
        self._searched_entries: list[str] = []
        self._packages: dict[tuple[object, ...], list[str]] = {}

    # The import system's side.

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: types.ModuleType | None = None,
    ) -> ModuleSpec | None:
        # Every import of the process comes here first: most are told apart by remembered path lists alone.
        if path is None:
            if sys.path != self._searched:
                self._searched = list(sys.path)
                self._searched_entries = self._reaching(self._searched)
            entries = self._searched_entries
        else:
            key = tuple(path)
            found = self._packages.get(key)
            entries = self._packages[key] = self._reaching(key) if found is None else found
        if not entries:
            return None
        thread = get_ident()
        if thread in self._busy:  # the rewrite's own imports (libcst) go the usual way
            return None
        self._busy.add(thread)
        try:
            spec = PathFinder.find_spec(fullname, entries)
            if spec is None or spec.origin is None or not isinstance(spec.loader, SourceFileLoader):
                return None
            if path is None and len(entries) != len(self._searched):
                # The import system searches all of sys.path: an entry outside the roots may come first.
                first = PathFinder.find_spec(fullname, None)
                if first is None or first.origin != spec.origin:
                    return None
            rewritten = self.consider(spec.origin)
        finally:
            self._busy.discard(thread)
        if rewritten is None:
            return None
        loader = RewrittenLoader(fullname, spec.origin, rewritten)
        return spec_from_file_location(fullname, spec.origin, loader=loader,
                                       submodule_search_locations=spec.submodule_search_locations)

    def invalidate_caches(self) -> None:
        """Settings and path entries are looked at again for files imported from now on."""
        self.projects = Projects(self.options)
        self._entries.clear()
        self._packages.clear()
        self._searched = []

    def _reaching(self, entries: Iterable[object]) -> list[str]:
        return [entry for entry in entries if isinstance(entry, str) and self._overlaps(entry)]

    # The decision, one file at a time.

    def _overlaps(self, entry: str) -> bool:
        """Whether a path entry may lead to a file below a root; remembered: every import asks again."""
        found = self._entries.get(entry)
        if found is None:
            real = os.path.realpath(entry or os.curdir)
            found = self._entries[entry] = any(_inside(real, root) or _inside(root, real) for root in self.roots)
        return found

    def _watched(self, real: str) -> str | None:
        """The root `real` lies below, unless it is in an environment or a directory a run skips."""
        if any(_inside(real, prefix) for prefix in self._ignored):
            return None
        for root in self.roots:
            if _inside(real, root):
                parts = os.path.relpath(real, root).split(os.sep)[:-1]
                return None if any(part in SKIPPED_DIRECTORIES for part in parts) else root
        return None

    def _warn(self, path: str, reason: str) -> None:
        self.log(f"{PREFIX}: warning: {display_path(path)}: {reason}; loaded unmodified")

    def consider(self, origin: str, *, announce: bool = True) -> Rewritten | None:
        """The rewritten bytes for the file at `origin`, or None to load it as it is (said when it is a target).

        `announce`: log the line of a rewritten file (not for a module that was loaded before the hook).
        """
        real = os.path.realpath(origin)
        if self._watched(real) is None:
            return None
        project = self.projects.for_file(origin)
        if isinstance(project, ConfigError):
            self._config_error(origin, project)
            return None
        if project.excludes(origin):
            return None
        source = read_source(origin)
        if isinstance(source, str):
            return None  # the import itself reports a file it cannot read
        known = self.rewritten.get(real)
        if known is not None and known.source == source.data:  # imported again (a reload): said once
            return known
        job = Job(origin, source.data, project.profile, project.targets_for(origin), project.entry_points)
        if settle_without_parsing(job.path, job.data, job.targets) is not None:
            return None  # no target class can be in it (or binary): the common case, decided from the bytes alone
        result, cached, code = self._result(job, project)
        if result.error is not None:
            self.refused[real] = result.error
            self._warn(origin, result.error)
            return None
        if not result.changed or result.new is None:
            if result.targets:
                present = any(site.status == "present" for target in result.targets for site in target.sites)
                state = "already has its .contiguous() calls" if present else "none of the profile's sites found"
                self.log(f"{PREFIX}: {display_path(origin)}: {state} (profile {project.profile}); loaded as it is")
            return None
        if code is None:
            try:
                code = compile(result.new, origin, "exec", dont_inherit=True)
            except (SyntaxError, ValueError) as error:  # checked before, so not expected: fall back all the same
                self._warn(origin, f"the rewrite does not compile ({error})")
                return None
            if self.cache is not None:
                self.cache.store_code(job, code)
        inserted = sum(target.inserted for target in result.targets)
        rewritten = Rewritten(origin, source.data, code, project.profile, inserted, cached)
        self.rewritten[real] = rewritten
        if announce:
            self.log(f"{PREFIX}: rewrote in memory: {display_path(origin)} (profile {project.profile}, "
                     f"{inserted} insertions, {'from the cache' if cached else 'not cached'})")
        return rewritten

    def _config_error(self, origin: str, error: ConfigError) -> None:
        """Said for a file that could hold a default target: its own settings are unknown."""
        source = read_source(origin)
        if not isinstance(source, str) and could_contain_target(source.data, parse_targets(DEFAULT_TARGETS)):
            self.refused[os.path.realpath(origin)] = str(error)
            self._warn(origin, f"its settings cannot be read: {error}")

    def _result(self, job: Job, project: Project) -> tuple[FileResult, bool, types.CodeType | None]:
        """The file's result from the cache (with its code when the hook compiled it before), else from the
        rewrite (and then cached); never raises."""
        if len(job.data) > project.max_file_size:
            return FileResult(job.path, error=f"too large to parse: {len(job.data):,} bytes, over the limit of "
                                              f"{project.max_file_size:,} (max-file-size)"), False, None
        if self.cache is not None:
            found = self.cache.lookup_with_code(job)
            if found is not None:
                return found[0], True, found[1]
        try:
            from codemod.rewrite.file import rewrite

            result = rewrite(job.data, job.profile, job.targets, path=job.path, entry_points=job.entry_points)
        except ImportError as error:
            return FileResult(job.path, error=f"cannot rewrite: {error}"), False, None
        except Exception as error:  # noqa: BLE001 - a defect of the rewrite must not stop the program's start
            return FileResult(job.path, error=f"internal error: {type(error).__name__}: {error}"), False, None
        if self.cache is not None:
            self.cache.store(job, result)
            if self._cache_problem is not None:  # said once, with the file it happened on
                self.log(f"{PREFIX}: warning: {display_path(job.path)}: {self._cache_problem}; the rewrite is "
                         "used all the same, and done again at every start")
                self.cache = None
        return result, False, None

    def _unwritable(self, reason: str) -> None:
        self._cache_problem = reason

    def report_imported(self) -> None:
        """Say which target modules were imported before the hook was installed: they run as they were loaded.

        A host has imported a thousand modules by then: only files whose path, as imported, is spelled
        below a root (as given or resolved) are resolved and looked at.
        """
        roots = set(self._spellings)
        below = tuple(root.rstrip(os.sep) + os.sep for root in roots)  # one C-level test per module
        for name, module in list(sys.modules.items()):
            # Through the module's dict: `getattr` would run the `__getattr__` of lazy modules (torch has many).
            namespace = getattr(module, "__dict__", None)
            origin = namespace.get("__file__") if type(namespace) is dict else None
            if not isinstance(origin, str) or not (origin.startswith(below) or origin in roots):
                continue
            if not origin.endswith(".py"):
                continue
            if self._watched(os.path.realpath(origin)) is None:
                continue
            if isinstance(getattr(module, "__loader__", None), RewrittenLoader):
                continue
            if self.consider(origin, announce=False) is not None:
                self.log(f"{PREFIX}: warning: {display_path(origin)}: module {name} was imported before the hook "
                         "was installed; it runs without the fix")


_installed: ContiguifyFinder | None = None


class Hook:
    """The installed hook; a context manager that uninstalls it on exit."""

    def __init__(self, finder: ContiguifyFinder) -> None:
        self.finder = finder

    @property
    def rewritten(self) -> dict[str, Rewritten]:
        return self.finder.rewritten

    def __enter__(self) -> Hook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        uninstall()


def install(
    roots: Iterable[str] | None = None, *, profile: str | None = None, targets: Sequence[str] | None = None,
    cache: bool = True, log: Log | None = None,
) -> Hook:
    """Rewrite target files below `roots` (default: the working directory) as they are imported.

    `profile`, `targets`: override every file's `[tool.contiguify]`, as `fix --profile/--target` do.
    `cache=False` (or CONTIGUIFY_NO_CACHE=1): no result cache. `log`: receives each line (default: stderr).
    Installing again replaces the hook. Target modules already imported are reported, not rewritten.
    """
    global _installed
    if profile is not None and profile not in PROFILE_NAMES:
        raise ValueError(f"unknown profile {profile!r} (known: {', '.join(PROFILE_NAMES)})")
    uninstall()
    options = Options(profile=profile, targets=tuple(targets) if targets else None)
    directory = None
    if cache:
        from codemod.run.cache import cache_disabled, default_directory

        directory = None if cache_disabled() else default_directory()
    finder = ContiguifyFinder(list(roots) if roots is not None else [os.getcwd()], options, directory,
                              log or _stderr)
    finder.report_imported()
    sys.meta_path.insert(0, finder)
    _installed = finder
    return Hook(finder)


def uninstall() -> bool:
    """Remove the hook; modules it already loaded keep their rewritten code. False if none was installed."""
    global _installed
    finder, _installed = _installed, None
    if finder is None or finder not in sys.meta_path:
        return False
    sys.meta_path.remove(finder)
    return True


def installed() -> Hook | None:
    return Hook(_installed) if _installed is not None else None
