from __future__ import annotations

import multiprocessing
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from plg.errors import BadInput, NotFound
from plg.log.history import export_history, load_history
from plg.log.query import LogQuery, parse_time
from plg.log.sqlite_log import MIGRATIONS
from plg.log.store import LogStore, RequestRecord, SQLiteLogStore
from plg.tracing.spans import Span


def record(**fields) -> RequestRecord:  # type: ignore[no-untyped-def]
    base = dict(
        prompt_name="cake",
        version=1,
        model="plg/offline",
        input_variables={"cake_type": "lemon"},
        messages=[
            {"role": "system", "content": "secret system words"},
            {"role": "user", "content": "lemon cake"},
        ],
        output="A lemon cake",
        latency_s=0.1,
    )
    return RequestRecord.new(**{**base, **fields})


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LogStore]:
    """The same behaviour asked of both backends: the embedded file and a real PostgreSQL server."""
    if request.param == "sqlite":
        opened: LogStore = SQLiteLogStore(tmp_path / "log.db")
    else:
        from plg.log.postgres_log import PostgresLogStore

        opened = PostgresLogStore(request.getfixturevalue("pg_url"))
    yield opened
    opened.close()


def test_round_trip_keeps_every_field(store: LogStore) -> None:
    original = record(
        commit="c" * 40,
        label="production",
        params={"temperature": 0.2},
        prompt_tokens=5,
        completion_tokens=7,
        cost=0.001,
        tags=["web", "beta"],
        metadata={"user": "ada"},
    )
    store.insert(original)
    loaded = store.get(original.id)
    assert loaded == RequestRecord(**{**original.__dict__, "tags": ("beta", "web")})
    assert store.get(original.id[:10]).id == original.id  # unique prefix, as git does


def test_filters_alone_and_combined(store: LogStore) -> None:
    now = datetime.now(timezone.utc).timestamp()
    a = record(time=now - 10 * 86400, tags=["web"], metadata={"user": "ada"}, output="old lemon answer")
    b = record(
        time=now - 3600,
        label="production",
        version=2,
        tags=["web", "beta"],
        metadata={"user": "bob"},
        output="refund processed",
    )
    c = record(time=now, prompt_name="triage", tags=["api"], metadata={"user": "ada"}, output="charged twice")
    for r in (a, b, c):
        store.insert(r)
    store.set_score(b.id, 90)
    store.set_score(c.id, 20)

    def ids(**q) -> set[str]:  # type: ignore[no-untyped-def]
        return {r.id for r in store.query(LogQuery(**q))}

    assert ids(prompt="cake") == {a.id, b.id}
    assert ids(label="production") == {b.id}
    assert ids(version=2) == {b.id}
    assert ids(since=parse_time("7d")) == {b.id, c.id}
    assert ids(until=parse_time("2h")) == {a.id}
    assert ids(tags=("web",)) == {a.id, b.id}
    assert ids(tags=("web", "beta")) == {b.id}
    assert ids(meta={"user": "ada"}) == {a.id, c.id}
    assert ids(search="refund") == {b.id}
    assert ids(search="charg") == {c.id}  # last word matches as a prefix
    assert ids(search="secret system") == set()  # the system prompt is not indexed
    assert ids(min_score=50) == {b.id}
    assert ids(prompt="cake", tags=("web",), since=parse_time("1d")) == {b.id}
    assert ids(meta={"user": "ada"}, search="charged", min_score=10) == {c.id}
    assert [r.id for r in store.query(LogQuery(limit=2))] == [c.id, b.id]
    assert [r.id for r in store.query(LogQuery(limit=2, offset=1))] == [b.id, a.id]
    assert store.count(LogQuery(tags=("web",))) == 2


def test_track_calls_update_and_replace(store: LogStore) -> None:
    r = record(metadata={"user": "ada", "plan": "pro"})
    store.insert(r)
    store.set_metadata(r.id, {"user": "bob"})
    store.set_score(r.id, 40, name="helpful")
    store.set_score(r.id, 75, name="helpful")
    store.set_prompt(r.id, "triage", {"subject": "hi"}, version=3, label="staging")
    got = store.get(r.id)
    assert got.metadata == {"user": "bob", "plan": "pro"}
    assert got.scores == {"helpful": 75}
    assert (got.prompt_name, got.version, got.label, got.input_variables) == (
        "triage",
        3,
        "staging",
        {"subject": "hi"},
    )


def test_bad_values_and_unknown_ids(store: LogStore) -> None:
    r = record()
    store.insert(r)
    with pytest.raises(BadInput, match="0 to 100"):
        store.set_score(r.id, 101)
    with pytest.raises(BadInput, match="strings"):
        store.set_metadata(r.id, {"n": 1})  # type: ignore[dict-item]
    with pytest.raises(NotFound, match="no request 'nope'"):
        store.get("nope")
    with pytest.raises(NotFound):
        store.set_score("nope", 5)
    with pytest.raises(BadInput, match="--since 'yesterday'"):
        parse_time("yesterday")


