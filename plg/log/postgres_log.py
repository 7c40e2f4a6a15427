"""The request log on PostgreSQL: one database shared by every host an application runs on.

psycopg 3 with a small connection pool; the only module that imports it. One row per request: tags are a
`text[]` and metadata and scores `jsonb`, GIN-indexed so `--tag`/`--meta` use an index, and `search` is a
`tsvector` of the same text SQLite's full-text index holds, GIN-indexed for `--search`. Inserts are
`ON CONFLICT (id) DO NOTHING`, so a row synced twice from a spill file, or copied twice, lands once.
Migrations are numbered, recorded in `plg_schema_migrations`, and applied under an advisory lock so that
processes starting together do not race. Tables are prefixed `plg_` to share a database safely.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.types.json import Json, Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from plg.errors import LogUnavailable, NotFound
from plg.log.postgres_schema import (
    COLUMNS,
    INSERT,
    INSERT_SPAN,
    MIGRATIONS,
    SEARCH_CHARS,
    SPAN_COLUMNS,
    clean,
    indexed,
    limit_sql,
    record,
    span,
    where,
)
from plg.log.query import LogQuery
from plg.log.records import DEFAULT_SCORE_NAME, RequestRecord, check_metadata, check_score
from plg.log.store import safe_url
from plg.redact import scrub_secrets
from plg.tracing.spans import Span

_MIGRATION_LOCK = 0x706C67  # "plg"
WRITE_TIMEOUT = 2.0


class PostgresLogStore:
    """`pooled=True` (the SDK's writer and `track.*`): a pool that keeps a connection warm and replaces
    broken ones after a server restart. `pooled=False` (the CLI, one command at a time): one connection,
    opened on first use, so an unreachable server is reported at once instead of after the pool's wait."""

    def __init__(
        self, url: str, pooled: bool = False, max_connections: int = 4, timeout: float = 5.0
    ) -> None:
        self.url = url
        self._shown = safe_url(url)
        self._connect_args: dict[str, Any] = {
            "autocommit": True,
            "connect_timeout": max(1, int(timeout)),
            "application_name": "plg",
        }
        self._pool: ConnectionPool[Any] | None = None
        if pooled:
            self._pool = ConnectionPool(
                url,
                min_size=1,
                max_size=max_connections,
                timeout=timeout,
                kwargs=self._connect_args,
                check=ConnectionPool.check_connection,
                open=False,
                name="plg-log",
            )
            self._pool.open(wait=False)
        self._direct: psycopg.Connection[Any] | None = None
        self._direct_lock = threading.RLock()
        self._migrated = False
        self._migrate_lock = threading.Lock()

    def __str__(self) -> str:
        return self._shown

    @contextmanager
    def _connection(self, timeout: float | None = None) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection; losing the server on the way in or during the work is `LogUnavailable`."""
        try:
            if self._pool is not None:
                with self._pool.connection(timeout=timeout) as conn:
                    if not self._migrated:
                        self._migrate(conn)
                    yield conn
                return
            with self._direct_lock:
                if self._direct is not None and not _alive(self._direct):
                    self._direct.close()
                    self._direct = None
                if self._direct is None:
                    self._direct = psycopg.connect(self.url, **self._connect_args)
                if not self._migrated:
                    self._migrate(self._direct)
                yield self._direct
        except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as err:
            reason = scrub_secrets(" ".join(str(err).split()) or type(err).__name__)
            raise LogUnavailable(f"cannot reach the request log at {self._shown}: {reason}") from None

    def _migrate(self, conn: psycopg.Connection[Any]) -> None:
        with self._migrate_lock:
            if self._migrated:
                return
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS plg_schema_migrations "
                    "(version integer PRIMARY KEY, applied double precision NOT NULL)"
                )
                done = {v for (v,) in conn.execute("SELECT version FROM plg_schema_migrations")}
                for version, ddl in MIGRATIONS:
                    if version not in done:
                        conn.execute(ddl)  # type: ignore[arg-type]
                        conn.execute(
                            "INSERT INTO plg_schema_migrations VALUES (%s, %s)", (version, time.time())
                        )
            self._migrated = True

    def schema_version(self) -> int:
        with self._connection() as conn:
            row = conn.execute("SELECT max(version) FROM plg_schema_migrations").fetchone()
        return int(row[0]) if row else 0

    # -- writes ---------------------------------------------------------------------------------
    def write(self, records: list[RequestRecord], spans: list[Span]) -> None:
        """Requests and spans in one transaction: the writer delivers a batch whole or not at all. It
        gives up on an unreachable server sooner than reads do: its rows have a spill file to go to."""
        with self._connection(WRITE_TIMEOUT) as conn, conn.transaction(), conn.cursor() as cur:
            if records:
                cur.executemany(INSERT, [_row(r) for r in records])
            if spans:
                cur.executemany(INSERT_SPAN, [_span_row(s) for s in spans])

    def insert(self, record: RequestRecord) -> None:
        self.write([record], [])

    def insert_many(self, records: list[RequestRecord]) -> None:
        self.write(records, [])

    def insert_spans(self, spans: list[Span]) -> None:
        self.write([], spans)

    def set_score(self, request_id: str, score: float, name: str | None = None) -> None:
        value = check_score(score)
        self._update(
            request_id,
            "scores = scores || jsonb_build_object(%s::text, %s::float8)",
            [clean(name or DEFAULT_SCORE_NAME), value],
        )

    def set_metadata(self, request_id: str, metadata: Mapping[str, str]) -> None:
        cleaned = {clean(k): clean(v) for k, v in check_metadata(metadata).items()}
        self._update(request_id, "metadata = metadata || %s", [Jsonb(cleaned)])

    def set_prompt(
        self,
        request_id: str,
        prompt_name: str,
        input_variables: Mapping[str, Any],
        version: int | None = None,
        label: str | None = None,
        commit: str | None = None,
    ) -> None:
        """The commit is replaced with the version (None when not known): see SQLiteLogStore.set_prompt."""
        self._update(
            request_id,
            "prompt = %s, input_variables = %s, version = %s, label = %s, commit_sha = %s",
            [clean(prompt_name), _json(dict(input_variables)), version, clean(label), clean(commit)],
        )

    def _update(self, request_id: str, assignments: str, args: list[Any]) -> None:
        with self._connection() as conn, conn.transaction():
            seq = self._seq(conn, request_id)
            conn.execute(f"UPDATE plg_requests SET {assignments} WHERE seq = %s", [*args, seq])

    def seq_of(self, request_id: str | int) -> int:
        """The request's integer row id (a serial: unique across every writer), PromptLayer's request id."""
        with self._connection() as conn:
            return self._seq(conn, request_id)

    def _seq(self, conn: psycopg.Connection[Any], request_id: str | int) -> int:
        if isinstance(request_id, int) and not isinstance(request_id, bool):
            row = conn.execute("SELECT seq FROM plg_requests WHERE seq = %s", (request_id,)).fetchone()
            if row is None:
                raise NotFound(f"no request {request_id} in {self._shown}")
            return int(row[0])
        request_id = clean(request_id) or ""
        row = conn.execute("SELECT seq FROM plg_requests WHERE id = %s", (request_id,)).fetchone()
        if row is None and len(request_id) >= 6:
            rows = conn.execute(
                "SELECT seq FROM plg_requests WHERE id >= %s AND id < %s LIMIT 2",
                (request_id, request_id + "\uffff"),
            ).fetchall()
            row = rows[0] if len(rows) == 1 else None
        if row is None:
            raise NotFound(f"no request '{request_id}' in {self._shown}")
        return int(row[0])

    # -- reads ----------------------------------------------------------------------------------
    def get(self, request_id: str) -> RequestRecord:
        with self._connection() as conn:
            seq = self._seq(conn, request_id)
            row = conn.execute(f"SELECT {COLUMNS} FROM plg_requests WHERE seq = %s", (seq,)).fetchone()
        assert row is not None
        return record(row)

    def query(self, q: LogQuery) -> list[RequestRecord]:
        condition, args = where(q)
        sql = f"SELECT {COLUMNS} FROM plg_requests WHERE {condition} ORDER BY time DESC{limit_sql(q)}"
        with self._connection() as conn:
            if q.limit and indexed(q):
                gin_sql = sql.replace("ORDER BY time DESC", "ORDER BY time + 0 DESC")
                rows = _two_ways(conn, gin_sql, sql, args)
            else:
                rows = conn.execute(sql, args).fetchall()
        return [record(r) for r in rows]

    def iter_query(self, q: LogQuery) -> Iterator[RequestRecord]:
        """A server-side cursor: an export of millions of rows holds 500 at a time in memory."""
        condition, args = where(q)
        limit = limit_sql(q)
        with self._connection() as conn, conn.transaction(), conn.cursor(name="plg_iter") as cur:
            cur.itersize = 500
            cur.execute(
                f"SELECT {COLUMNS} FROM plg_requests WHERE {condition} ORDER BY time DESC{limit}", args
            )
            for row in cur:
                yield record(row)

    def count(self, q: LogQuery, at_most: int | None = None) -> int:
        """With `at_most`, counting stops past it (the CLI's "N of more than 10,000")."""
        condition, args = where(q)
        cap = f" LIMIT {int(at_most) + 1}" if at_most is not None else ""
        sql = f"SELECT count(*) FROM (SELECT 1 FROM plg_requests WHERE {condition}{cap}) AS hits"
        with self._connection() as conn:
            if cap and indexed(q):
                return int(_two_ways(conn, sql, sql, args)[0][0])
            row = conn.execute(sql, args).fetchone()
        return int(row[0]) if row else 0

    def trace(self, trace_id: str) -> list[Span]:
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {SPAN_COLUMNS} FROM plg_spans WHERE trace_id = %s ORDER BY start_ns",
                (clean(trace_id),),
            ).fetchall()
        return [span(r) for r in rows]

    def traces_of(self, q: LogQuery) -> list[Span]:
        """Every span of every trace that holds a request matching `q`."""
        condition, args = where(q)
        limit = f" LIMIT {int(q.limit)}" if q.limit else ""
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {SPAN_COLUMNS} FROM plg_spans WHERE trace_id IN (SELECT trace_id FROM plg_requests "
                f"WHERE trace_id IS NOT NULL AND {condition} ORDER BY time DESC{limit}) ORDER BY trace_id, start_ns",
                args,
            ).fetchall()
        return [span(r) for r in rows]

    def iter_spans(self) -> Iterator[Span]:
        with self._connection() as conn, conn.transaction(), conn.cursor(name="plg_spans") as cur:
            cur.itersize = 500
            cur.execute(f"SELECT {SPAN_COLUMNS} FROM plg_spans ORDER BY trace_id, start_ns")
            for row in cur:
                yield span(row)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        with self._direct_lock:
            if self._direct is not None:
                self._direct.close()


def _two_ways(conn: psycopg.Connection[Any], gin_sql: str, scan_sql: str, args: list[Any]) -> list[Any]:
    """Rows matching an indexed filter (words, metadata, tags), asked two ways. The planner cannot tell a
    rare word from a common one well enough: the GIN index finds a rare word's rows at once but must fetch
    every row of a common one, while a scan (the time index backwards, or the table) finds the first rows
    of a common word at once but reads everything for a rare one. So use only the GIN index for at most
    150 ms, then let the planner scan without it."""
    try:
        with conn.transaction():
            conn.execute("SET LOCAL statement_timeout = 150")
            conn.execute("SET LOCAL enable_seqscan = off")
            conn.execute("SET LOCAL enable_indexscan = off")
            return conn.execute(gin_sql, args).fetchall()  # type: ignore[arg-type]
    except psycopg.errors.QueryCanceled:
        pass
    with conn.transaction():
        conn.execute("SET LOCAL enable_bitmapscan = off")
        return conn.execute(scan_sql, args).fetchall()  # type: ignore[arg-type]


def _alive(conn: psycopg.Connection[Any]) -> bool:
    """A reused connection may have lost its server (a restart) since its last use: ask before using it."""
    if conn.closed or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        return not conn.closed
    try:
        conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


def _json(value: Any) -> Json:
    return Json(value, dumps=_dumps)


def _row(r: RequestRecord) -> tuple[Any, ...]:
    return (
        clean(r.id),
        r.time,
        clean(r.prompt_name),
        r.version,
        clean(r.commit),
        clean(r.label),
        clean(r.model),
        _json(r.params),
        _json(r.input_variables),
        _json(r.messages),
        clean(r.output),
        clean(r.error),
        r.latency_s,
        r.prompt_tokens,
        r.completion_tokens,
        r.cost,
        [clean(t) for t in r.tags],
        Jsonb({clean(k): clean(v) for k, v in r.metadata.items()}),
        Jsonb({clean(k): float(v) for k, v in r.scores.items()}),
        clean(r.trace_id),
        clean(r.span_id),
        clean(r.search_text()[:SEARCH_CHARS]),
    )


def _span_row(s: Span) -> tuple[Any, ...]:
    return (
        s.span_id,
        s.trace_id,
        s.parent_id,
        clean(s.name),
        s.start_ns,
        s.end_ns,
        s.kind,
        s.status,
        clean(s.status_message),
        _json(s.attributes),
    )
