"""A file's bytes as text and back: the source encoding it declares, its BOM kept, the same bytes on the way out."""

from __future__ import annotations

import codecs
import io
import re
import tokenize

BOM = "\ufeff"
# Where the tokenizer ends a line (`str.splitlines` also splits at form feeds and the like). One group, so
# that `split` gives the lines at even indexes and their ends between them.
LINE_END = re.compile(r"(\r\n|\r|\n)")


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


def decoded(data: bytes) -> tuple[str, str] | str:
    """`decode(data)`, or why the file cannot be read as text that encodes back to `data` (the reason a run reports)."""
    try:
        text, codec = decode(data)
    except SyntaxError as error:
        return f"cannot read the encoding declaration: {error.msg}"
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        return (f"cannot decode as {error.encoding} at line {line} (byte 0x{data[error.start]:02x}): "
                f"{error.reason}")
    except LookupError as error:
        return f"cannot decode: {error}"
    if text.encode(codec, errors="replace") != data:  # codecs with two spellings of a character
        return f"{codec} does not give back the same bytes; left untouched"
    return text, codec


def text_of(data: bytes) -> str:
    """The module's text without a BOM, as `ast` and positions in it see it."""
    return decode(data)[0].removeprefix(BOM)


def lines_and_ends(text: str) -> tuple[list[str], list[str]]:
    """The lines of `text` as the tokenizer counts them (the last may be empty) and the ends between them."""
    parts = LINE_END.split(text)
    return parts[0::2], parts[1::2]
