"""Tables as tabulate's "simple" format prints them (numbers not parsed), without importing tabulate,
which with its `importlib.metadata` import cost `plg list` about a third of its start-up. Cells that need
tabulate's own handling (line breaks, non-ASCII widths) still go through it."""

from __future__ import annotations

from collections.abc import Sequence

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def simple_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    cells = [["" if value is None else str(value).strip() for value in row] for row in rows]
    irregular = any(len(row) != len(headers) for row in cells)
    if irregular or any(not text.isascii() or "\n" in text for row in cells for text in row) or not all(
        str(h).isascii() and "\n" not in str(h) for h in headers
    ):
        from tabulate import tabulate

        return str(tabulate(rows, headers=list(headers), tablefmt="simple", disable_numparse=True))
    titles = [str(h) for h in headers]
    widths = [max([len(title) + 2] + [len(row[i]) for row in cells]) for i, title in enumerate(titles)]
    lines = ["  ".join(t.ljust(w) for t, w in zip(titles, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)
