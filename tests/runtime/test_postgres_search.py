"""`--search` on the PostgreSQL request log: a phrase asks the index of adjacent word pairs first, finds
exactly the rows the phrase matched before it existed, and a log written before it migrates in place."""

from __future__ import annotations

import json
import multiprocessing
from typing import Any

import pytest

from plg.runtime.logquery import LogQuery
from plg.runtime.records import RequestRecord

psycopg = pytest.importorskip("psycopg")

LONG = " ".join(f"w{i}" for i in range(16_500)) + " charged twice"
TEXTS = [
    "the customer was charged twice for one order",
    "Charged Twice! said the CUSTOMER",
    "twice charged, never charged-twice",
    "charged and then twice refunded",
    "chargedtwice as one word",
    "we are 100% sure, 50%_off",
    "foo_bar baz and foo-bar baz",
    "a_b c d",
    r"path C:\Users\me\file.txt and back\slash",
    "Crème brûlée for the naïve café",
    "CRÈME BRÛLÉE again",
    "Straße und Ωμέγα λέξη, привет мир",
    "日本語 テキスト and 中文 文本",
    "party 🎉 time, emoji 🎉🎉",
    "see http://example.com/path?q=1 or mail o'brien@example.com",
    "o'brien said it's fine",
    "weighs 1.5 kg, or 5 kg",
    "the the the the",
    "x " * 300 + "x y",
    LONG,
    "% _ \\ ' \" <-> & | ! :*",
]
QUERIES = [
    "charged twice",
    "Charged TWICE",
    "CHARGED tw",
    "twice charged",
    "charged twice refund",
    "customer was charged twice for one",
    "100% sure",
    "50%_off",
    "%",
    "%%",
    "_",
    "foo_bar baz",
    "foo bar baz",
    "foo-bar",
    "a_b c",
    "b c d",
    r"C:\Users\me",
    r"users me file",
    "\\",
    "\\%",
    "crème brûlée",
    "CRÈME BRÛ",
    "naïve café",
    "STRASSE",
    "straße und ωμέγα",
    "ПРИВЕТ МИР",
    "日本語 テキスト",
    "中文",
    "🎉",
    "party 🎉 time",
    "example com path",
    "http example",
    "o'brien said",
    "o brien",
    "it's",
    "1.5 kg",
    "5 kg",
    "the the the",
    "x x x y",
    "w16400 w16401",
    "w16499 charged twice",
    "'",
    "<->",
    "& |",
    ":*",
    "no such words here",
]


def _records() -> list[RequestRecord]:
    rows = [
        RequestRecord.new(time=1_000 + i, input_variables={"n": i}, output=text)
        for i, text in enumerate(TEXTS)
    ]
    rows += [
        RequestRecord.new(
            time=2_000 + i,
            input_variables={"question": "was I charged for this"},
            messages=[{"role": "user", "content": "twice I asked"}],
            output=f"refund {i} for the customer",
        )
        for i in range(40)
    ]
    return rows


def _plain_scan(conn: Any, q: LogQuery) -> list[str]:
    """The rows `--search` matched before pairs existed: its original filter, by reading every row."""
    from plg.runtime.postgres_schema import where

    condition, args = where(q)
    with conn.transaction():
        for setting in ("enable_bitmapscan", "enable_indexscan", "enable_indexonlyscan"):
            conn.execute(f"SET LOCAL {setting} = off")
        rows = conn.execute(
            f"SELECT id FROM plg_requests WHERE {condition} ORDER BY time DESC", args
        ).fetchall()
    return [r[0] for r in rows]


def test_every_search_finds_exactly_the_rows_a_plain_scan_of_its_phrase_finds(pg_url: str) -> None:
    from plg.runtime.postgres_log import PostgresLogStore
    from plg.runtime.postgres_schema import phrase_pairs, phrase_query

    store = PostgresLogStore(pg_url)
    store.insert_many(_records())
    by_pairs, found = 0, 0
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("ANALYZE plg_requests")
        for text in QUERIES:
            q = LogQuery(search=text)
            phrase = phrase_query(q)
            if phrase:
                parsed = conn.execute("SELECT to_tsquery('simple', %s)::text", (phrase,)).fetchone()[0]
                by_pairs += phrase_pairs(parsed) is not None
            expected = _plain_scan(conn, q)
            found += bool(expected)
            assert [r.id for r in store.query(q)] == expected, text
            assert [r.id for r in store.query(LogQuery(search=text, limit=3))] == expected[:3], text
            assert [r.id for r in store.iter_query(q)] == expected, text
            assert store.count(q) == len(expected), text
            assert store.count(q, at_most=2) == min(3, len(expected)), text
    store.close()
    assert by_pairs >= 25 and found >= 20, (by_pairs, found)


