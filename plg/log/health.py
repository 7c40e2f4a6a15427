"""Logging never fails a request: what happens to a row the request log cannot take.

`GuardedLog` stands between the SDK's request path and a SQLite log. A write that fails (a full disk, a
read-only place, a corrupted file, a log that cannot even be opened) keeps the response: the row goes to
the local spill file when that can be written (and is moved back once the log takes writes again), else
it is dropped. `LogHealth` counts both; each outage is said once, in one warning, and the first write that
succeeds again says how many rows were dropped meanwhile. `BackgroundLogStore` (PostgreSQL) keeps the
same counter for rows neither the database nor its spill file could take.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plg.errors import LogStorageError

logger = logging.getLogger("plg.log.health")


@dataclass(frozen=True)
class LogHealth:
    """What `Client.log_health()` returns: `ok` False while writes fail; `dropped` request rows lost in
    total (since the client started; spans written alone are not counted), `spilled` request rows kept in the spill file instead of the log, `last_error` the
    most recent failure's one line."""

    ok: bool
    dropped: int
    spilled: int
    last_error: str | None
    location: str


class HealthCounter:
    """Thread-safe counts of failed log writes, and the one warning per outage."""

    def __init__(self, location: str) -> None:
        self.location = location
        self._lock = threading.Lock()
        self._failing = False
        self._dropped = 0
        self._spilled = 0
        self._dropped_now = 0
        self._last_error: str | None = None

    def failed(self, rows: int, error: str, spilled_to: Path | None) -> None:
        with self._lock:
            first = not self._failing
            self._failing = True
            self._last_error = error
            if spilled_to is None:
                self._dropped += rows
                self._dropped_now += rows
            else:
                self._spilled += rows
        if first:
            where = f"keeping rows in {spilled_to}" if spilled_to is not None else "dropping rows"
            logger.warning(
                "plg: cannot write the request log %s, %s (client.log_health() counts them): %s",
                self.location, where, error,
            )

    def spilled(self, rows: int) -> None:
        """Rows kept in the spill file by a writer that warns about its own outage."""
        with self._lock:
            self._spilled += rows

    def succeeded(self) -> None:
        if not self._failing:
            return
        with self._lock:
            if not self._failing:
                return
            self._failing = False
            dropped, self._dropped_now = self._dropped_now, 0
        logger.warning(
            "plg: the request log %s takes writes again; %d row(s) were dropped while it did not",
            self.location, dropped,
        )

    def snapshot(self) -> LogHealth:
        with self._lock:
            return LogHealth(not self._failing, self._dropped, self._spilled, self._last_error, self.location)


class GuardedLog:
    """A SQLite request log whose request-path writes never raise. Reads and updates (`get`, `query`,
    `track.score`) go to the log itself and raise its one-line `LogStorageError` as they would."""

    def __init__(self, path: Path, spill_path: Path, retry: float = 2.0) -> None:
        self.path = Path(path)
        self.spill_path = Path(spill_path)
        self.health = HealthCounter(str(self.path))
        self._retry = retry
        self._store: Any = None
        self._spill: Any = None
        self._spill_waiting = False
        self._next_open = 0.0
        self._lock = threading.Lock()

    def __str__(self) -> str:
        return str(self.path)

    def _open(self) -> Any:
        from plg.log.sqlite_log import SQLiteLogStore

        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = SQLiteLogStore(self.path)
        return self._store

    # -- the request path: never raises -----------------------------------------------------------
    def insert(self, record: Any) -> None:
        self.write([record], [])

    def insert_many(self, records: list[Any]) -> None:
        self.write(list(records), [])

    def insert_spans(self, spans: list[Any]) -> None:
        self.write([], list(spans))

    def write(self, records: list[Any], spans: list[Any]) -> None:
        if not records and not spans:
            return
        now = time.monotonic()
        if self._store is None and now < self._next_open:
            self._keep(records, spans, self.health.snapshot().last_error or "cannot open")
            return
        try:
            store = self._open()
            store.write(records, spans)
        except Exception as err:  # noqa: BLE001 - any failure of the log must leave the response alone
            if self._store is None:
                self._next_open = now + self._retry
            self._keep(records, spans, _line(err))
            return
        self.health.succeeded()
        if self._spill_waiting:
            self._move_spill(store)

    def _keep(self, records: list[Any], spans: list[Any], error: str) -> None:
        try:
            self._spill_store().write(records, spans)
        except Exception as err:  # noqa: BLE001 - nowhere left to keep them: counted and dropped
            self.health.failed(len(records), f"{error}; the spill file too: {_line(err)}", None)
            return
        self._spill_waiting = True
        self.health.failed(len(records), error, self.spill_path)

    def _spill_store(self) -> Any:
        from plg.log.sqlite_log import SQLiteLogStore

        if self._spill is None:
            if self.spill_path.resolve() == self.path.resolve():
                raise OSError(f"the spill file is the log itself ({self.spill_path})")
            self._spill = SQLiteLogStore(self.spill_path)
        return self._spill

    def _move_spill(self, store: Any) -> None:
        from plg.log.transfer import sync_spill

        try:
            moved = sync_spill(self._spill_store(), store)
        except Exception as err:  # noqa: BLE001 - tried again after the next write
            logger.warning("plg: cannot move spilled log rows from %s yet: %s", self.spill_path, _line(err))
            return
        self._spill_waiting = False
        if moved.requests or moved.spans:
            logger.warning("plg: moved %d spilled request(s) back to %s", moved.requests, self.path)

    # -- everything else: the log itself ----------------------------------------------------------
    def close(self) -> None:
        for store in (self._store, self._spill):
            if store is not None:
                store.close()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._open(), name)


def _line(err: BaseException) -> str:
    text = getattr(err, "message", None) or str(err) or type(err).__name__
    return " ".join(str(text).split())


def storage_error(path: Path, err: Exception) -> LogStorageError:
    """One line naming the file and what is wrong with it; a corrupted file's says how to save what is
    readable (the sqlite3 shell's `.recover` writes every row it can still read into a new file)."""
    text = str(err)
    lowered = text.lower()
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        recovered = path.with_name(path.name + ".recovered")
        return LogStorageError(
            f"{path}: not a readable request log ({text}); copy what is readable into a new file with "
            f"`sqlite3 '{path}' .recover | sqlite3 '{recovered}'` and point PLG_LOG at it (or move it aside)",
            str(path), corrupt=True,
        )
    if "full" in lowered:
        return LogStorageError(f"{path}: cannot write the request log: the disk is full ({text})", str(path))
    if "readonly" in lowered or "read-only" in lowered:
        return LogStorageError(f"{path}: cannot write the request log: read-only ({text})", str(path))
    if "unable to open" in lowered:
        return LogStorageError(f"{path}: cannot open the request log ({text})", str(path))
    return LogStorageError(f"{path}: request log failed: {text}", str(path))
