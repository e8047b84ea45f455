"""One file's bytes in, one result value out: prefilter, decode, rewrite, verify. Never raises for bad input."""

from __future__ import annotations

import ast
import codecs
import io
import re
import sys
import tokenize
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import cache
from typing import NamedTuple

from codemod.match.contiguous import is_contiguous_ast
from codemod.match.entry_points import ENTRY_POINTS, EntryPoint
from codemod.match.patterns import DEFAULT_TARGETS, TargetPattern
from codemod.results import FileResult

BOM = "\ufeff"
INSERTED_TEXT = ".contiguous()"

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

# libcst's native parser recurses once per level of nesting: on an 8 MiB stack it kills the whole
# interpreter (SIGSEGV) at about 1,500 levels of brackets, and a chain of a few thousand operators
# (`a + a + ...`) takes it seconds to minutes. CPython itself refuses 200 levels of brackets, and
# the rewrite's own checks recurse in Python; no file of the standard library or of torch nests
# deeper than 50 by this count.
MAX_NESTING = 500
_OPENING, _CLOSING = frozenset("([{"), frozenset(")]}")
# Tokens that end an operand at their bracket level: elements, arguments, targets, statements.
_SEPARATORS = frozenset({",", ";", "=", ":=", "->", "+=", "-=", "*=", "/=", "//=", "%=", "**=", "@=", "&=",
                         "|=", "^=", "<<=", ">>="})
_KEYWORD_OPERATORS = frozenset({"not", "and", "or", "if", "else", "lambda", "in", "is", "await"})
_BRACKET = re.compile(r"[(){}\[\]]")


class Job(NamedTuple):
    """What a worker needs to rewrite one file; picklable for the process pool (a tuple: cheap to define)."""

    path: str
    data: bytes
    profile: str
    targets: tuple[TargetPattern, ...]
    entry_points: tuple[EntryPoint, ...] = ENTRY_POINTS


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


def decode(data: bytes) -> tuple[str, str]:
    """Text (a BOM kept as U+FEFF, so diffs show it) and the codec that turns it back into the same bytes."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    codec = codecs.lookup(encoding).name
    if codec == "utf-8-sig":
        codec = "utf-8"
    try:
        return data.decode(codec), codec
    except UnicodeDecodeError as error:  # named by the codec, not its implementation (cp1252's is "charmap")
        raise UnicodeDecodeError(codec, error.object, error.start, error.end, error.reason) from None


def _bracket_depth(text: str) -> int:
    """Deepest bracket nesting in `text` by characters alone: what an f-string's fields may hold."""
    depth = deepest = 0
    for match in _BRACKET.finditer(text):
        depth = depth + 1 if match.group() in _OPENING else max(depth - 1, 0)
        deepest = max(deepest, depth)
    return deepest


def nesting_problem(text: str, limit: int = MAX_NESTING) -> str | None:
    """Why `text` is too deeply nested to hand to libcst, or None; from tokens, before any parsing.

    The depth counts every open bracket and, at each bracket level, every operator, attribute, call
    and subscript since the last separator (`a + a + a` nests two levels deep in a syntax tree), plus
    the brackets inside an f-string. A file that does not tokenize is left to libcst, which tokenizes
    all of a file before it parses any of it.
    """
    levels = [0]  # operators since the last separator, per open bracket
    depth = 0  # open brackets + sum(levels)
    previous_kind, previous = tokenize.NEWLINE, ""
    try:
        for kind, string, (line, _), _, _ in tokenize.generate_tokens(io.StringIO(text).readline):
            extra = 0
            if kind == tokenize.OP:
                if string in _OPENING:
                    if previous_kind in (tokenize.NAME, tokenize.STRING) or previous in _CLOSING:
                        levels[-1] += 1  # a call or subscript trailer
                        depth += 1
                    levels.append(0)
                    depth += 1
                elif string in _CLOSING:
                    if len(levels) > 1:
                        depth -= 1 + levels.pop()
                elif string in _SEPARATORS:
                    depth -= levels[-1]
                    levels[-1] = 0
                else:
                    levels[-1] += 1
                    depth += 1
            elif kind == tokenize.NAME:
                if string in _KEYWORD_OPERATORS:
                    levels[-1] += 1
                    depth += 1
            elif kind == tokenize.STRING:
                if "f" in string[:3].lower().partition("'")[0].partition('"')[0]:
                    extra = _bracket_depth(string)
            elif kind == tokenize.NEWLINE:
                levels, depth = [0], 0
            elif kind in (tokenize.NL, tokenize.COMMENT):
                continue
            if depth + extra > limit:
                return f"too deeply nested to parse safely: more than {limit} levels at line {line}"
            previous_kind, previous = kind, string
    except (tokenize.TokenError, SyntaxError):
        pass
    return None


