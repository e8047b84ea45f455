"""`[path::]Class.method` target patterns, without libcst: the fast path filters files with them before any parse."""

from __future__ import annotations

import fnmatch
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import NamedTuple

# Upstream's attention classes, each with the forward it is: WanVideoWrapper's single-speaker and
# multi-speaker classes, and MultiTalk's original spelling of the second.
UPSTREAM_CLASSES: Mapping[str, str] = {
    "SingleStreamAttention": "single",
    "SingleStreamMultiAttention": "multi",
    "SingleStreamMutiAttention": "multi",
}
DEFAULT_TARGETS: tuple[str, ...] = tuple(f"{name}.forward" for name in UPSTREAM_CLASSES)

_WILDCARD = re.compile(r"[*?\[]")


PATH_SEPARATOR = "::"


def python_name(name: str) -> str:
    """The identifier Python sees: names are NFKC-normalised when parsed (PEP 3131), so `Ｓingle` is `Single`."""
    return name if name.isascii() else unicodedata.normalize("NFKC", name)


class TargetSyntaxError(ValueError):
    """A `--target` value that is not `[path::]Class.method`."""


# A named tuple, not a frozen dataclass, for start-up time: see codemod/results.py.
class TargetPattern(NamedTuple):
    """`Class.method`, each part a shell-style pattern, optionally limited to files whose path matches a glob.

    The path glob is matched against the file's path relative to its project root (the directory of
    the nearest pyproject.toml), with `/` separators (`*` matches them too); a glob without `/` is
    matched against the file name alone. Without a glob the pattern applies to every file.
    """

    class_pattern: str
    method_pattern: str
    path_pattern: str | None = None

    @classmethod
    def parse(cls, text: str) -> TargetPattern:
        path_part, separator, name_part = text.strip().rpartition(PATH_SEPARATOR)
        class_part, dot, method_part = name_part.rpartition(".")
        if not dot or not class_part or not method_part or (separator and not path_part):
            raise TargetSyntaxError(f"target {text!r} is not of the form Class.method or path::Class.method")
        return cls(python_name(class_part), python_name(method_part),
                   path_part.strip().removeprefix("./") if separator else None)

    def __str__(self) -> str:
        name = f"{self.class_pattern}.{self.method_pattern}"
        return name if self.path_pattern is None else f"{self.path_pattern}{PATH_SEPARATOR}{name}"

    def matches(self, class_name: str, method_name: str) -> bool:
        """Names as Python sees them (`python_name`) against the patterns."""
        return fnmatch.fnmatchcase(python_name(class_name), self.class_pattern) and fnmatch.fnmatchcase(
            python_name(method_name), self.method_pattern
        )

    def applies_to(self, relative_path: str) -> bool:
        """Whether this pattern is meant for the file at `relative_path` (posix, relative to its project root)."""
        if self.path_pattern is None or fnmatch.fnmatchcase(relative_path, self.path_pattern):
            return True
        return "/" not in self.path_pattern and fnmatch.fnmatchcase(relative_path.rpartition("/")[2], self.path_pattern)

    def literal_hint(self) -> bytes:
        """The longest fixed piece of the class (else method) pattern: a file without it cannot match."""
        return _longest_piece(self.class_pattern) or _longest_piece(self.method_pattern)

    @property
    def hint_is_the_methods(self) -> bool:
        """Whether `literal_hint` comes from the method pattern (the class pattern has no fixed piece)."""
        return not _longest_piece(self.class_pattern)


def _longest_piece(pattern: str) -> bytes:
    pieces = [piece for piece in _WILDCARD.split(pattern) if "]" not in piece]
    return max(pieces, key=len, default="").encode()


def parse_targets(texts: Iterable[str]) -> tuple[TargetPattern, ...]:
    return tuple(TargetPattern.parse(text) for text in texts)


def targets_for(targets: Iterable[TargetPattern], relative_path: str) -> tuple[TargetPattern, ...]:
    """The patterns that apply to one file: a file's job carries only these, so the prefilter sees only these."""
    return tuple(target for target in targets if target.applies_to(relative_path))
