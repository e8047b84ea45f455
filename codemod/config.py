"""`[tool.contiguify]` of each checkout: the nearest pyproject.toml above a file decides how it is treated.

A file's *project root* is the directory of the nearest `pyproject.toml` at or above it, whatever that
file holds, up to its repository's root (the nearest directory holding `.git`): a `pyproject.toml`
above the repository is never read, as ruff and pre-commit do (anyone can write `/tmp/pyproject.toml`).
Without one, the root is the repository's root, else the working directory. `exclude` patterns and
path-qualified targets are relative to it. The command line wins over the file. Every key's schema
is checked here, the `[[tool.contiguify.entry-points]]` tables' included.
"""

from __future__ import annotations

import builtins
import fnmatch
import os
import re
import sys
from collections.abc import Mapping
from typing import Any, NamedTuple

from codemod.match.entry_points import LAYOUTS, TENSOR_NAMES, TENSOR_OPERATIONS, EntryPoint, Layout, with_builtins
from codemod.match.patterns import DEFAULT_TARGETS, TargetPattern, TargetSyntaxError, parse_targets, targets_for
from codemod.options import DEFAULT_MAX_FILE_SIZE, PROFILE_NAMES, Options
from codemod.repository import holds_repository
from codemod.rewrite import DEFAULT_PROFILE

PYPROJECT = "pyproject.toml"
STDIN = "-"
# Real pyproject.toml files are a few KiB; a larger one is refused before it is read.
MAX_PYPROJECT_SIZE = 1024 * 1024
KNOWN_KEYS: dict[str, type] = {
    "targets": list, "profile": str, "strict": bool, "exclude": list, "max-file-size": int, "entry-points": list,
}


# A dotted name as written at a call site, each part an identifier or a shell pattern over one.
_PART = r"(?:[\w*?]|\[!?[^]\s.]+\])+"  # identifier characters, `*`, `?`, `[set]`
_NAME_PATTERN = re.compile(rf"{_PART}(?:\.{_PART})*")
# The keys of one `[[tool.contiguify.entry-points]]` table; `names` and `layout` are required.
CONFIG_KEYS = ("names", "layout", "keywords", "packed", "layout-if", "reads-strides", "label", "example")


def _strings(value: object, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"{key} must be a string or an array of strings")
    return tuple(value)


def _layout(value: object, key: str) -> Layout:
    if value not in LAYOUTS:
        raise ValueError(f"{key} must be one of {', '.join(repr(layout) for layout in LAYOUTS)}, not {value!r}")
    return value


