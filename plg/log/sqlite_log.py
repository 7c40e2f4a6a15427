"""The SQLite request log: the embedded default, and the local spill file of the PostgreSQL writer.

WAL lets readers run beside one writer; writers take `BEGIN IMMEDIATE` so a read-then-write transaction
never fails at once with SQLITE_BUSY, and wait up to `busy_timeout` for the lock, which makes several
processes writing at once safe on one host. `synchronous=NORMAL`: in WAL mode it never corrupts the
database and loses nothing when a process crashes; only the last commits before a power loss can be lost,
and it saves an fsync per request on the hot path. Inserts are idempotent on the request id, so copying or
syncing the same rows twice changes nothing.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from plg.errors import NotFound
from plg.log.health import storage_error
from plg.log.query import LogQuery
from plg.log.records import DEFAULT_SCORE_NAME, RequestRecord, check_metadata, check_score
from plg.tracing.spans import Span

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE requests (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            time REAL NOT NULL,
            prompt TEXT, version INTEGER, commit_sha TEXT, label TEXT, model TEXT,
            params TEXT NOT NULL DEFAULT '{}', input_variables TEXT NOT NULL DEFAULT '{}',
            messages TEXT NOT NULL DEFAULT '[]', output TEXT, error TEXT,
            latency_s REAL, prompt_tokens INTEGER, completion_tokens INTEGER, cost REAL
        );
        CREATE INDEX requests_time ON requests(time);
        CREATE INDEX requests_prompt_time ON requests(prompt, time);
        CREATE TABLE request_tags (seq INTEGER NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (tag, seq)) WITHOUT ROWID;
        CREATE TABLE request_metadata (seq INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
                                       PRIMARY KEY (seq, key)) WITHOUT ROWID;
        CREATE INDEX request_metadata_kv ON request_metadata(key, value);
        CREATE TABLE request_scores (seq INTEGER NOT NULL, name TEXT NOT NULL, score REAL NOT NULL,
                                     PRIMARY KEY (seq, name)) WITHOUT ROWID;
    """,
    ),
    (
        2,
        """
        CREATE VIRTUAL TABLE requests_fts USING fts5(body, content='', tokenize="unicode61 remove_diacritics 2");
        INSERT INTO requests_fts(rowid, body)
            SELECT seq, input_variables || char(10) || messages || char(10) || coalesce(output, '')
                   || char(10) || coalesce(error, '') FROM requests;
    """,
    ),
    (
        3,
        """
        CREATE TABLE spans (
            span_id TEXT PRIMARY KEY, trace_id TEXT NOT NULL, parent_id TEXT, name TEXT NOT NULL,
            start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL, kind TEXT NOT NULL,
            status TEXT NOT NULL, status_message TEXT, attributes TEXT NOT NULL DEFAULT '{}'
        ) WITHOUT ROWID;
        CREATE INDEX spans_trace ON spans(trace_id, start_ns);
        ALTER TABLE requests ADD COLUMN trace_id TEXT;
        ALTER TABLE requests ADD COLUMN span_id TEXT;
        CREATE INDEX requests_trace ON requests(trace_id) WHERE trace_id IS NOT NULL;
    """,
    ),
]

_COLUMNS = (
    "seq, id, time, prompt, version, commit_sha, label, model, params, input_variables, messages, output, "
    "error, latency_s, prompt_tokens, completion_tokens, cost, trace_id, span_id"
)
_SPAN_COLUMNS = (
    "span_id, trace_id, parent_id, name, start_ns, end_ns, kind, status, status_message, attributes"
)


class SQLiteLogStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with self._errors():
            self._conn = sqlite3.connect(
                str(self.path), timeout=30, isolation_level=None, check_same_thread=False
            )
            try:
                self._conn.execute("PRAGMA busy_timeout=30000")
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")
                self._migrate()
            except BaseException:
                self._conn.close()
                raise

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """sqlite3's errors as one line naming the file (`LogStorageError`): callers outside this door
        cannot tell a full disk from a corrupted file by sqlite3's exception classes."""
        try:
            yield
        except sqlite3.DatabaseError as err:
            raise storage_error(self.path, err) from None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the write lock up front (BEGIN IMMEDIATE): a deferred one that
        reads first fails at once with SQLITE_BUSY when another process writes, whatever busy_timeout says.
        A full disk may have rolled the transaction back already; the error said is then the write's,
        not the rollback's ("cannot rollback - no transaction is active")."""
        with self._lock, self._errors():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    with suppress(sqlite3.Error):
                        self._conn.execute("ROLLBACK")
                raise

    def _migrate(self) -> None:
        with self._transaction() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied REAL NOT NULL)"
            )
            done = {v for (v,) in conn.execute("SELECT version FROM schema_migrations")}
            for version, sql in MIGRATIONS:
                if version in done:
                    continue
                for statement in (part.strip() for part in sql.split(";")):
                    if statement:
                        conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version, time.time()))

    def schema_version(self) -> int:
        return max(v for (v,) in self._conn.execute("SELECT version FROM schema_migrations"))

    # -- writes ---------------------------------------------------------------------------------
    def write(self, records: list[RequestRecord], spans: list[Span]) -> None:
        """Requests and spans in one transaction: a traced request is stored with its spans or not at all."""
        with self._transaction() as conn:
            if records:
                _insert_requests(conn, records)
            if spans:
                _insert_spans(conn, spans)

    def insert(self, record: RequestRecord) -> None:
        self.write([record], [])

    def insert_many(self, records: list[RequestRecord]) -> None:
        self.write(records, [])

    def insert_spans(self, spans: list[Span]) -> None:
        self.write([], spans)

    def seq_of(self, request_id: str | int) -> int:
        """The request's integer row id: unique in this log whichever process wrote it, and what
        PromptLayer's API calls a request id. Every call taking a request id also takes this integer."""
        return self._seq(request_id)

    def _seq(self, request_id: str | int) -> int:
        if isinstance(request_id, int) and not isinstance(request_id, bool):
            row = self._conn.execute("SELECT seq FROM requests WHERE seq = ?", (request_id,)).fetchone()
            if row is None:
                raise NotFound(f"no request {request_id} in {self.path}")
            return int(row[0])
        row = self._conn.execute("SELECT seq FROM requests WHERE id = ?", (request_id,)).fetchone()
        if row is None and len(request_id) >= 6:
            rows = self._conn.execute(
                "SELECT seq FROM requests WHERE id >= ? AND id < ? LIMIT 2",
                (request_id, request_id + "\uffff"),
            ).fetchall()
            row = rows[0] if len(rows) == 1 else None
        if row is None:
            raise NotFound(f"no request '{request_id}' in {self.path}")
        return int(row[0])

    def set_score(self, request_id: str, score: float, name: str | None = None) -> None:
        score = check_score(score)
        self._update(
            request_id,
            "INSERT OR REPLACE INTO request_scores VALUES (?, ?, ?)",
            lambda seq: [(seq, name or DEFAULT_SCORE_NAME, score)],
        )

    def set_metadata(self, request_id: str, metadata: Mapping[str, str]) -> None:
        metadata = check_metadata(metadata)
        self._update(
            request_id,
            "INSERT OR REPLACE INTO request_metadata VALUES (?, ?, ?)",
            lambda seq: [(seq, k, v) for k, v in metadata.items()],
        )

    def set_prompt(
        self,
        request_id: str,
        prompt_name: str,
        input_variables: Mapping[str, Any],
        version: int | None = None,
        label: str | None = None,
        commit: str | None = None,
    ) -> None:
        """The request now belongs to this prompt version: its commit is replaced too (None when not
        known), so its inputs are never shown against another version's commit."""
        self._update(
            request_id,
            "UPDATE requests SET prompt = ?, input_variables = ?, version = ?, label = ?, commit_sha = ? WHERE seq = ?",
            lambda seq: [(prompt_name, _dumps(dict(input_variables)), version, label, commit, seq)],
        )

    def _update(self, request_id: str | int, sql: str, rows: Any) -> None:
        with self._transaction() as conn:
            conn.executemany(sql, rows(self._seq(request_id)))

    # -- reads ----------------------------------------------------------------------------------
    def get(self, request_id: str) -> RequestRecord:
        with self._errors():
            seq = self._seq(request_id)
            row = self._conn.execute(f"SELECT {_COLUMNS} FROM requests WHERE seq = ?", (seq,)).fetchone()
            return self._hydrate([row])[0]

    def query(self, q: LogQuery) -> list[RequestRecord]:
        return list(self.iter_query(q))

    def iter_query(self, q: LogQuery) -> Iterator[RequestRecord]:
        where, args = q.where_sql()
        limit = f" LIMIT {int(q.limit)}" if q.limit else ""
        if q.limit and q.offset:
            limit += f" OFFSET {int(q.offset)}"
        with self._errors():
            cursor = self._conn.execute(
                f"SELECT {_COLUMNS} FROM requests WHERE {where} ORDER BY time DESC{limit}", args
            )
            while True:
                batch = cursor.fetchmany(500)
                if not batch:
                    return
                yield from self._hydrate(batch)

    def trace(self, trace_id: str) -> list[Span]:
        rows = self._conn.execute(
            f"SELECT {_SPAN_COLUMNS} FROM spans WHERE trace_id = ? ORDER BY start_ns", (trace_id,)
        ).fetchall()
        return [_span(r) for r in rows]

    def traces_of(self, q: LogQuery) -> list[Span]:
        """Every span of every trace that holds a request matching `q`."""
        where, args = q.where_sql()
        limit = f" LIMIT {int(q.limit)}" if q.limit else ""
        rows = self._conn.execute(
            f"SELECT {_SPAN_COLUMNS} FROM spans WHERE trace_id IN (SELECT trace_id FROM requests "
            f"WHERE trace_id IS NOT NULL AND {where} ORDER BY time DESC{limit}) ORDER BY trace_id, start_ns",
            args,
        ).fetchall()
        return [_span(r) for r in rows]

    def iter_spans(self) -> Iterator[Span]:
        cursor = self._conn.execute(f"SELECT {_SPAN_COLUMNS} FROM spans ORDER BY trace_id, start_ns")
        while batch := cursor.fetchmany(500):
            yield from (_span(r) for r in batch)

    def move_out(self, deliver: Callable[[list[RequestRecord], list[Span]], None], limit: int = 500) -> int:
        """Hand the oldest rows to `deliver` and delete them only once it has returned, holding the write
        lock throughout: a row leaves this file after it has arrived elsewhere, never before, and two
        processes draining the same file at once do not both deliver it. Returns how many rows moved."""
        with self._transaction() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM requests ORDER BY seq LIMIT ?", (limit,)).fetchall()
            records = self._hydrate(rows) if rows else []
            spans = [
                _span(r)
                for r in conn.execute(f"SELECT {_SPAN_COLUMNS} FROM spans LIMIT ?", (limit,)).fetchall()
            ]
            if not records and not spans:
                return 0
            deliver(records, spans)
            seqs = [(r[0],) for r in rows]
            for table in ("requests", "request_tags", "request_metadata", "request_scores"):
                conn.executemany(f"DELETE FROM {table} WHERE seq = ?", seqs)
            if conn.execute("SELECT NOT EXISTS (SELECT 1 FROM requests)").fetchone()[0]:
                # A contentless index forgets rows only given their exact text; once the file is empty it
                # can forget everything, and until then the surviving rows' higher seqs are never reused.
                conn.execute("INSERT INTO requests_fts(requests_fts) VALUES ('delete-all')")
            conn.executemany("DELETE FROM spans WHERE span_id = ?", [(s.span_id,) for s in spans])
            return len(records) + len(spans)

    def count(self, q: LogQuery, at_most: int | None = None) -> int:
        """With `at_most`, counting stops past it (the CLI's "N of more than 10,000")."""
        where, args = q.where_sql()
        cap = f" LIMIT {int(at_most) + 1}" if at_most is not None else ""
        sql = f"SELECT count(*) FROM (SELECT 1 FROM requests WHERE {where}{cap})"
        with self._errors():
            return int(self._conn.execute(sql, args).fetchone()[0])

    def _hydrate(self, rows: list[tuple[Any, ...]]) -> list[RequestRecord]:
        seqs = [r[0] for r in rows]
        marks = ",".join("?" * len(seqs))
        tags: dict[int, list[str]] = {}
        for seq, tag in self._conn.execute(f"SELECT seq, tag FROM request_tags WHERE seq IN ({marks})", seqs):
            tags.setdefault(seq, []).append(tag)
        meta: dict[int, dict[str, str]] = {}
        for seq, key, value in self._conn.execute(
            f"SELECT seq, key, value FROM request_metadata WHERE seq IN ({marks})", seqs
        ):
            meta.setdefault(seq, {})[key] = value
        scores: dict[int, dict[str, float]] = {}
        for seq, name, score in self._conn.execute(
            f"SELECT seq, name, score FROM request_scores WHERE seq IN ({marks})", seqs
        ):
            scores.setdefault(seq, {})[name] = score
        return [
            RequestRecord(
                id=r[1],
                time=r[2],
                prompt_name=r[3],
                version=r[4],
                commit=r[5],
                label=r[6],
                model=r[7],
                params=json.loads(r[8]),
                input_variables=json.loads(r[9]),
                messages=json.loads(r[10]),
                output=r[11],
                error=r[12],
                latency_s=r[13],
                prompt_tokens=r[14],
                completion_tokens=r[15],
                cost=r[16],
                tags=tuple(sorted(tags.get(r[0], []))),
                metadata=meta.get(r[0], {}),
                scores=scores.get(r[0], {}),
                trace_id=r[17],
                span_id=r[18],
            )
            for r in rows
        ]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __str__(self) -> str:
        return str(self.path)


