"""Moving request-log rows from one store to another: `plg logs copy` (any log to any other, e.g. an
existing SQLite file into PostgreSQL) and the spill sync (rows that waited locally while PostgreSQL was
unreachable). Both rely on inserts being idempotent on the request id and span id: an interrupted copy
or sync is finished by running it again, and nothing lands twice."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from plg.log.query import LogQuery
from plg.log.records import RequestRecord
from plg.log.sqlite_log import SQLiteLogStore
from plg.log.store import LogStore
from plg.tracing.spans import Span

BATCH = 1000


@dataclass(frozen=True)
class Moved:
    requests: int
    spans: int


def copy_log(
    source: Any, dest: LogStore, batch: int = BATCH, progress: Callable[[int], None] | None = None
) -> Moved:
    requests = spans = 0
    pending: list[RequestRecord] = []
    for record in source.iter_query(LogQuery()):
        pending.append(record)
        if len(pending) >= batch:
            dest.write(pending, [])
            requests += len(pending)
            pending = []
            if progress is not None:
                progress(requests)
    dest.write(pending, [])
    requests += len(pending)
    span_batch: list[Span] = []
    for span in source.iter_spans():
        span_batch.append(span)
        if len(span_batch) >= batch:
            dest.write([], span_batch)
            spans += len(span_batch)
            span_batch = []
    dest.write([], span_batch)
    return Moved(requests, spans + len(span_batch))


def sync_spill(spill: SQLiteLogStore, dest: LogStore, batch: int = BATCH) -> Moved:
    """Move every row of the spill file to `dest`, deleting each batch only after `dest` committed it."""
    moved = [0, 0]

    def deliver(records: list[RequestRecord], spans: list[Span]) -> None:
        dest.write(records, spans)
        moved[0] += len(records)
        moved[1] += len(spans)

    while spill.move_out(deliver, batch):
        pass
    return Moved(moved[0], moved[1])