def _flag(table: Mapping[str, object], key: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false")
    return value


def _not_attention(last_part: str) -> str | None:
    """What a name's last part (a shell pattern) matches that is never attention: a tensor operation or a builtin."""
    for word in sorted(TENSOR_OPERATIONS):
        if fnmatch.fnmatchcase(word, last_part):
            return f"the tensor operation `{word}`"
    for word in sorted(dir(builtins)):
        if fnmatch.fnmatchcase(word, last_part):
            return f"the builtin `{word}`"
    return None


def entry_point_from_config(table: Mapping[str, object]) -> EntryPoint:
    """One user entry point from its `[[tool.contiguify.entry-points]]` table; ValueError names the bad key.

    >>> entry_point_from_config({"names": ["my_attention"], "layout": "B H L D"}).example
    'x = my_attention(q, k, v)'
    """
    unknown = [key for key in table if key not in CONFIG_KEYS]
    if unknown:
        raise ValueError(f"unknown key {unknown[0]} (known: {', '.join(CONFIG_KEYS)})")
    if "names" not in table or "layout" not in table:
        raise ValueError("names and layout are required")
    names = _strings(table["names"], "names")
    if not names:
        raise ValueError("names must name at least one function")
    for name in names:
        if not _NAME_PATTERN.fullmatch(name):
            raise ValueError(f"names: {name!r} is not a dotted name (shell wildcards allowed)")
        if name.split(".", 1)[0] == "self":
            raise ValueError(f"names: {name!r}: a method of self is never an entry point")
        if not re.search(r"\w", re.sub(r"\[[^]]*\]", "", name.rsplit(".", 1)[-1])):
            raise ValueError(f"names: {name!r}: its last part must name the function (wildcards alone match any)")
        refused = _not_attention(name.rsplit(".", 1)[-1])
        if refused is not None:
            raise ValueError(f"names: {name!r} matches {refused}, which is never an attention kernel")
    packed = _flag(table, "packed")
    default_keywords = ("qkv",) if packed else TENSOR_NAMES
    keywords = _strings(table.get("keywords", list(default_keywords)), "keywords")
    if any(not keyword.isidentifier() for keyword in keywords):
        raise ValueError("keywords must be parameter names")
    if keywords and len(keywords) != (1 if packed else 3):
        raise ValueError("keywords must name q, k and v (three names), or the list when packed (one), or be empty")
    conditions = table.get("layout-if", [])
    if not isinstance(conditions, list) or not all(isinstance(item, dict) for item in conditions):
        raise ValueError("layout-if must be an array of tables {keyword, value, layout}")
    layout_if: list[tuple[str, object, Layout]] = []
    for condition in conditions:
        if set(condition) != {"keyword", "value", "layout"} or not isinstance(condition["keyword"], str):
            raise ValueError("layout-if: each table needs exactly keyword (a string), value and layout")
        if not isinstance(condition["value"], (str, int, float, bool)):
            raise ValueError("layout-if.value must be a string, number or boolean: a literal the call passes")
        layout_if.append((condition["keyword"], condition["value"], _layout(condition["layout"], "layout-if.layout")))
    label, example = table.get("label", names[0]), table.get("example", f"x = {names[0]}(q, k, v)")
    if not isinstance(label, str) or not isinstance(example, str):
        raise ValueError("label and example must be strings")
    return EntryPoint(
        label, names, _layout(table["layout"], "layout"), example, keywords=keywords, packed=packed,
        layout_if=tuple(layout_if), reads_strides=_flag(table, "reads-strides"),
    )



class ConfigError(ValueError):
    """A pyproject.toml that cannot be read, or whose `tool` / `tool.contiguify` table is malformed."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


# A named tuple, not a frozen dataclass, for start-up time: see codemod/results.py.
class Project(NamedTuple):
    """The settings of every file below `root` that has no nearer pyproject.toml."""

    root: str  # absolute
    pyproject: str | None
    profile: str
    targets: tuple[TargetPattern, ...]
    # Named by the user (command line or config): a pattern of these that matches nothing earns a warning.
    targets_given: bool
    strict: bool
    exclude: tuple[str, ...]
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    declared_entry_points: tuple[EntryPoint, ...] = ()  # its `entry-points`

    @property
    def entry_points(self) -> tuple[EntryPoint, ...]:
        """The attention calls of this project: its own ahead of the built-in table (codemod.match.entry_points)."""
        return with_builtins(self.declared_entry_points)

    def relative(self, path: str) -> str:
        """`path` relative to the root, with `/` separators."""
        return os.path.relpath(os.path.abspath(path), self.root).replace(os.sep, "/")

    def excludes(self, path: str) -> bool:
        """An `exclude` pattern matches the path relative to the root, a directory above it, or one of its names."""
        if not self.exclude:
            return False
        relative = self.relative(path)
        if relative == os.curdir:
            return False
        parts = relative.split("/")
        prefixes = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.exclude for name in (*prefixes, *parts))

    def targets_for(self, path: str) -> tuple[TargetPattern, ...]:
        """The targets that apply to one file; standard input has no path, so every target applies to it."""
        if path == STDIN or all(target.path_pattern is None for target in self.targets):
            return self.targets
        return targets_for(self.targets, self.relative(path))


def _kind(value: object) -> str:
    """A TOML value's type, as the TOML spec names it."""
    if isinstance(value, list):
        return "an array of tables" if value and all(isinstance(item, dict) for item in value) else "an array"
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", dict: "a table"}
    return names.get(type(value), f"a {type(value).__name__}")


def _checked(path: str, key: str, value: object) -> object:
    """`value` if it is right for `key`; `entry-points` comes back as entry points."""
    name = f"tool.contiguify.{key}"
    expected = KNOWN_KEYS.get(key)
    if expected is None:
        raise ConfigError(path, f"unknown key {name} (known: {', '.join(KNOWN_KEYS)})")
    if key == "entry-points":
        return _entry_points(path, value)
    if expected is list:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ConfigError(path, f"{name} must be an array of strings, not {_kind(value)}")
    elif not isinstance(value, expected):
        raise ConfigError(path, f"{name} must be {_kind(expected())}, not {_kind(value)}")
    if key == "max-file-size" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(path, f"{name} must be a number of bytes, 1 or more")
    if key == "profile" and value not in PROFILE_NAMES:
        raise ConfigError(path, f"{name}: unknown profile {value!r} (known: {', '.join(PROFILE_NAMES)})")
    if key == "targets":
        assert isinstance(value, list)
        try:
            parse_targets(value)
        except TargetSyntaxError as error:
            raise ConfigError(path, f"{name}: {error}") from error
    if key == "exclude":
        assert isinstance(value, list)
        return [_exclude_pattern(path, pattern) for pattern in value]
    return value


def _exclude_pattern(path: str, pattern: str) -> str:
    """`pattern` in the one form `Project.excludes` matches: relative, `/` separators, no `.` parts, no trailing `/`.

    `"./tests"`, `"tests/"`, `"**/tests"` and `"tests//unit"` are `tests` and `tests/unit`; a pattern that could never
    match a path inside the project (absolute, or with a `..` part) is an error, not a silent no-op.
    """
    name = f"tool.contiguify.exclude: {pattern!r}"
    if pattern.startswith("/"):
        raise ConfigError(path, f"{name} is an absolute path; patterns are relative to the pyproject.toml's directory")
    parts = [part for part in pattern.split("/") if part not in ("", ".")]
    while len(parts) > 1 and parts[0] == "**":  # gitignore's `**/tests`: `tests` at any depth, as names match
        parts.pop(0)
    if ".." in parts:
        raise ConfigError(path, f"{name} has a '..' part; patterns match paths inside the pyproject.toml's directory")
    if not parts:
        raise ConfigError(path, f"{name} names no path (to exclude everything, write \"*\")")
    return "/".join(parts)


def _entry_points(path: str, value: object) -> tuple[EntryPoint, ...]:
    """The checked `[[tool.contiguify.entry-points]]` tables, as entry points."""
    name = "tool.contiguify.entry-points"
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ConfigError(path, f"{name} must be an array of tables ([[{name}]]), not {_kind(value)}")
    found = []
    for index, item in enumerate(value):
        try:
            found.append(entry_point_from_config(item))
        except ValueError as error:
            raise ConfigError(path, f"{name}[{index}]: {error}") from error
    return tuple(found)


def read_table(path: str) -> dict[str, Any]:
    """The checked `[tool.contiguify]` table of one pyproject.toml (`entry-points` as `EntryPoint`s); empty when
    it has none."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_PYPROJECT_SIZE + 1)
    except OSError as error:
        raise ConfigError(path, f"cannot read: {error.strerror or error}") from error
    if len(data) > MAX_PYPROJECT_SIZE:
        raise ConfigError(path, f"too large to be a pyproject.toml (over {MAX_PYPROJECT_SIZE:,} bytes); not read")
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ConfigError(path, f"not UTF-8 (byte {error.start}): {error.reason}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(path, f"not valid TOML: {error}") from error
    except RecursionError as error:  # tomllib recurses once per nested array or inline table
        raise ConfigError(path, "not readable: arrays or inline tables nested too deeply") from error
    tool = document.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(path, f"tool must be a table, not {_kind(tool)}")
    table = tool.get("contiguify", {})
    if not isinstance(table, dict):
        raise ConfigError(path, f"tool.contiguify must be a table, not {_kind(table)}")
    return {key: _checked(path, key, value) for key, value in table.items()}


class Projects:
    """The project of each directory, each pyproject.toml read once; directories are looked up once."""

    def __init__(self, options: Options | None = None) -> None:
        self._options = options or Options()
        self._cwd = os.getcwd()
        self._by_directory: dict[str, Project | ConfigError] = {}
        self._by_pyproject: dict[str, Project | ConfigError] = {}
        self._defaults: dict[str, Project] = {}  # by root: projects without a pyproject.toml
        self.made: list[Project] = []

    def _absolute(self, path: str) -> str:
        return os.path.normpath(os.path.join(self._cwd, path))

    def _project(self, root: str, pyproject: str | None, table: dict[str, Any]) -> Project:
        options = self._options
        texts = options.targets if options.targets is not None else table.get("targets")
        project = Project(
            root=root,
            pyproject=pyproject,
            profile=options.profile or table.get("profile", DEFAULT_PROFILE),
            targets=parse_targets(DEFAULT_TARGETS if texts is None else texts),
            targets_given=texts is not None,
            strict=options.strict if options.strict is not None else table.get("strict", False),
            exclude=tuple(table.get("exclude", ())),
            max_file_size=options.max_file_size or table.get("max-file-size", DEFAULT_MAX_FILE_SIZE),
            declared_entry_points=table.get("entry-points", ()),
        )
        self.made.append(project)
        return project

    def _load(self, directory: str) -> Project | ConfigError:
        pyproject = os.path.join(directory, PYPROJECT)
        found = self._by_pyproject.get(pyproject)
        if found is None:
            try:
                found = self._project(directory, pyproject, read_table(pyproject))
            except ConfigError as error:
                found = error
            self._by_pyproject[pyproject] = found
        return found

    def for_directory(self, directory: str) -> Project | ConfigError:
        """The project of the nearest pyproject.toml at or above `directory`, up to the repository's root."""
        start = self._absolute(directory)
        walked: list[str] = []
        folder, repository = start, None
        found: Project | ConfigError | None = None
        while found is None:
            cached = self._by_directory.get(folder)
            if cached is not None:
                found = cached
                break
            walked.append(folder)
            if os.path.isfile(os.path.join(folder, PYPROJECT)):
                found = self._load(folder)
                break
            if holds_repository(folder):
                repository = folder  # settings above the repository are another project's, or anyone's
                break
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder = parent
        if found is None:  # no pyproject.toml in the repository: its root, else the working directory
            found = self._default(repository or self._cwd)
        for folder in walked:
            self._by_directory[folder] = found
        return found

    def _default(self, root: str) -> Project:
        """The defaults (and the command line) for the files below `root` without a pyproject.toml; one per root."""
        found = self._defaults.get(root)
        if found is None:
            found = self._defaults[root] = self._project(root, None, {})
        return found

    def for_file(self, path: str) -> Project | ConfigError:
        return self.for_directory(os.path.dirname(self._absolute(path)))

    def below(
        self, directory: str, parent: Project, has_pyproject: bool, is_repository: bool = False,
    ) -> Project | ConfigError:
        """The project of a directory met while walking `parent`'s tree, whose listing is known: its own
        pyproject.toml's, else a repository's own (a nested checkout never takes the settings around it),
        else `parent`."""
        absolute = self._absolute(directory)
        found: Project | ConfigError = parent
        if has_pyproject and os.path.isfile(os.path.join(absolute, PYPROJECT)):
            found = self._load(absolute)
        elif is_repository:
            found = self._default(absolute)
        self._by_directory[absolute] = found
        return found