def settle_without_parsing(job: Job) -> FileResult | None:
    """The result of a file that needs no parsing (binary, or no target can be in it); None for the others."""
    if b"\0" in job.data:
        return FileResult(job.path, error="binary file (contains NUL bytes), left untouched")
    if not could_contain_target(job.data, job.targets):
        return FileResult(job.path, old=job.data, new=job.data)
    return None


def rewrite(
    data: bytes,
    profile: str,
    targets: Iterable[str | TargetPattern] = DEFAULT_TARGETS,
    *,
    path: str = "-",
    entry_points: Sequence[EntryPoint] = ENTRY_POINTS,
) -> FileResult:
    """The one way to rewrite a file's bytes: the CLI, `explain`, the runtime checks and the tests all come here.

    `targets` are `Class.method` patterns, as text or parsed; `path` only labels the result; `entry_points`:
    the attention calls the profiles know (a project's own first, see `codemod.config`).
    Bad input becomes an error result; this never raises for it.
    """
    patterns = tuple(target if isinstance(target, TargetPattern) else TargetPattern.parse(target) for target in targets)
    return rewrite_bytes(Job(path, data, profile, patterns, tuple(entry_points)))


def rewrite_bytes(job: Job) -> FileResult:
    """The result for one file; bad input becomes an error result, and the file keeps its bytes."""
    settled = settle_without_parsing(job)
    return settled if settled is not None else rewrite_candidate(job)


def rewrite_candidate(job: Job) -> FileResult:
    """`rewrite_bytes` for a file that `settle_without_parsing` left to parse: decode, rewrite, verify."""
    try:
        text, codec = decode(job.data)
    except SyntaxError as error:
        return FileResult(job.path, error=f"cannot read the encoding declaration: {error.msg}")
    except UnicodeDecodeError as error:
        line = job.data.count(b"\n", 0, error.start) + 1
        byte = job.data[error.start]
        return FileResult(job.path, error=f"cannot decode as {error.encoding} at line {line} (byte 0x{byte:02x}): "
                                          f"{error.reason}")
    except LookupError as error:
        return FileResult(job.path, error=f"cannot decode: {error}")
    if text.encode(codec, errors="replace") != job.data:  # codecs with two spellings of a character
        return FileResult(job.path, error=f"{codec} does not give back the same bytes; left untouched")
    bom = BOM if text.startswith(BOM) else ""
    too_deep = nesting_problem(text)
    if too_deep is not None:
        return FileResult(job.path, error=too_deep)

    from libcst import ParserSyntaxError

    from codemod.rewrite.engine import rewrite_module_source
    from codemod.rewrite.profiles import get_profile

    try:
        new_body, targets = rewrite_module_source(
            text[len(bom):], get_profile(job.profile), job.targets, job.entry_points
        )
    except ParserSyntaxError as error:
        reason = _python_syntax_error(text) or (
            f"libcst cannot parse it: line {error.raw_line}, column {error.raw_column}: {error.message}"
        )
        return FileResult(job.path, error=reason)
    except RecursionError:
        return FileResult(job.path, error="too deeply nested to parse")
    new_text = bom + new_body
    if new_text == text:
        return FileResult(job.path, targets=targets, old=job.data, new=job.data)
    problem = verify_insertions(text, new_text)
    if problem is not None:
        return FileResult(job.path, error=f"{problem}; file left as it was", targets=targets)
    try:
        new_data = new_text.encode(codec)
    except UnicodeEncodeError as error:
        return FileResult(job.path, error=f"cannot encode the result as {codec}: {error}", targets=targets)
    return FileResult(job.path, targets=targets, old=job.data, new=new_data)


def _without_contiguous(node: object) -> object:
    """`x.contiguous()` -> `x`, repeatedly."""
    while isinstance(node, ast.Call) and is_contiguous_ast(node):
        assert isinstance(node.func, ast.Attribute)
        node = node.func.value
    return node


def _same_but_contiguous(old: object, new: object) -> bool:
    """Equal syntax trees once every `.contiguous()` call is removed from both (positions ignored)."""
    old, new = _without_contiguous(old), _without_contiguous(new)
    if isinstance(old, list):
        return (isinstance(new, list) and len(old) == len(new)
                and all(_same_but_contiguous(a, b) for a, b in zip(old, new)))
    if not isinstance(old, ast.AST):
        return old == new
    return type(old) is type(new) and all(
        _same_but_contiguous(getattr(old, field, None), getattr(new, field, None)) for field in old._fields
    )


