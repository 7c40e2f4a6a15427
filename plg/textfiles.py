"""Text files a user or a pull request hands plg line by line (datasets, outputs, grading sheets, backtest
histories): decoded one line at a time, bounded, and refused with the line that is wrong."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from plg.errors import BadInput

MAX_LINE_BYTES = 4 << 20
"""A line past 4 MiB is refused as it is read: no prompt can take it (a rendered value is bounded to
1,000,000 characters), and reading it whole first is what a 50 MB line would cost in memory."""


_LONE_CR = re.compile(rb"(?<=\r)(?!\n)")
"""Where a line ends in a bare carriage return (Excel for Mac's "CSV (Mac)" files)."""


def text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) for each line of a user's CSV or JSONL file, decoded one line at a time, so a bad
    byte is reported on the line that holds it (a decoder reading ahead in blocks would name an earlier
    line). Lines may end in \n, \r\n or a bare \r. A UTF-8 byte-order mark is dropped; NUL bytes (a UTF-16
    export, a binary file) are refused."""
    try:
        handle = path.open("rb")
    except OSError as err:
        raise BadInput(f"{path}: {err.strerror}") from None
    with handle:
        number = 0
        while True:
            data = handle.readline(MAX_LINE_BYTES + 1)
            if not data:
                return
            number += 1
            if len(data) > MAX_LINE_BYTES and not data.endswith(b"\n"):
                raise BadInput(f"{path}, line {number}: longer than {MAX_LINE_BYTES:,} bytes")
            if number == 1:
                data = data.removeprefix(b"\xef\xbb\xbf")
            if b"\0" in data:
                raise BadInput(
                    f"{path}, line {number}: contains NUL bytes (a binary file, or UTF-16: save it as UTF-8)"
                )
            pieces = _LONE_CR.split(data) if b"\r" in data else [data]
            for index, piece in enumerate(pieces):
                number += 1 if index else 0
                try:
                    yield number, piece.decode("utf-8")
                except UnicodeDecodeError as err:
                    raise BadInput(f"{path}, line {number}: not UTF-8 text ({err.reason})") from None
