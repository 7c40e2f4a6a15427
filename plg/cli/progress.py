"""Progress for long runs. On a terminal: a rich bar with the planned total, rate, time left and errors.
In CI logs (no terminal): a plain line each time another tenth of the run is done or `interval` seconds
have passed, and a final line, so a log read after the fact shows how far a run got and how fast."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any

import click

from plg.evals.runs import RowRecord


def _rate_column() -> Any:
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text("- rows/s" if not speed else f"{speed:.1f} rows/s", style="progress.data.speed")

    return RateColumn()


class Progress:
    """A RunWatcher (plg.evals.progress): install it with `watching(Progress())` around a command."""

    def __init__(self, interval: float = 10.0, steps: int = 10, tty: bool | None = None) -> None:
        self.interval = interval
        self.steps = steps
        self.tty = sys.stderr.isatty() if tty is None else tty
        self._bar: Any = None
        self._task: Any = None
        self.label = ""
        self.total: int | None = None
        self.done = self.errors = 0
        self._started = self._last = 0.0
        self._step = 0

    def __enter__(self) -> Progress:
        if self.tty:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("rows, [red]{task.fields[errors]}[/] errors,"),
                _rate_column(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self._bar.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, exc, tb)
            self._bar = None

    def started(self, label: str, total: int | None) -> None:
        self.label, self.total = label, total
        self.done = self.errors = self._step = 0
        self._started = self._last = time.monotonic()
        if self._bar is not None:
            self._task = self._bar.add_task(label, total=total, errors=0)

    def row(self, record: RowRecord) -> None:
        self.done += 1
        self.errors += int(record.error is not None)
        if self._bar is not None:
            self._bar.update(self._task, advance=1, errors=self.errors)
            return
        now = time.monotonic()
        step = self.done * self.steps // self.total if self.total else 0
        if step > self._step or now - self._last >= self.interval:
            self._step = max(step, self._step)
            self._last = now
            if not self.total or self.done < self.total:
                click.echo(self.line(now), err=True)

    def finished(self, stopped_run: str | None = None) -> None:
        now = time.monotonic()
        if self._bar is not None:
            self._bar.update(self._task, errors=self.errors)
        if stopped_run is not None:
            click.echo(
                f"{self.line(now)}, stopped after {now - self._started:.1f} s: the finished rows are kept, "
                f"nothing is judged or recorded; continue with --resume {stopped_run}",
                err=True,
            )
        elif self._bar is None:
            click.echo(f"{self.line(now)}, done in {now - self._started:.1f} s", err=True)

    def line(self, now: float) -> str:
        of = f"/{self.total}" if self.total is not None else ""
        elapsed = now - self._started
        rate = f", {self.done / elapsed:.1f} rows/s" if elapsed > 0 and self.done else ""
        return f"{self.label}: {self.done}{of} rows, {self.errors} errors{rate}"


class shown_progress:  # noqa: N801 - used as a context manager, reads like `with shown_progress():`
    """Progress on stderr for every run started inside the block."""

    def __enter__(self) -> Progress:
        from plg.evals.progress import watching

        self._progress = Progress().__enter__()
        self._watching = watching(self._progress)
        self._watching.__enter__()
        return self._progress

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._watching.__exit__(kind, exc, tb)
        self._progress.__exit__(kind, exc, tb)
