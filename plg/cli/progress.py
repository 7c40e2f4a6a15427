"""Progress for long runs: a bar on a terminal, a line every few seconds in CI logs."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any

import click


class Progress:
    def __init__(self, total: int | None, label: str, interval: float = 5.0) -> None:
        self.total = total
        self.label = label
        self.done = 0
        self.errors = 0
        self.interval = interval
        self._last = time.monotonic()
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Progress:
        if sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self.label, total=self.total)
        return self

    def advance(self, error: bool = False) -> None:
        self.done += 1
        self.errors += int(error)
        if self._bar is not None:
            self._bar.update(self._task, advance=1)
            return
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            of = f"/{self.total}" if self.total else ""
            click.echo(f"{self.label}: {self.done}{of} rows, {self.errors} errors", err=True)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, exc, tb)
