"""A run's summary as its page heads it: each model's mean score and pass rate with their intervals, over
the run's rows (the last copy of a row wins), by the same aggregation `plg eval` and `plg runs show` print."""

from __future__ import annotations

from pathlib import Path

from plg.evals.runs import latest_rows
from plg.evals.summary import Aggregator, ModelSummary

_CACHE: dict[tuple[Path, int, int], tuple[ModelSummary, ...]] = {}
_KEEP = 8


def run_summary(path: Path, models: tuple[str, ...]) -> tuple[ModelSummary, ...]:
    """Read once per state of the file (its size and modification time), not on every grid page."""
    stat = path.stat()
    key = (path, stat.st_mtime_ns, stat.st_size)
    if key not in _CACHE:
        aggregator = Aggregator(tuple(models))
        for row in latest_rows(path)[1].values():
            aggregator.add(row)
        if len(_CACHE) >= _KEEP:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = aggregator.summaries()
    return _CACHE[key]
