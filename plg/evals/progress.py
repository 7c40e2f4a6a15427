"""Who is watching a run. The CLI installs a display for the length of a command, and every run the engine
executes under it (an eval, a batch, a backtest, the evals inside `plg ci` or a promote's gate) reports its
planned number of rows before the first call and each row as it finishes. Library callers that install
nothing pay nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

from plg.evals.runs import RowRecord


class RunWatcher(Protocol):
    def started(self, label: str, total: int | None) -> None: ...

    def row(self, record: RowRecord) -> None: ...

    def finished(self, stopped_run: str | None = None) -> None:
        """`stopped_run` is the run's id when it ended before its last row (Ctrl-C, a crash): what
        `--resume` takes."""
        ...


_watcher: ContextVar[RunWatcher | None] = ContextVar("plg_run_watcher", default=None)


@contextmanager
def watching(watcher: RunWatcher) -> Iterator[RunWatcher]:
    token = _watcher.set(watcher)
    try:
        yield watcher
    finally:
        _watcher.reset(token)


def current_watcher() -> RunWatcher | None:
    return _watcher.get()
