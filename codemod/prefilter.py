"""The byte prefilter: which files could define a target class, decided without decoding or parsing them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from typing import NamedTuple

from codemod.match.patterns import TargetPattern
from codemod.results import FileResult

# Bytes of an identifier in any source encoding Python accepts (all are ASCII-compatible):
# ASCII letters, digits, `_`, and every byte of a non-ASCII character.
_IDENTIFIER_BYTE = rb"[A-Za-z0-9_\x80-\xff]"
# Between a keyword and its name: blanks and backslash continuations (a prefilter may over-accept).
_GAP = rb"(?:[ \t\f]|\\\r?\n|\\\r)+"
# A class or method whose name holds a non-ASCII character: Python reads names NFKC-normalised, so it may
# be any target (`class Ｓingle...` is `Single...`), whatever bytes the patterns look for. Two regexes with
# a literal prefix each search five times faster than one alternation.
_NON_ASCII_CLASS = re.compile(rb"class" + _GAP + rb"[A-Za-z0-9_]*[\x80-\xff]")
_NON_ASCII_DEF = re.compile(rb"def" + _GAP + rb"[A-Za-z0-9_]*[\x80-\xff]")


def _name_regex(pattern: str) -> bytes:
    """A shell pattern over identifiers as a byte regex that accepts at least every name it matches."""
    if "[" in pattern:  # character sets have corner cases (`[]a]`); any name will do
        return _IDENTIFIER_BYTE + rb"+"
    pieces = []
    for piece in re.split(r"([*?])", pattern):
        if piece == "*":
            pieces.append(_IDENTIFIER_BYTE + b"*")
        elif piece == "?":
            pieces.append(_IDENTIFIER_BYTE + b"+")  # one character, of one or more bytes
        else:
            pieces.append(re.escape(piece.encode("ascii")))
    return b"".join(pieces) + rb"(?!" + _IDENTIFIER_BYTE + rb")"


class _PatternFilter(NamedTuple):
    """For one `Class.method` pattern: a fixed piece every match contains, and the class statement it needs."""

    hint: bytes
    class_statement: re.Pattern[bytes] | None

    @classmethod
    def build(cls, target: TargetPattern) -> _PatternFilter:
        # A non-ASCII name is spelled differently in each source encoding: then only the keyword is looked for.
        hint = target.literal_hint()
        if not hint.isascii():
            hint = b"class"
        if not target.class_pattern.isascii():
            return cls(hint, None)
        return cls(hint, re.compile(rb"\bclass" + _GAP + _name_regex(target.class_pattern)))

    def accepts(self, data: bytes) -> bool:
        if self.hint not in data:
            return False
        return self.class_statement is None or self.class_statement.search(data) is not None


def _common_piece(hints: Sequence[bytes]) -> bytes:
    """The longest byte string inside every hint: one search for it rules most files out for all of them."""
    shortest = min(hints, key=len, default=b"")
    for length in range(len(shortest), 0, -1):
        for start in range(len(shortest) - length + 1):
            piece = shortest[start:start + length]
            if all(piece in hint for hint in hints):
                return piece
    return b""


@cache
def _filters(targets: tuple[TargetPattern, ...]) -> tuple[bytes, tuple[_PatternFilter, ...], bool]:
    """The common piece, each pattern's filter, and whether some pattern's hint is a method name."""
    filters = tuple(_PatternFilter.build(target) for target in targets)
    return _common_piece([check.hint for check in filters]), filters, any(t.hint_is_the_methods for t in targets)


def could_contain_target(data: bytes, targets: Sequence[TargetPattern]) -> bool:
    """A byte test that is never wrong when it says no: a target class needs `class <Name>` in the file.

    Only files it accepts are decoded and parsed; most files of a checkout never are, including
    those that only import or use a target class. A file defining a class (or, for a pattern such as
    `*.forward`, a method) with a non-ASCII name is accepted too (see `_NON_ASCII_CLASS`).
    """
    common, filters, by_method = _filters(tuple(targets))
    if common in data and any(check.accepts(data) for check in filters):
        return True
    if data.isascii():
        return False
    return _NON_ASCII_CLASS.search(data) is not None or (by_method and _NON_ASCII_DEF.search(data) is not None)


def settle_without_parsing(path: str, data: bytes, targets: Sequence[TargetPattern]) -> FileResult | None:
    """The result of a file that needs no parsing (binary, or no target can be in it); None for the others."""
    if b"\0" in data:
        return FileResult(path, error="binary file (contains NUL bytes), left untouched")
    if not could_contain_target(data, targets):
        return FileResult(path, old=data, new=data)
    return None
