"""The request log: every SDK request with its inputs, output, timing, cost, tags, metadata and scores.

`LogStore` is what callers use; `open_log` picks the backend from where the log lives. A file path is
SQLite (`sqlite_log`), embedded and the default. A `postgresql://` URL is a shared server
(`postgres_log`) for applications on several hosts; the SDK writes to it through a background writer
(`writer`) so no request waits on the network, and rows that cannot reach it wait in a local SQLite
spill file until `transfer.sync_spill` moves them over.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from plg import config as plg_config
from plg.errors import BadInput
from plg.log.query import LogQuery
from plg.log.records import DEFAULT_SCORE_NAME, RequestRecord
from plg.log.sqlite_log import SQLiteLogStore
from plg.redact import mask_url
from plg.tracing.spans import Span

__all__ = [
    "DEFAULT_SCORE_NAME",
    "LogStore",
    "RequestRecord",
    "SQLiteLogStore",
    "is_database_url",
    "open_log",
    "safe_url",
]

_SCHEMES = ("postgresql", "postgres")


class LogStore(Protocol):
    """What callers need from a request log. Inserting a request id that is already there changes
    nothing, so copies and spill syncs can be repeated. `write` stores requests and spans in one
    transaction (a traced request with its spans)."""

    def insert(self, record: RequestRecord) -> None: ...
    def insert_many(self, records: list[RequestRecord]) -> None: ...
    def get(self, request_id: str) -> RequestRecord: ...
    def query(self, q: LogQuery) -> list[RequestRecord]: ...
    def iter_query(self, q: LogQuery) -> Iterator[RequestRecord]: ...
    def count(self, q: LogQuery, at_most: int | None = None) -> int: ...
    def set_score(self, request_id: str, score: float, name: str | None = None) -> None: ...
    def set_metadata(self, request_id: str, metadata: Mapping[str, str]) -> None: ...
    def set_prompt(
        self,
        request_id: str,
        prompt_name: str,
        input_variables: Mapping[str, Any],
        version: int | None = None,
        label: str | None = None,
        commit: str | None = None,
    ) -> None: ...
    def insert_spans(self, spans: list[Span]) -> None: ...
    def write(self, records: list[RequestRecord], spans: list[Span]) -> None: ...
    def trace(self, trace_id: str) -> list[Span]: ...
    def traces_of(self, q: LogQuery) -> list[Span]: ...
    def iter_spans(self) -> Iterator[Span]: ...
    def close(self) -> None: ...


def is_database_url(location: str | Path) -> bool:
    if not isinstance(location, str) or "://" not in location:
        return False
    try:
        return urlsplit(location).scheme in _SCHEMES
    except ValueError as err:  # "postgresql://[::1": an unclosed IPv6 bracket
        raise BadInput(f"log '{safe_url(location)}': not a valid URL ({err})") from None


def safe_url(url: str) -> str:
    """The URL without its password or credential query parameters, for messages and logs."""
    return mask_url(url)


def open_log(location: str | Path | Any | None, root: Path, background: bool = False) -> Any:
    """The log at `location` (None: PLG_LOG, else .plg/requests.db). `background=True` is for the SDK's
    request path: PostgreSQL writes go through a queue and a writer thread instead of the caller."""
    if location is None:
        location = plg_config.log_location(root)
    if not isinstance(location, (str, Path)):
        return location
    if is_database_url(location):
        store = open_postgres(str(location), pooled=background)
        if not background:
            return store
        from plg.log.writer import BackgroundLogStore

        return BackgroundLogStore(store, plg_config.spill_path(root))
    if isinstance(location, str) and "://" in location:
        raise BadInput(f"log '{safe_url(location)}': expected a file path or a postgresql:// URL")
    path = Path(location)
    if not path.exists():
        keep_out_of_git(path, root)
    if background:
        from plg.log.health import GuardedLog

        return GuardedLog(path, plg_config.spill_path(root))
    return SQLiteLogStore(path)


def keep_out_of_git(path: Path, root: Path) -> None:
    """A log file plg is about to create inside the checkout (`log = "var/requests.db"`) is git-ignored
    where it lives, so requests (inputs, outputs) are never committed by a `git add .`: a folder plg
    creates gets a `.gitignore` of `*`; an existing one gets `/NAME*` (the file and its -wal, -shm)
    appended. Best effort: a read-only folder fails at the log's own open, with its own message."""
    try:
        path.resolve().relative_to(Path(root).resolve())
    except ValueError:
        return
    if not (Path(root) / ".git").exists():
        return
    directory = path.parent
    try:
        if not directory.exists():
            directory.mkdir(parents=True)
            (directory / ".gitignore").write_text("# plg's request log: kept out of git\n*\n")
            return
        ignore = directory / ".gitignore"
        line = f"/{path.name}*"
        existing = ignore.read_text(encoding="utf-8").splitlines() if ignore.exists() else []
        if line not in existing:
            with ignore.open("a", encoding="utf-8") as handle:
                if existing and not ignore.read_text(encoding="utf-8").endswith("\n"):
                    handle.write("\n")
                handle.write(f"{line}\n")
    except (OSError, UnicodeDecodeError):
        return


def open_postgres(url: str, pooled: bool = False) -> Any:
    try:
        from plg.log.postgres_log import PostgresLogStore
    except ModuleNotFoundError as err:
        if err.name not in ("psycopg", "psycopg_pool"):
            raise
        raise BadInput(
            f"log '{safe_url(url)}' needs the PostgreSQL driver: pip install 'plg-registry[postgres]'"
        ) from None
    return PostgresLogStore(url, pooled=pooled)