def _describe(error: SyntaxError) -> str:
    where = f"line {error.lineno}" + (f", column {error.offset}" if error.offset else "")
    return f"syntax error at {where} (Python {sys.version_info[0]}.{sys.version_info[1]}): {error.msg}"


def _python_syntax_error(text: str) -> str | None:
    """The interpreter's own account of why `text` is not Python, which names the right line."""
    try:
        _parse(text)
    except SyntaxError as error:
        return _describe(error)
    except (RecursionError, MemoryError):
        return "too deeply nested to parse"
    return None


def _parse(text: str) -> ast.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(text.removeprefix(BOM))


def _only_parentheses_added(old: str, new: str) -> bool:
    """`old` is `new` less some `(` / `)` characters, equally many of each.

    The characters `new` has over `old` are the same whichever way one is matched into the other, so
    once they are counted, matching as early as possible tells whether it can be done: runs of equal
    text are found by halving (a few insertions in a long file), not character by character.
    """
    extra = Counter(new)
    extra.subtract(Counter(old))  # a mapping: a string would be counted in Python, character by character
    if +extra != Counter({"(": extra["("], ")": extra["("]}) or -extra:
        return False
    start = new_start = 0
    while start < len(old):
        run = _common_run(old, start, new, new_start)
        start, new_start = start + run, new_start + run
        if start == len(old):
            break
        if new_start == len(new) or new[new_start] not in "()":
            return False
        new_start += 1
    return True


def _common_run(old: str, start: int, new: str, new_start: int) -> int:
    """How many characters of `old` from `start` and of `new` from `new_start` agree."""
    low, high = 0, min(len(old) - start, len(new) - new_start)
    while low < high:
        middle = (low + high + 1) // 2
        if old[start:start + middle] == new[new_start:new_start + middle]:
            low = middle
        else:
            high = middle - 1
    return low


# Fields of compound statements that hold statements, compared statement by statement.
_BODIES = frozenset({"body", "orelse", "finalbody", "handlers", "cases"})


def _same_statements(old: Sequence[object], new: Sequence[object], old_lines: list[str], new_lines: list[str]) -> bool:
    """Statements equal but for `.contiguous()` calls; one whose lines are unchanged is equal without looking,
    and a compound statement is compared field by field, its bodies statement by statement (insertions add no
    line, so unchanged lines are most of a file, and of a rewritten class)."""
    if len(old) != len(new):
        return False
    for a, b in zip(old, new):
        if type(a) is not type(b) or not isinstance(a, ast.AST):
            return False
        first, last = getattr(a, "lineno", None), getattr(a, "end_lineno", None)
        new_first, new_last = getattr(b, "lineno", None), getattr(b, "end_lineno", None)
        if (first is not None and new_first is not None  # a `case` of a match statement has no lines
                and old_lines[first - 1:last] == new_lines[new_first - 1:new_last]):
            continue
        for name in a._fields:
            field, other = getattr(a, name, None), getattr(b, name, None)
            if name in _BODIES and isinstance(field, list) and isinstance(other, list):
                if not _same_statements(field, other, old_lines, new_lines):
                    return False
            elif not _same_but_contiguous(field, other):
                return False
    return True


def _lines(text: str) -> list[str]:
    """Split where the tokenizer ends lines (not at form feeds and the like, as `splitlines` does)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def verify_insertions(old: str, new: str) -> str | None:
    """Why `new` is not `old` plus `.contiguous()` calls (and the parentheses they need), or None.

    Text: only those characters were added, so comments, spacing and line endings are the user's.
    Syntax tree: equal to the old one once every `.contiguous()` call is removed from both; statements
    whose lines are unchanged are equal without looking (insertions add no line).
    """
    if not _only_parentheses_added(old.replace(INSERTED_TEXT, ""), new.replace(INSERTED_TEXT, "")):
        return "the rewrite changed more than `.contiguous()` calls"
    try:
        old_tree = _parse(old)
    except SyntaxError as error:  # libcst's grammar is looser (it reads `except A, b:`): not Python here
        return _describe(error)
    except (RecursionError, MemoryError):
        return "too deeply nested to check the rewrite"
    try:
        new_tree = _parse(new)
    except SyntaxError as error:
        return f"the rewritten code does not parse ({_describe(error)})"
    except (RecursionError, MemoryError):
        return "too deeply nested to check the rewrite"
    try:
        same = _same_statements(old_tree.body, new_tree.body, _lines(old), _lines(new))
    except RecursionError:
        return "too deeply nested to check the rewrite"
    return None if same else "the rewrite changed the meaning of the code beyond `.contiguous()` calls"
