"""Writing to a shared log without a network round trip on the request path.

`BackgroundLogStore.insert` puts the row on a bounded in-memory queue and returns. A writer thread takes
what has queued (waiting at most `flush_interval` after the first row, up to `batch` rows) and writes it
in one transaction. If the database cannot be reached the batch goes to a local SQLite spill file, and
for `retry` seconds later batches go straight there; once a write succeeds again the writer first moves
the spill over (idempotent on request id, so exactly once). A full queue spills in the caller's thread:
a local write, never a network wait. At interpreter exit (atexit) the queue is drained to the database,
or to the spill if the database does not answer within `exit_wait` seconds.

What can be lost: only rows still in memory when the process dies without running atexit handlers
(SIGKILL, os._exit, a hard crash): those logged in the last `flush_interval` plus a batch in flight.
Reads and `track.*` flush the queue first, so a process always sees its own requests.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from plg.errors import LogUnavailable, NotFound
from plg.log.health import HealthCounter, LogHealth
from plg.log.query import LogQuery
from plg.log.records import RequestRecord
from plg.log.sqlite_log import SQLiteLogStore
from plg.log.transfer import Moved, sync_spill
from plg.tracing.spans import Span

logger = logging.getLogger("plg.log.writer")

_STOP = object()


class BackgroundLogStore:
    def __init__(
        self,
        target: Any,
        spill_path: Path,
        queue_size: int = 10_000,
        batch: int = 500,
        flush_interval: float = 0.05,
        retry: float = 2.0,
        exit_wait: float = 10.0,
    ) -> None:
        self.target = target
        self.spill_path = Path(spill_path)
        self._batch = batch
        self._interval = flush_interval
        self._retry = retry
        self._exit_wait = exit_wait
        self._queue: queue.Queue[Any] = queue.Queue(queue_size)
        self._pending = 0
        self._idle = threading.Condition()
        self._hurry = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._spill: SQLiteLogStore | None = None
        self._spill_lock = threading.Lock()
        self._spill_waiting = self.spill_path.exists()  # another process may have left rows there
        self._down_until = 0.0
        self._next_sync = 0.0
        self._closed = False
        self.health = HealthCounter(str(target))
        atexit.register(self._stop)

    def __str__(self) -> str:
        return str(self.target)

    # -- the request path -----------------------------------------------------------------------
    def insert(self, record: RequestRecord) -> None:
        self._put(record)

    def insert_many(self, records: list[RequestRecord]) -> None:
        for record in records:
            self._put(record)

    def insert_spans(self, spans: list[Span]) -> None:
        if spans:
            self._put(list(spans))

    def write(self, records: list[RequestRecord], spans: list[Span]) -> None:
        """Requests with their spans as one queue item, so one batch and one transaction carry them."""
        if records or spans:
            self._put((list(records), list(spans)))

    def _put(self, item: Any) -> None:
        if self._closed:
            self._deliver([item])
            return
        self._start()
        with self._idle:
            self._pending += 1
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._to_spill([item])
            self._done(1)

    def _start(self) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="plg-log-writer", daemon=True)
                    self._thread.start()

    # -- the writer thread ----------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self._retry)
            except queue.Empty:
                self._maybe_sync()
                continue
            if first is _STOP:
                return
            items = [first]
            self._hurry.wait(self._interval)
            stop = False
            while len(items) < self._batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                items.append(item)
            self._deliver(items)
            self._done(len(items))
            if stop:
                return

    def _deliver(self, items: list[Any]) -> None:
        records, spans = _unpack(items)
        if self._down():
            self._to_spill(records, spans)
            return
        try:
            self.target.write(records, spans)
        except LogUnavailable as err:
            if self._down_until == 0.0:
                logger.warning("plg: request log unreachable, keeping rows in %s: %s", self.spill_path, err)
            self._down_until = time.monotonic() + self._retry
            self._to_spill(records, spans)
            return
        except Exception as err:  # noqa: BLE001 - a row the database refuses is kept, not lost
            logger.warning(
                "plg: request log refused %d row(s), kept in %s: %s", len(items), self.spill_path, err
            )
            self._to_spill(records, spans)
            return
        if self._down_until:
            logger.warning("plg: request log reachable again")
            self._down_until = 0.0
        self.health.succeeded()
        self._maybe_sync()

    def _maybe_sync(self) -> None:
        now = time.monotonic()
        if not self._spill_waiting or now < self._next_sync or now < self._down_until:
            return
        self._next_sync = now + self._retry
        try:
            moved = self.sync()
        except LogUnavailable:
            self._down_until = time.monotonic() + self._retry
        except Exception as err:  # noqa: BLE001 - retried after `retry` seconds; `plg logs sync` shows why
            logger.warning("plg: cannot move spilled log rows from %s: %s", self.spill_path, err)
        else:
            if moved.requests or moved.spans:
                logger.warning("plg: moved %d spilled request(s) to the request log", moved.requests)

    def sync(self) -> Moved:
        """Move what waits in the spill file to the database (also `plg logs sync`)."""
        if not self.spill_path.exists():
            self._spill_waiting = False
            return Moved(0, 0)
        moved = sync_spill(self._spill_store(), self.target)
        self._spill_waiting = False
        return moved

    def _spill_store(self) -> SQLiteLogStore:
        with self._spill_lock:
            if self._spill is None:
                self._spill = SQLiteLogStore(self.spill_path)
            return self._spill

    def _to_spill(self, records: list[Any], spans: list[Span] | None = None) -> None:
        if spans is None:
            records, spans = _unpack(records)
        try:
            self._spill_store().write(records, spans)
            self._spill_waiting = True
        except Exception as err:  # noqa: BLE001 - nowhere left to keep them: counted, said once per outage
            self.health.failed(len(records), f"the spill file {self.spill_path} too: {err}", None)
        else:
            self.health.spilled(len(records))

    def _done(self, count: int) -> None:
        with self._idle:
            self._pending -= count
            if self._pending == 0:
                self._hurry.clear()
                self._idle.notify_all()

    def log_health(self) -> LogHealth:
        return self.health.snapshot()

    # -- flushing and closing -------------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued row is in the database or the spill file; False on timeout."""
        with self._idle:
            if self._pending == 0:
                return True
            self._hurry.set()
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        """Flush, stop the writer and release the database connections."""
        self._stop()
        self.target.close()

    def _stop(self) -> None:
        """At exit: every queued row reaches the database or the spill file before the process ends."""
        if self._closed:
            return
        if self._thread is not None and not self.flush(self._exit_wait):
            leftovers = []
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                leftovers.append(item)
            self._to_spill(leftovers)
            self._done(len(leftovers))
        self._closed = True
        if self._thread is not None:
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(_STOP)
        atexit.unregister(self._stop)

    # -- reads and updates: own writes first ----------------------------------------------------
    def _down(self) -> bool:
        return time.monotonic() < self._down_until

    def _target(self) -> Any:
        """The database, unless the writer has just found it unreachable: then fail at once rather than
        make the caller wait out another connection timeout."""
        if self._down():
            raise LogUnavailable(f"cannot reach the request log at {self.target} (the writer keeps retrying)")
        return self.target

    def get(self, request_id: str) -> RequestRecord:
        self.flush()
        try:
            return self._target().get(request_id)
        except (NotFound, LogUnavailable):
            if self.spill_path.exists():
                try:
                    return self._spill_store().get(request_id)
                except NotFound:
                    pass
            raise

    def _update(self, apply: Callable[[Any], None]) -> None:
        """Apply to the database, or to the spill file while the row waits there."""
        self.flush()
        for attempt in (1, 2):
            try:
                apply(self._target())
                return
            except (NotFound, LogUnavailable) as err:
                if isinstance(err, LogUnavailable) and not self._down():
                    self._down_until = time.monotonic() + self._retry
                if self.spill_path.exists():
                    try:
                        apply(self._spill_store())
                        return
                    except NotFound:
                        pass
                if attempt == 2 or isinstance(err, LogUnavailable):
                    raise
                # a sync may have moved the row between the two looks: look once more

    def set_score(self, request_id: str, score: float, name: str | None = None) -> None:
        self._update(lambda store: store.set_score(request_id, score, name=name))

    def set_metadata(self, request_id: str, metadata: Mapping[str, str]) -> None:
        self._update(lambda store: store.set_metadata(request_id, metadata))

    def set_prompt(
        self,
        request_id: str,
        prompt_name: str,
        input_variables: Mapping[str, Any],
        version: int | None = None,
        label: str | None = None,
        commit: str | None = None,
    ) -> None:
        self._update(
            lambda store: store.set_prompt(
                request_id, prompt_name, input_variables, version=version, label=label, commit=commit
            )
        )

    def query(self, q: LogQuery) -> list[RequestRecord]:
        self.flush()
        return self.target.query(q)

    def iter_query(self, q: LogQuery) -> Iterator[RequestRecord]:
        self.flush()
        return self.target.iter_query(q)

    def count(self, q: LogQuery, at_most: int | None = None) -> int:
        self.flush()
        return self.target.count(q, at_most=at_most)

    def trace(self, trace_id: str) -> list[Span]:
        self.flush()
        return self.target.trace(trace_id)

    def traces_of(self, q: LogQuery) -> list[Span]:
        self.flush()
        return self.target.traces_of(q)

    def iter_spans(self) -> Iterator[Span]:
        self.flush()
        return self.target.iter_spans()


def _unpack(items: list[Any]) -> tuple[list[RequestRecord], list[Span]]:
    """Queue items are a request, a list of spans, or a (requests, spans) pair written together."""
    records: list[RequestRecord] = []
    spans: list[Span] = []
    for item in items:
        if isinstance(item, RequestRecord):
            records.append(item)
        elif isinstance(item, list):
            spans.extend(item)
        else:
            records.extend(item[0])
            spans.extend(item[1])
    return records, spans
