"""How a text export's bytes become lines: the encoding, the byte order mark and the line ends.

UTF-8, with or without a byte order mark, or UTF-16 when a mark says so; lines may end with LF,
CRLF or a bare CR (old Mac exports), mixed. Each UTF-8 line is decoded on its own, so one bad
line spoils only itself and the reader can say which it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UTF16_MARKS = (b"\xff\xfe", b"\xfe\xff")
_UTF8_MARK = b"\xef\xbb\xbf"
_LINE_END = re.compile(r"\r\n|\r|\n")
_LINE_END_BYTES = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True)
class Line:
    """One line of an export, numbered from 1."""

    number: int
    text: str | None  # None when the line's bytes are not UTF-8
    guess: str  # the text, or the bytes decoded with replacements, to see where items start
    bad_byte: int = 0


def split_lines(data: bytes) -> list[Line]:
    """The lines of an export, each decoded on its own, whatever ends them."""
    if data.startswith(_UTF16_MARKS):
        # The mark names the byte order; a UTF-16 export is rare enough to decode in one go.
        text = data.decode("utf-16", errors="replace")
        rows = _LINE_END.split(text)
        return [Line(number, row, row) for number, row in enumerate(rows, 1)]
    lines = []
    for number, raw in enumerate(_LINE_END_BYTES.split(data.removeprefix(_UTF8_MARK)), 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            lines.append(Line(number, None, raw.decode("utf-8", "replace"), raw[error.start]))
        else:
            lines.append(Line(number, text, text))
    return lines