def _insert_requests(conn: sqlite3.Connection, records: list[RequestRecord]) -> None:
    for r in records:
        cursor = conn.execute(
            "INSERT INTO requests (id, time, prompt, version, commit_sha, label, model, params, "
            "input_variables, messages, output, error, latency_s, prompt_tokens, completion_tokens, cost, "
            "trace_id, span_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING",
            (
                r.id,
                r.time,
                r.prompt_name,
                r.version,
                r.commit,
                r.label,
                r.model,
                _dumps(r.params),
                _dumps(r.input_variables),
                _dumps(r.messages),
                r.output,
                r.error,
                r.latency_s,
                r.prompt_tokens,
                r.completion_tokens,
                r.cost,
                r.trace_id,
                r.span_id,
            ),
        )
        if cursor.rowcount == 0:
            continue
        seq = cursor.lastrowid
        if r.tags:
            conn.executemany(
                "INSERT OR IGNORE INTO request_tags VALUES (?, ?)", [(seq, t) for t in r.tags]
            )
        if r.metadata:
            conn.executemany(
                "INSERT INTO request_metadata VALUES (?, ?, ?)",
                [(seq, k, v) for k, v in r.metadata.items()],
            )
        if r.scores:
            conn.executemany(
                "INSERT INTO request_scores VALUES (?, ?, ?)",
                [(seq, k, v) for k, v in r.scores.items()],
            )
        conn.execute("INSERT INTO requests_fts(rowid, body) VALUES (?, ?)", (seq, r.search_text()))


def _insert_spans(conn: sqlite3.Connection, spans: list[Span]) -> None:
    conn.executemany(
        f"INSERT OR REPLACE INTO spans ({_SPAN_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
        [
            (s.span_id, s.trace_id, s.parent_id, s.name, s.start_ns, s.end_ns, s.kind, s.status)
            + (s.status_message, _dumps(s.attributes))
            for s in spans
        ],
    )


def _span(row: tuple[Any, ...]) -> Span:
    names = _SPAN_COLUMNS.split(", ")
    data = dict(zip(names, row, strict=True))
    data["attributes"] = json.loads(data["attributes"])
    return Span.from_json(data)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))
