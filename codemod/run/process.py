"""One file's bytes in, one result value out: prefilter, decode, rewrite, verify. Never raises for bad input."""

from __future__ import annotations

import ast
import codecs
import io
import tokenize
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from codemod.match.targets import TargetPattern
from codemod.results import FileResult

BOM = "\ufeff"
INSERTED_TEXT = ".contiguous()"


@dataclass(frozen=True)
class Job:
    """What a worker needs to rewrite one file; picklable for the process pool."""

    path: str
    data: bytes
    profile: str
    targets: tuple[TargetPattern, ...]


def could_contain_target(data: bytes, targets: Sequence[TargetPattern]) -> bool:
    """A cheap byte test: a file that holds none of the targets' fixed name pieces is never parsed."""
    return any(target.literal_hint() in data for target in targets)


def decode(data: bytes) -> tuple[str, str]:
    """Text (a BOM kept as U+FEFF, so diffs show it) and the codec that turns it back into the same bytes."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    codec = codecs.lookup(encoding).name
    if codec == "utf-8-sig":
        codec = "utf-8"
    return data.decode(codec), codec


def rewrite_bytes(job: Job) -> FileResult:
    if b"\0" in job.data:
        return FileResult(job.path, error="binary file (contains NUL bytes), left untouched")
    if not could_contain_target(job.data, job.targets):
        return FileResult(job.path, old=job.data, new=job.data)
    try:
        text, codec = decode(job.data)
    except SyntaxError as error:
        return FileResult(job.path, error=f"cannot read the encoding declaration: {error.msg}")
    except (UnicodeDecodeError, LookupError) as error:
        return FileResult(job.path, error=f"cannot decode: {error}")
    bom = BOM if text.startswith(BOM) else ""

    from libcst import ParserSyntaxError

    from codemod.rewrite.engine import rewrite_module_source
    from codemod.rewrite.profiles import get_profile

    try:
        new_body, targets = rewrite_module_source(text[len(bom):], get_profile(job.profile), job.targets)
    except ParserSyntaxError as error:
        return FileResult(job.path, error=f"syntax error at line {error.raw_line}, column {error.raw_column}: {error.message}")
    except RecursionError:
        return FileResult(job.path, error="too deeply nested to parse")
    new_text = bom + new_body
    if new_text == text:
        return FileResult(job.path, targets=targets, old=job.data, new=job.data)
    problem = _verify(text, new_text, job.path)
    if problem is not None:
        return FileResult(job.path, error=f"{problem}; file left as it was", targets=targets)
    return FileResult(job.path, targets=targets, old=job.data, new=new_text.encode(codec))


def _verify(old: str, new: str, path: str) -> str | None:
    """The new text must differ from the old by `.contiguous()` insertions alone, and must compile."""
    if new.replace(INSERTED_TEXT, "") != old.replace(INSERTED_TEXT, ""):
        return "the rewrite changed more than `.contiguous()` calls"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(new.removeprefix(BOM), filename=path)
    except (SyntaxError, ValueError) as error:
        return f"the rewritten code does not parse ({error})"
    return None
