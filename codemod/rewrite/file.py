"""`rewrite`: one file's bytes in, one result value out. Every rewrite of the tool comes through it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from codemod.decoding import BOM, decoded
from codemod.guards import check_insertions_only, nesting_problem, python_syntax_error
from codemod.match.entry_points import ENTRY_POINTS, EntryPoint
from codemod.match.patterns import DEFAULT_TARGETS, TargetPattern
from codemod.prefilter import settle_without_parsing
from codemod.results import FileResult
from codemod.rewrite import DEFAULT_PROFILE


def rewrite(
    data: bytes,
    profile: str = DEFAULT_PROFILE,
    targets: Iterable[str | TargetPattern] = DEFAULT_TARGETS,
    *,
    path: str = "-",
    entry_points: Sequence[EntryPoint] = ENTRY_POINTS,
) -> FileResult:
    """`data` rewritten by `profile` in its `targets` (`Class.method` patterns, as text or parsed).

    The run's workers, the cache's callers, `explain`, `verify` and the tests all call this. `path` only
    labels the result; `entry_points`: the attention calls the profiles know (a project's own first, see
    `codemod.config`). Steps: the byte prefilter, decoding, the nesting guard, libcst, the insertions-only
    check. Bad input becomes an error result and the file keeps its bytes; this never raises for it.
    Importing this module does not import libcst: only a file that passes the prefilter does.
    """
    patterns = tuple(target if isinstance(target, TargetPattern) else TargetPattern.parse(target) for target in targets)
    settled = settle_without_parsing(path, data, patterns)
    if settled is not None:
        return settled
    text_and_codec = decoded(data)
    if isinstance(text_and_codec, str):
        return FileResult(path, error=text_and_codec)
    text, codec = text_and_codec
    bom = BOM if text.startswith(BOM) else ""
    too_deep = nesting_problem(text)
    if too_deep is not None:
        return FileResult(path, error=too_deep)

    from libcst import ParserSyntaxError

    from codemod.rewrite.engine import rewrite_module_source
    from codemod.rewrite.profiles import get_profile

    try:
        new_body, found = rewrite_module_source(text[len(bom):], get_profile(profile), patterns, entry_points)
    except ParserSyntaxError as error:
        reason = python_syntax_error(text) or (
            f"libcst cannot parse it: line {error.raw_line}, column {error.raw_column}: {error.message}"
        )
        return FileResult(path, error=reason)
    except RecursionError:
        return FileResult(path, error="too deeply nested to parse")
    new_text = bom + new_body
    if new_text == text:
        return FileResult(path, targets=found, old=data, new=data)
    problem = check_insertions_only(text, new_text)
    if problem is not None:
        return FileResult(path, error=f"{problem}; file left as it was", targets=found)
    try:
        new_data = new_text.encode(codec)
    except UnicodeEncodeError as error:
        return FileResult(path, error=f"cannot encode the result as {codec}: {error}", targets=found)
    return FileResult(path, targets=found, old=data, new=new_data)
