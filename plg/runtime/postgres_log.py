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
from plg.redact import scrub_secrets
from plg.runtime.logquery import LogQuery
from plg.runtime.logstore import safe_url
from plg.runtime.records import DEFAULT_SCORE_NAME, RequestRecord, check_metadata, check_score
from plg.tracing.spans import Span

# A tsvector holds at most 1 MB; the index covers the first part of a very long request.
SEARCH_CHARS = 200_000
_MIGRATION_LOCK = 0x706C67  # "plg"
WRITE_TIMEOUT = 2.0

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE plg_requests (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id text COLLATE "C" NOT NULL UNIQUE,
            time double precision NOT NULL,
            prompt text, version integer, commit_sha text, label text, model text,
            params json NOT NULL DEFAULT '{}', input_variables json NOT NULL DEFAULT '{}',
            messages json NOT NULL DEFAULT '[]', output text, error text,
            latency_s double precision, prompt_tokens integer, completion_tokens integer,
            cost double precision,
            tags text[] NOT NULL DEFAULT '{}', metadata jsonb NOT NULL DEFAULT '{}',
            scores jsonb NOT NULL DEFAULT '{}',
            trace_id text, span_id text,
            search tsvector NOT NULL
        );
        CREATE INDEX plg_requests_time ON plg_requests (time);
        CREATE INDEX plg_requests_prompt_time ON plg_requests (prompt, time);
        CREATE INDEX plg_requests_tags ON plg_requests USING gin (tags);
        CREATE INDEX plg_requests_metadata ON plg_requests USING gin (metadata jsonb_path_ops);
        CREATE INDEX plg_requests_search ON plg_requests USING gin (search);
        CREATE INDEX plg_requests_trace ON plg_requests (trace_id) WHERE trace_id IS NOT NULL;
        CREATE TABLE plg_spans (
            span_id text PRIMARY KEY, trace_id text NOT NULL, parent_id text, name text NOT NULL,
            start_ns bigint NOT NULL, end_ns bigint NOT NULL, kind text NOT NULL,
            status text NOT NULL, status_message text, attributes json NOT NULL DEFAULT '{}'
        );
        CREATE INDEX plg_spans_trace ON plg_spans (trace_id, start_ns);
    """,
    ),
]

_COLUMNS = (
    "id, time, prompt, version, commit_sha, label, model, params, input_variables, messages, output, "
    "error, latency_s, prompt_tokens, completion_tokens, cost, tags, metadata, scores, trace_id, span_id"
)
_INSERT = (
    f"INSERT INTO plg_requests ({_COLUMNS}, search) VALUES "
    "(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s, to_tsvector('simple', %s)) "
    "ON CONFLICT (id) DO NOTHING"
)
_SPAN_COLUMNS = (
    "span_id, trace_id, parent_id, name, start_ns, end_ns, kind, status, status_message, attributes"
)
_INSERT_SPAN = (
    f"INSERT INTO plg_spans ({_SPAN_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) "
    "ON CONFLICT (span_id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _SPAN_COLUMNS.split(", ")[1:])
)


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
                cur.executemany(_INSERT, [_row(r) for r in records])
            if spans:
                cur.executemany(_INSERT_SPAN, [_span_row(s) for s in spans])

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
            [_clean(name or DEFAULT_SCORE_NAME), value],
        )

    def set_metadata(self, request_id: str, metadata: Mapping[str, str]) -> None:
        cleaned = {_clean(k): _clean(v) for k, v in check_metadata(metadata).items()}
        self._update(request_id, "metadata = metadata || %s", [Jsonb(cleaned)])

    def set_prompt(
        self,
        request_id: str,
        prompt_name: str,
        input_variables: Mapping[str, Any],
        version: int | None = None,
        label: str | None = None,
    ) -> None:
        self._update(
            request_id,
            "prompt = %s, input_variables = %s, version = %s, label = %s",
            [_clean(prompt_name), _json(dict(input_variables)), version, _clean(label)],
        )

    def _update(self, request_id: str, assignments: str, args: list[Any]) -> None:
        with self._connection() as conn, conn.transaction():
            seq = self._seq(conn, request_id)
            conn.execute(f"UPDATE plg_requests SET {assignments} WHERE seq = %s", [*args, seq])

    def _seq(self, conn: psycopg.Connection[Any], request_id: str) -> int:
        request_id = _clean(request_id) or ""
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
            row = conn.execute(f"SELECT {_COLUMNS} FROM plg_requests WHERE seq = %s", (seq,)).fetchone()
        assert row is not None
        return _record(row)

    def query(self, q: LogQuery) -> list[RequestRecord]:
        where, args = _where(q)
        sql = f"SELECT {_COLUMNS} FROM plg_requests WHERE {where} ORDER BY time DESC{_limit(q)}"
        with self._connection() as conn:
            if q.limit and (q.search or q.meta or q.tags):
                rows = _newest_matching(conn, sql, args)
            else:
                rows = conn.execute(sql, args).fetchall()
        return [_record(r) for r in rows]

    def iter_query(self, q: LogQuery) -> Iterator[RequestRecord]:
        """A server-side cursor: an export of millions of rows holds 500 at a time in memory."""
        where, args = _where(q)
        limit = _limit(q)
        with self._connection() as conn, conn.transaction(), conn.cursor(name="plg_iter") as cur:
            cur.itersize = 500
            cur.execute(f"SELECT {_COLUMNS} FROM plg_requests WHERE {where} ORDER BY time DESC{limit}", args)
            for row in cur:
                yield _record(row)

    def count(self, q: LogQuery, at_most: int | None = None) -> int:
        """With `at_most`, counting stops past it (the CLI's "N of more than 10,000")."""
        where, args = _where(q)
        cap = f" LIMIT {int(at_most) + 1}" if at_most is not None else ""
        with self._connection() as conn:
            row = conn.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM plg_requests WHERE {where}{cap}) AS hits", args
            ).fetchone()
        return int(row[0]) if row else 0

    def trace(self, trace_id: str) -> list[Span]:
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {_SPAN_COLUMNS} FROM plg_spans WHERE trace_id = %s ORDER BY start_ns",
                (_clean(trace_id),),
            ).fetchall()
        return [_span(r) for r in rows]

    def traces_of(self, q: LogQuery) -> list[Span]:
        """Every span of every trace that holds a request matching `q`."""
        where, args = _where(q)
        limit = f" LIMIT {int(q.limit)}" if q.limit else ""
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {_SPAN_COLUMNS} FROM plg_spans WHERE trace_id IN (SELECT trace_id FROM plg_requests "
                f"WHERE trace_id IS NOT NULL AND {where} ORDER BY time DESC{limit}) ORDER BY trace_id, start_ns",
                args,
            ).fetchall()
        return [_span(r) for r in rows]

    def iter_spans(self) -> Iterator[Span]:
        with self._connection() as conn, conn.transaction(), conn.cursor(name="plg_spans") as cur:
            cur.itersize = 500
            cur.execute(f"SELECT {_SPAN_COLUMNS} FROM plg_spans ORDER BY trace_id, start_ns")
            for row in cur:
                yield _span(row)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        with self._direct_lock:
            if self._direct is not None:
                self._direct.close()


