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
    """A rich console on click's stdout: the width comes from the terminal, or `COLUMNS`, else 80."""
    from rich.console import Console

    return Console(file=click.get_text_stream("stdout"), soft_wrap=False, highlight=False)


def echo_word_diff(segments: Sequence[Segment], indent: str = "  ") -> None:
    if not is_terminal():
        click.echo(indent + marked(segments).replace("\n", "\n" + indent))
        return
    from rich.text import Text

    text = Text(indent)
    for segment in segments:
        text.append(segment.text.replace("\n", "\n" + indent), style=DIFF_STYLES.get(segment.op, ""))
    console().print(text)