def test_old_database_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied REAL NOT NULL)")
    conn.executescript(MIGRATIONS[0][1])
    conn.execute("INSERT INTO schema_migrations VALUES (1, 0)")
    conn.execute(
        "INSERT INTO requests (id, time, prompt, messages, output) VALUES "
        "('old1', 1, 'cake', '[]', 'an ancient meringue')"
    )
    conn.commit()
    conn.close()
    store = SQLiteLogStore(path)
    assert store.schema_version() == len(MIGRATIONS)
    assert [r.id for r in store.query(LogQuery(search="meringue"))] == ["old1"]


def _writer(path: str, worker: int, count: int) -> None:
    store = SQLiteLogStore(Path(path))
    for i in range(count):
        store.insert(record(metadata={"worker": str(worker)}, output=f"row {worker}-{i}"))
    store.close()


def test_eight_processes_lose_no_row(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    SQLiteLogStore(path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), w, 500)) for w in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    store = SQLiteLogStore(path)
    assert store.count(LogQuery()) == 4000
    assert store.count(LogQuery(meta={"worker": "7"})) == 500


def test_export_round_trip_and_hand_written_history(store: LogStore, tmp_path: Path) -> None:
    good = record(tags=["web"], metadata={"user": "ada"})
    failed = record(output=None, error="RateLimitError (429)")
    store.insert(good)
    store.insert(failed)
    out = tmp_path / "history.jsonl"
    with out.open("w") as handle:
        result = export_history(store.iter_query(LogQuery(prompt="cake")), handle)
    assert (result.written, result.skipped) == (1, 1)
    rows = load_history(out)
    assert rows[0].input_variables == {"cake_type": "lemon"} and rows[0].output == "A lemon cake"
    assert rows[0].request_id == good.id
    hand = tmp_path / "hand.jsonl"
    hand.write_text('{"input_variables": {"q": "hi"}, "output": "hello"}\n')
    assert load_history(hand)[0].output == "hello"
    from plg.evals.datasets import load_rows

    assert load_rows(out)[0].values["input_variables"] == {"cake_type": "lemon"}


def test_malformed_history_line_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input_variables": {}, "output": "x"}\n{"output": "no inputs"}\n')
    with pytest.raises(BadInput, match=r"bad.jsonl, line 2: 'input_variables': field required"):
        load_history(bad)


def test_a_history_line_too_long_for_any_prompt_is_refused_as_it_is_read(tmp_path: Path) -> None:
    """A history comes from a pull request like a dataset: a 50 MB line is refused on its line, not read whole."""
    huge = tmp_path / "huge.jsonl"
    huge.write_text('{"input_variables": {}, "output": "x"}\n{"input_variables": {}, "output": "' + "y" * 50_000_000 + '"}\n')
    with pytest.raises(BadInput, match=r"huge.jsonl, line 2: longer than 4,194,304 bytes"):
        load_history(huge)
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"input_variables": {}, "output": "ok"}\n{"input_variables": {}, "output": "caf\xe9"}\n')
    with pytest.raises(BadInput, match=r"latin.jsonl, line 2: not UTF-8 text"):
        load_history(latin)


def test_since_accepts_dates_and_relative_times() -> None:
    assert parse_time("2026-11-01") == datetime(2026, 11, 1, tzinfo=timezone.utc)
    assert datetime.now(timezone.utc) - parse_time("12h") - timedelta(hours=12) < timedelta(seconds=5)


def test_version_2_database_gains_spans_through_migration_3(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied REAL NOT NULL)")
    for version, sql in MIGRATIONS[:2]:
        conn.executescript(sql)
        conn.execute("INSERT INTO schema_migrations VALUES (?, 0)", (version,))
    conn.execute(
        "INSERT INTO requests (id, time, prompt, messages, output) VALUES ('v2old', 1, 'cake', '[]', 'x')"
    )
    conn.commit()
    conn.close()
    store = SQLiteLogStore(path)
    assert store.schema_version() == 3
    old = store.get("v2old")
    assert (old.trace_id, old.span_id) == (None, None)
    span = Span(
        "a" * 32, "b" * 16, None, "app", 10, 20, {"user.id": "u", "n": 2, "ok": True}, "error", "boom"
    )
    store.insert_spans([span])
    traced = record(trace_id="a" * 32, span_id="b" * 16)
    store.insert(traced)
    assert store.get(traced.id).trace_id == "a" * 32
    assert store.trace("a" * 32) == [span]
    assert store.traces_of(LogQuery(prompt="cake")) == [span]
    reopened = SQLiteLogStore(path)
    assert reopened.schema_version() == 3 and reopened.trace("a" * 32) == [span]
    with pytest.raises(BadInput, match="32 and span id 16 hex"):
        Span.from_json({**span.to_json(), "span_id": "xyz"})