def _newest_matching(conn: psycopg.Connection[Any], sql: str, args: list[Any]) -> list[Any]:
    """The newest rows matching an indexed filter (words, metadata, tags). The planner cannot tell a rare
    word from a common one well enough: the GIN index finds a rare word's rows at once but must fetch every
    row of a common one to sort them, while walking the time index backwards finds 50 rows of a common
    word at once but reads the whole table for a rare one. So ask the GIN index for at most 150 ms, then
    walk the time index."""
    try:
        with conn.transaction():
            conn.execute("SET LOCAL statement_timeout = 150")
            gin_first = sql.replace("ORDER BY time DESC", "ORDER BY time + 0 DESC")
            return conn.execute(gin_first, args).fetchall()  # type: ignore[arg-type]
    except psycopg.errors.QueryCanceled:
        pass
    return conn.execute(sql, args).fetchall()  # type: ignore[arg-type]


def _limit(q: LogQuery) -> str:
    if not q.limit:
        return ""
    return f" LIMIT {int(q.limit)}" + (f" OFFSET {int(q.offset)}" if q.offset else "")


def _where(q: LogQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    for column, value in (("prompt", q.prompt), ("label", q.label), ("version", q.version)):
        if value is not None:
            clauses.append(f"{column} = %s")
            args.append(_clean(value) if isinstance(value, str) else value)
    if q.since is not None:
        clauses.append("time >= %s")
        args.append(q.since.timestamp())
    if q.until is not None:
        clauses.append("time < %s")
        args.append(q.until.timestamp())
    if q.tags:
        clauses.append("tags @> %s::text[]")
        args.append([_clean(t) for t in q.tags])
    if q.meta:
        clauses.append("metadata @> %s")
        args.append(Jsonb({_clean(k): _clean(v) for k, v in q.meta.items()}))
    if q.min_score is not None:
        clauses.append(
            "EXISTS (SELECT 1 FROM jsonb_each(scores) AS s(name, value) WHERE s.value::float8 >= %s)"
        )
        args.append(q.min_score)
    if q.errors_only:
        clauses.append("error IS NOT NULL")
    if q.with_output_only:
        clauses.append("error IS NULL AND output IS NOT NULL")
    if q.search:
        words = q.search_words()
        if words:
            clauses.append("search @@ to_tsquery('simple', %s)")
            args.append(" <-> ".join(f"'{w}'" for w in words) + ":*")
        else:
            clauses.append("(input_variables::text || messages::text || coalesce(output, '')) ILIKE %s")
            args.append(f"%{_clean(q.search)}%")
    return (" AND ".join(clauses) or "TRUE"), args


def _alive(conn: psycopg.Connection[Any]) -> bool:
    """A reused connection may have lost its server (a restart) since its last use: ask before using it."""
    if conn.closed or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        return not conn.closed
    try:
        conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def _clean(text: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL; one in a model's output must not make the whole batch fail."""
    return text.replace("\x00", "\ufffd") if text is not None and "\x00" in text else text


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


def _json(value: Any) -> Json:
    return Json(value, dumps=_dumps)


def _row(r: RequestRecord) -> tuple[Any, ...]:
    return (
        _clean(r.id),
        r.time,
        _clean(r.prompt_name),
        r.version,
        _clean(r.commit),
        _clean(r.label),
        _clean(r.model),
        _json(r.params),
        _json(r.input_variables),
        _json(r.messages),
        _clean(r.output),
        _clean(r.error),
        r.latency_s,
        r.prompt_tokens,
        r.completion_tokens,
        r.cost,
        [_clean(t) for t in r.tags],
        Jsonb({_clean(k): _clean(v) for k, v in r.metadata.items()}),
        Jsonb({_clean(k): float(v) for k, v in r.scores.items()}),
        _clean(r.trace_id),
        _clean(r.span_id),
        _clean(r.search_text()[:SEARCH_CHARS]),
    )


def _record(row: tuple[Any, ...]) -> RequestRecord:
    return RequestRecord(
        id=row[0],
        time=row[1],
        prompt_name=row[2],
        version=row[3],
        commit=row[4],
        label=row[5],
        model=row[6],
        params=row[7],
        input_variables=row[8],
        messages=row[9],
        output=row[10],
        error=row[11],
        latency_s=row[12],
        prompt_tokens=row[13],
        completion_tokens=row[14],
        cost=row[15],
        tags=tuple(sorted(row[16])),
        metadata=dict(row[17]),
        scores={k: float(v) for k, v in row[18].items()},
        trace_id=row[19],
        span_id=row[20],
    )


def _span_row(s: Span) -> tuple[Any, ...]:
    return (
        s.span_id,
        s.trace_id,
        s.parent_id,
        _clean(s.name),
        s.start_ns,
        s.end_ns,
        s.kind,
        s.status,
        _clean(s.status_message),
        _json(s.attributes),
    )


def _span(row: tuple[Any, ...]) -> Span:
    data = dict(zip(_SPAN_COLUMNS.split(", "), row, strict=True))
    return Span.from_json(data)
