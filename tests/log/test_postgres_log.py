"""The request log on a real PostgreSQL server: the SDK, the CLI, the background writer and its spill file,
copying an existing log, and many processes writing through a server restart."""

from __future__ import annotations

import json
import multiprocessing
import socket
import threading
import time
from pathlib import Path

import pytest

from plg import Client
from plg.errors import LogUnavailable
from plg.gate.promotion import promote
from plg.log.query import LogQuery
from plg.log.store import RequestRecord, SQLiteLogStore
from plg.registry.versions import Registry
from plg.tracing.spans import Span
from tests.conftest import CAKE_V1, GitRepo, run_cli
from tests.pg_server import PgServer


@pytest.fixture
def app_repo(repo: GitRepo) -> GitRepo:
    repo.write_prompt("cake", CAKE_V1)
    promote(Registry(repo.path), "cake@1", "production", gated=False)
    return repo


def _store(url: str):  # type: ignore[no-untyped-def]
    from plg.log.postgres_log import PostgresLogStore

    return PostgresLogStore(url)


def _unreachable_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"postgresql://postgres@127.0.0.1:{port}/nowhere"


def test_migrations_are_numbered_recorded_and_applied_once_by_racing_processes(pg_url: str) -> None:
    from plg.log.postgres_log import MIGRATIONS

    stores = [_store(pg_url) for _ in range(4)]
    versions: list[int] = []
    threads = [threading.Thread(target=lambda s=s: versions.append(s.schema_version())) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert versions == [len(MIGRATIONS)] * 4, "racing first opens must all see the migrated schema"
    import psycopg

    with psycopg.connect(pg_url) as conn:
        recorded = [v for (v,) in conn.execute("SELECT version FROM plg_schema_migrations ORDER BY version")]
    assert recorded == [v for v, _ in MIGRATIONS]
    for s in stores:
        s.close()


def test_sdk_and_every_logs_command_on_postgres(
    app_repo: GitRepo, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = Client(app_repo.path, log=pg_url, enable_tracing=True)
    first = client.run(
        "cake",
        {"cake_type": "lemon"},
        prompt_release_label="production",
        tags=["web"],
        metadata={"user": "ada"},
    )["request_id"]
    client.run("cake", {"cake_type": "carrot"}, tags=["api"])
    assert client.track.score(first, 85) and client.track.metadata(first, {"session": "s1"})
    assert client.log.get(first).scores == {"default": 85}
    client.log.close()

    log = ("--log", pg_url)
    listed = json.loads(run_cli("logs", *log, "--tag", "web", "--json").out)
    assert [r["request_id"] for r in listed] == [first]
    assert listed[0]["metadata"] == {"user": "ada", "session": "s1"} and listed[0]["scores"] == {
        "default": 85
    }
    assert [
        r["input_variables"] for r in json.loads(run_cli("logs", *log, "--search", "carr", "--json").out)
    ] == [{"cake_type": "carrot"}]
    assert (
        len(json.loads(run_cli("logs", *log, "--meta", "user=ada", "--min-score", "50", "--json").out)) == 1
    )
    shown = run_cli("logs", "show", first[:10], *log)
    assert shown.code == 0 and "lemon" in shown.out and "session" in shown.out
    traced = run_cli("logs", "show", first, "--trace", *log)
    assert traced.code == 0 and "plg.run" in traced.out and "prompt.render" in traced.out
    out = tmp_path / "history.jsonl"
    exported = run_cli("logs", "export", *log, "--prompt", "cake", "--since", "1d", "-o", str(out))
    assert exported.code == 0 and "exported 2" in exported.err
    assert len(out.read_text().splitlines()) == 2

    monkeypatch.setenv("PLG_LOG", pg_url)  # the environment names the database for the SDK and the CLI
    second = Client(app_repo.path)
    second.run("cake", {"cake_type": "plum"}, tags=["env"])
    second.log.close()
    assert [r["input_variables"] for r in json.loads(run_cli("logs", "--tag", "env", "--json").out)] == [
        {"cake_type": "plum"}
    ]
    assert "3 of" not in run_cli("logs").out and run_cli("logs", "--limit", "1").out.count("(1 of 3 shown")
    assert run_cli("logs", "show", "nope").code == 2


def test_database_down_requests_served_rows_spill_then_sync_exactly_once(
    app_repo: GitRepo, pg_url: str, plg_state_in_tmp: Path
) -> None:
    client = Client(app_repo.path, log=_unreachable_url())
    started = time.perf_counter()
    ids = [client.run("cake", {"cake_type": f"k{i}"}, tags=["down"])["request_id"] for i in range(20)]
    serving = time.perf_counter() - started
    assert serving < 1.0, f"20 requests took {serving:.2f} s with the database down"
    client.track.score(ids[0], 70)  # the row waits in the spill file: the score waits with it
    client.log.flush()
    spill = plg_state_in_tmp / "log-spill.db"
    assert SQLiteLogStore(spill).count(LogQuery(tags=("down",))) == 20

    assert "give --log" in run_cli("logs", "sync", "--log", str(spill)).err
    synced = run_cli("logs", "sync", "--log", pg_url)
    assert synced.code == 0 and "moved 20 request(s)" in synced.out, synced
    assert "moved 0 request(s)" in run_cli("logs", "sync", "--log", pg_url).out
    store = _store(pg_url)
    assert store.count(LogQuery(tags=("down",))) == 20
    assert store.get(ids[0]).scores == {"default": 70}
    assert SQLiteLogStore(spill).count(LogQuery()) == 0
    store.close()
    unreachable = run_cli("logs", "--log", _unreachable_url())
    assert unreachable.code == 3 and "cannot reach the request log" in unreachable.err
    with pytest.raises(LogUnavailable):
        client.track.score("f" * 32, 10)  # a row that is nowhere local while the database is down
    client.log.close()


def test_copy_an_existing_sqlite_log_into_postgres_twice_lands_once(pg_url: str, tmp_path: Path) -> None:
    path = tmp_path / "requests.db"
    local = SQLiteLogStore(path)
    span = Span("a" * 32, "b" * 16, None, "app", 10, 20, {"user.id": "u"}, "ok", None)
    records = [
        RequestRecord.new(
            prompt_name="cake", output=f"answer {i}", tags=["old"], metadata={"n": str(i)}, scores={"q": i}
        )
        for i in range(1200)
    ]
    local.insert_many(records[:-1])
    local.insert(RequestRecord(**{**records[-1].__dict__, "trace_id": "a" * 32, "span_id": "b" * 16}))
    local.insert_spans([span])
    for _ in range(2):
        copied = run_cli("logs", "copy", "--from", str(path), "--to", pg_url)
        assert copied.code == 0 and "copied 1200 request(s) and 1 span(s)" in copied.out, copied
    assert json.loads(run_cli("logs", "--log", pg_url, "--limit", "1200", "--json").out) == json.loads(
        run_cli("logs", "--log", str(path), "--limit", "1200", "--json").out
    )
    store = _store(pg_url)
    assert store.count(LogQuery()) == 1200 and store.trace("a" * 32) == [span]
    store.close()
    assert run_cli("logs", "copy", "--from", str(tmp_path / "missing.db"), "--to", pg_url).code == 2


def _runner(repo: str, url: str, worker: int, count: int) -> None:
    client = Client(repo, log=url)
    for i in range(count):
        client.run("cake", {"cake_type": f"w{worker}-{i}"}, prompt_release_label="production", tags=["load"])


def _run_workers(repo: Path, url: str, processes: int, count: int, middle: object = None) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_runner, args=(str(repo), url, w, count)) for w in range(processes)]
    for p in procs:
        p.start()
    if callable(middle):
        middle()
    for p in procs:
        p.join(240)
    assert [p.exitcode for p in procs] == [0] * processes


