"""`Class.method` target patterns, without libcst: the fast path filters files with them before any parse."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass

# Upstream spellings: WanVideoWrapper's two classes and MultiTalk's original name for the second.
DEFAULT_TARGETS: tuple[str, ...] = (
    "SingleStreamAttention.forward",
    "SingleStreamMultiAttention.forward",
    "SingleStreamMutiAttention.forward",
)

_WILDCARD = re.compile(r"[*?\[]")


class TargetSyntaxError(ValueError):
    """A `--target` value that is not `Class.method`."""


@dataclass(frozen=True)
class TargetPattern:
    """`Class.method`, each part a shell-style pattern."""

    class_pattern: str
    method_pattern: str

    @classmethod
    def parse(cls, text: str) -> TargetPattern:
        class_part, dot, method_part = text.strip().rpartition(".")
        if not dot or not class_part or not method_part:
            raise TargetSyntaxError(f"target {text!r} is not of the form Class.method")
        return cls(class_part, method_part)

    def matches(self, class_name: str, method_name: str) -> bool:
        return fnmatch.fnmatchcase(class_name, self.class_pattern) and fnmatch.fnmatchcase(
            method_name, self.method_pattern
        )

    def literal_hint(self) -> bytes:
        """The longest fixed piece of the class (else method) pattern: a file without it cannot match."""
        for pattern in (self.class_pattern, self.method_pattern):
            pieces = [piece for piece in _WILDCARD.split(pattern) if "]" not in piece]
            longest = max(pieces, key=len, default="")
            if longest:
                return longest.encode()
        return b""


def parse_targets(texts: Iterable[str]) -> tuple[TargetPattern, ...]:
    return tuple(TargetPattern.parse(text) for text in texts)
