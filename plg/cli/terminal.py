"""Coloured output on a terminal, plain text anywhere else: a CI log or a test reads the same content
without escape codes, and a word diff keeps readable `[-removed-]` / `{+added+}` markers."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from plg.evals.compare import Segment, marked

DIFF_STYLES = {"del": "red strike", "ins": "green", "same": ""}


def is_terminal() -> bool:
    return sys.stdout.isatty()


def console() -> Any:
    """A rich console on stdout: the width comes from the terminal, or `COLUMNS`, else 80."""
    from rich.console import Console

    return Console(file=sys.stdout, soft_wrap=False, highlight=False)


def echo_word_diff(segments: Sequence[Segment], indent: str = "  ") -> None:
    if not is_terminal():
        click.echo(indent + marked(segments).replace("\n", "\n" + indent))
        return
    from rich.text import Text

    text = Text(indent)
    for segment in segments:
        text.append(segment.text.replace("\n", "\n" + indent), style=DIFF_STYLES.get(segment.op, ""))
    console().print(text)


GRID_STYLES = {"pass": "green", "fail": "red", "error": "yellow", "pending": "yellow", "missing": "dim"}


def echo_grid(grid: Any) -> None:
    """One line per dataset row; the columns share the width left by the row numbers, and each cell is
    cut with an ellipsis to fit it (the terminal's width, `COLUMNS`, or 80 in a pipe)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    ids = any(row.row_id for row in grid.rows)
    table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False, show_edge=False)
    table.add_column("row", justify="right", no_wrap=True)
    if ids:
        table.add_column("id", no_wrap=True, max_width=12, overflow="ellipsis")
    for name in grid.columns:
        table.add_column(name, ratio=1, no_wrap=True, overflow="ellipsis")
    for row in grid.rows:
        cells: list[Any] = [str(row.number)] + ([row.row_id] if ids else [])
        for c in row.cells:
            cells.append(Text.assemble((c.verdict, GRID_STYLES.get(c.status, "bold")), " ", c.text))
        table.add_row(*cells)
    console().print(table)