def test_eight_processes_of_runs_lose_no_row_through_a_server_restart(
    app_repo: GitRepo, pg_server: PgServer, pg_url: str, plg_state_in_tmp: Path
) -> None:
    """8 processes x 2,000 `run` calls at once; once rows flow, the server stops and starts again.
    Rows written meanwhile wait in the spill file and are moved by the writers or by `plg logs sync`."""
    store = _store(pg_url)

    def restart_once_rows_flow() -> None:
        deadline = time.monotonic() + 60
        while store.count(LogQuery(tags=("load",))) < 2000 and time.monotonic() < deadline:
            time.sleep(0.1)
        pg_server.stop()
        time.sleep(1.5)
        pg_server.start()

    _run_workers(app_repo.path, pg_url, 8, 2000, middle=restart_once_rows_flow)
    spill = plg_state_in_tmp / "log-spill.db"
    assert spill.exists(), "the restart should have sent rows to the spill file"
    before = (store.count(LogQuery(tags=("load",))), SQLiteLogStore(spill).count(LogQuery()))
    synced = run_cli("logs", "sync", "--log", pg_url)
    assert synced.code == 0, synced
    assert store.count(LogQuery(tags=("load",))) == 16000, (before, synced.out)
    assert SQLiteLogStore(spill).count(LogQuery()) == 0
    ids = [r.id for r in store.iter_query(LogQuery(tags=("load",)))]
    assert len(set(ids)) == 16000
    store.close()