def test_the_phrase_rows_are_the_ones_a_reader_expects(pg_url: str) -> None:
    from plg.runtime.postgres_log import PostgresLogStore

    store = PostgresLogStore(pg_url)
    store.insert_many(_records())

    def outputs(text: str) -> set[str]:
        return {r.output or "" for r in store.query(LogQuery(search=text))}

    assert outputs("charged twi") == {TEXTS[0], TEXTS[1], TEXTS[2]}, "not past word 16,383 (LONG)"
    assert TEXTS[9] in outputs("crème brûlée")
    assert outputs("twice charged") == {TEXTS[2]}
    assert outputs("w16400 w16401") == set(), "positions past 16,383 are one position: no phrase there"
    assert outputs("charged refund") == set()
    store.close()


def _plan(conn: Any, q: LogQuery) -> str:
    """The plan of the first way a filtered listing is asked (only GIN indexes, `_two_ways`); a bench
    (bench/log_search.py) shows the planner choosing it unaided on 1,000,000 rows."""
    from plg.runtime.postgres_schema import COLUMNS, limit_sql, phrase_pairs, phrase_query, where

    parsed = conn.execute("SELECT to_tsquery('simple', %s)::text", (phrase_query(q),)).fetchone()[0]
    condition, args = where(q, phrase_pairs(parsed))
    with conn.transaction():
        for setting in ("enable_seqscan", "enable_indexscan"):
            conn.execute(f"SET LOCAL {setting} = off")
        rows = conn.execute(
            f"EXPLAIN (FORMAT JSON) SELECT {COLUMNS} FROM plg_requests WHERE {condition} "
            f"ORDER BY time DESC{limit_sql(q)}",
            args,
        ).fetchall()
    return json.dumps(rows[0][0])


def test_a_phrase_of_two_common_words_is_planned_on_the_pairs_index(pg_url: str) -> None:
    from plg.runtime.postgres_log import PostgresLogStore

    store = PostgresLogStore(pg_url)
    store.insert_many(
        [
            RequestRecord.new(time=i, output=f"charged on {i} and then twice more {i % 7} refund")
            for i in range(3_000)
        ]
    )
    store.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("ANALYZE plg_requests")
        for q in (LogQuery(search="charged twice"), LogQuery(search="charged twice", limit=20)):
            plan = _plan(conn, q)
            assert "plg_requests_pairs" in plan, (q, plan)
            assert "plg_requests_search" not in plan, "reading every row id of 'charged' is the slow case"


def _open_and_search(url: str, start: Any, results: Any) -> None:
    from plg.runtime.postgres_log import PostgresLogStore

    store = PostgresLogStore(url)
    start.wait()
    version = store.schema_version()
    ids = sorted(r.id for r in store.query(LogQuery(search="charged twice")))
    results.put((version, ids))
    store.close()


def test_a_log_written_at_schema_1_migrates_once_in_place_when_two_processes_open_it(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import plg.runtime.postgres_log as postgres_log

    monkeypatch.setattr(postgres_log, "MIGRATIONS", postgres_log.MIGRATIONS[:1])
    old = postgres_log.PostgresLogStore(pg_url)
    old.insert_many(_records())
    assert old.schema_version() == 1
    old.close()
    monkeypatch.undo()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        expected = sorted(_plain_scan(conn, LogQuery(search="charged twice")))
    assert len(expected) == 3

    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_open_and_search, args=(pg_url, start, results)) for _ in range(2)]
    for p in procs:
        p.start()
    start.set()
    outcomes = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert outcomes == [(2, expected)] * 2
    with psycopg.connect(pg_url, autocommit=True) as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM plg_schema_migrations ORDER BY version")]
    assert versions == [1, 2]
