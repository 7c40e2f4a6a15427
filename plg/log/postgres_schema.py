"""The PostgreSQL request log's schema and SQL: numbered migrations, column lists, the filter as SQL
over those columns, and rows turned back into records. Plain text and values, no driver: the one module
that talks to the server is `postgres_log`."""

from __future__ import annotations

import json
from typing import Any

from plg.log.query import LogQuery
from plg.log.records import RequestRecord
from plg.tracing.spans import Span

# A tsvector holds at most 1 MB; the index covers the first part of a very long request.
SEARCH_CHARS = 200_000

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

COLUMNS = (
    "id, time, prompt, version, commit_sha, label, model, params, input_variables, messages, output, "
    "error, latency_s, prompt_tokens, completion_tokens, cost, tags, metadata, scores, trace_id, span_id"
)
INSERT = (
    f"INSERT INTO plg_requests ({COLUMNS}, search) VALUES "
    "(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s, to_tsvector('simple', %s)) "
    "ON CONFLICT (id) DO NOTHING"
)
SPAN_COLUMNS = (
    "span_id, trace_id, parent_id, name, start_ns, end_ns, kind, status, status_message, attributes"
)
INSERT_SPAN = (
    f"INSERT INTO plg_spans ({SPAN_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) "
    "ON CONFLICT (span_id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in SPAN_COLUMNS.split(", ")[1:])
)


def indexed(q: LogQuery) -> bool:
    return bool(q.search or q.meta or q.tags)


def limit_sql(q: LogQuery) -> str:
    if not q.limit:
        return ""
    return f" LIMIT {int(q.limit)}" + (f" OFFSET {int(q.offset)}" if q.offset else "")


def where(q: LogQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    for column, value in (("prompt", q.prompt), ("label", q.label), ("version", q.version)):
        if value is not None:
            clauses.append(f"{column} = %s")
            args.append(clean(value) if isinstance(value, str) else value)
    if q.since is not None:
        clauses.append("time >= %s")
        args.append(q.since.timestamp())
    if q.until is not None:
        clauses.append("time < %s")
        args.append(q.until.timestamp())
    if q.tags:
        clauses.append("tags @> %s::text[]")
        args.append([clean(t) for t in q.tags])
    if q.meta:
        clauses.append("metadata @> %s::jsonb")
        args.append(json.dumps({clean(k): clean(v) for k, v in q.meta.items()}))
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
            args.append(f"%{clean(q.search)}%")
    return (" AND ".join(clauses) or "TRUE"), args


def clean(text: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL; one in a model's output must not make the whole batch fail."""
    return text.replace("\x00", "\ufffd") if text is not None and "\x00" in text else text


def record(row: tuple[Any, ...]) -> RequestRecord:
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


def span(row: tuple[Any, ...]) -> Span:
    data = dict(zip(SPAN_COLUMNS.split(", "), row, strict=True))
    return Span.from_json(data)
