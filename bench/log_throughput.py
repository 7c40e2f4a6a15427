"""The request log: SQLite beside PostgreSQL.

1. Logging throughput, rows/s, SQLite and PostgreSQL side by side, from 1 and 4 processes at once. Each
   process logs through the store the SDK opens (`open_log(..., background=True)`: SQLite commits each
   row on the caller's thread; PostgreSQL queues it for the background writer). The clock stops when the
   last process has its rows committed (PostgreSQL: after its writer's final flush). Target: >= 5,000
   rows/s aggregate on PostgreSQL from 4 processes. Also the time `insert` keeps the caller (the request
   path), median per row.
2. What SIGKILL loses: a process logging as fast as it can is killed with SIGKILL; rows that `insert`
   returned for, minus rows found in PostgreSQL and the spill file. And a normal exit loses none.
3. `plg logs --search` over 1,000,000 rows in PostgreSQL, whole process (target <= 1 s), with the
   metadata/tag filters for comparison. (bench/sdk_overhead.py measures the same on SQLite.)

Starts a throwaway PostgreSQL server with durable settings (fsync on) unless --url is given.
Usage: python bench/log_throughput.py [--rows-per-process 5000] [--repeat 3] [--search-rows 1000000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from sdk_overhead import WORDS, fake_record  # noqa: E402


def _logger(location: str, spill: str, count: int, start: object, done: object) -> None:
    os.environ["PLG_LOG_SPILL"] = spill
    from plg.log.store import open_log

    store = open_log(location, Path(spill).parent, background=True)
    records = [fake_record(os.getpid() * 1_000_003 + i) for i in range(count)]
    start.wait()  # type: ignore[attr-defined]
    caller = time.perf_counter()
    for record in records:
        store.insert(record)
    caller = time.perf_counter() - caller
    if hasattr(store, "flush"):
        store.flush()
    done.put(caller / count)  # type: ignore[attr-defined]


def throughput(location: str, workdir: Path, processes: int, count: int) -> tuple[float, float]:
    ctx = multiprocessing.get_context("spawn")
    start, done = ctx.Event(), ctx.Queue()
    spill = str(workdir / f"spill-{time.monotonic_ns()}.db")
    procs = [
        ctx.Process(target=_logger, args=(location, spill, count, start, done)) for _ in range(processes)
    ]
    for p in procs:
        p.start()
    time.sleep(3)  # imports and record generation, before the clock
    began = time.perf_counter()
    start.set()
    for p in procs:
        p.join()
    wall = time.perf_counter() - began
    per_row = statistics.median(done.get() for _ in procs)
    return processes * count / wall, per_row


def bench_throughput(url: str, workdir: Path, count: int, repeat: int) -> None:
    print(f"logging {count:,} rows per process (median of {repeat}):")
    print(
        f"  {'processes':>9}  {'SQLite rows/s':>14}  {'PostgreSQL rows/s':>18}  {'PG/SQLite':>9}  caller per row SQLite / PG"
    )
    for processes in (1, 4):
        figures = {}
        for name in ("sqlite", "postgres"):
            samples = []
            for n in range(repeat):
                location = str(workdir / f"log-{processes}-{n}.db") if name == "sqlite" else url
                samples.append(throughput(location, workdir, processes, count))
            figures[name] = (
                statistics.median(s[0] for s in samples),
                statistics.median(s[1] for s in samples),
            )
        sqlite, pg = figures["sqlite"], figures["postgres"]
        target = ""
        if processes == 4:
            target = f"  (target >= 5,000 rows/s on PostgreSQL: {'met' if pg[0] >= 5000 else 'MISSED'})"
        print(
            f"  {processes:>9}  {sqlite[0]:>14,.0f}  {pg[0]:>18,.0f}  {pg[0] / sqlite[0]:>8.1f}x"
            f"  {sqlite[1] * 1e3:.3f} ms / {pg[1] * 1e3:.3f} ms{target}"
        )


def _fast_logger(
    url: str, spill: str, returned: object, exit_normally: bool, count: int, pace: float
) -> None:
    os.environ["PLG_LOG_SPILL"] = spill
    from plg.log.store import open_log

    store = open_log(url, Path(spill).parent, background=True)
    began = time.perf_counter()
    for i in range(count):
        if pace:
            time.sleep(max(0.0, began + i / pace - time.perf_counter()))
        store.insert(fake_record(i))
        with returned.get_lock():  # type: ignore[attr-defined]
            returned.value += 1  # type: ignore[attr-defined]
    if not exit_normally:
        time.sleep(3600)


def stored(url: str, spill: Path) -> int:
    from plg.log.postgres_log import PostgresLogStore
    from plg.log.query import LogQuery
    from plg.log.sqlite_log import SQLiteLogStore

    store = PostgresLogStore(url)
    try:
        found = store.count(LogQuery())
    finally:
        store.close()
    return found + (SQLiteLogStore(spill).count(LogQuery()) if spill.exists() else 0)


def bench_sigkill(server: object, workdir: Path, repeat: int) -> None:
    for pace in (1000.0, 0.0):
        bench_sigkill_at(server, workdir, repeat, pace)


def bench_sigkill_at(server: object, workdir: Path, repeat: int, pace: float) -> None:
    ctx = multiprocessing.get_context("spawn")
    losses, rates = [], []
    for n in range(repeat):
        url = server.new_database()  # type: ignore[attr-defined]
        spill = workdir / f"kill-{n}.db"
        returned = ctx.Value("q", 0)
        p = ctx.Process(target=_fast_logger, args=(url, str(spill), returned, False, 10**9, pace))
        p.start()
        while returned.value == 0:
            time.sleep(0.01)
        began, first = time.perf_counter(), returned.value
        time.sleep(2.0)
        os.kill(p.pid, signal.SIGKILL)
        p.join()
        rate = (returned.value - first) / (time.perf_counter() - began)
        losses.append(returned.value - stored(url, spill))
        rates.append(rate)
    lost, rate = statistics.median(losses), statistics.median(rates)
    print(
        f"SIGKILL while logging {'flat out' if not pace else 'at a steady pace'} ({rate:,.0f} rows/s): lost {lost:,.0f} rows median, {max(losses):,} max "
        f"of {repeat} = {lost / rate * 1e3:.0f} ms of logging (rows still queued in memory)"
    )
    if pace:
        return
    url = server.new_database()  # type: ignore[attr-defined]
    spill = workdir / "exit.db"
    returned = ctx.Value("q", 0)
    p = ctx.Process(target=_fast_logger, args=(url, str(spill), returned, True, 20_000, 0.0))
    p.start()
    p.join()
    print(
        f"normal exit right after logging 20,000 rows: lost {returned.value - stored(url, spill)} (atexit drains)"
    )


FILL = """
INSERT INTO plg_requests (id, time, prompt, version, model, params, input_variables, messages, output,
                          latency_s, tags, metadata, scores, search)
SELECT md5(i::text), extract(epoch FROM now()) - mod(i, 2592000), 'prompt-' || mod(i, 20), 1 + mod(i, 5),
       'plg/offline', '{}', json_build_object('cake_type', w[1 + mod(i, 37)], 'n', i),
       json_build_array(json_build_object('role', 'system', 'content', 'You are helpful.'),
                        json_build_object('role', 'user', 'content', left(body, 200))),
       body, 0.3, ARRAY[CASE WHEN mod(i, 2) = 1 THEN 'web' ELSE 'api' END],
       jsonb_build_object('user', 'u' || mod(i, 1000)), '{}', to_tsvector('simple', body)
FROM (
    SELECT i, w, (SELECT string_agg(w[1 + mod(i::bigint * 7919 + g * 104729, 37)], ' ') FROM generate_series(1, 60) g)
                 || CASE WHEN mod(i, 100000) = 7 THEN ' zanzibar' ELSE '' END AS body
    FROM generate_series(%s, %s) i, (SELECT %s::text[] AS w) words
) rows
"""


def bench_search(url: str, rows: int, repeat: int) -> None:
    import psycopg

    from plg.log.postgres_log import PostgresLogStore
    from plg.log.query import LogQuery

    store = PostgresLogStore(url)
    store.count(LogQuery())  # migrate
    store.close()
    words = (WORDS * 2)[:37]
    began = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        for low in range(1, rows + 1, 100_000):
            conn.execute(FILL, (low, min(rows, low + 99_999), words))  # type: ignore[arg-type]
        conn.execute("VACUUM ANALYZE plg_requests")
        size = conn.execute("SELECT pg_total_relation_size('plg_requests')").fetchone()[0]  # type: ignore[index]
    print(
        f"built a PostgreSQL log of {rows:,} requests in {time.perf_counter() - began:.0f} s ({size / 1e6:.0f} MB)"
    )
    plg = shutil.which("plg") or "plg"
    for args in (
        ["--search", "zanzibar"],
        ["--search", "charged twice"],
        ["--search", "lem"],
        ["--meta", "user=u42"],
        ["--prompt", "prompt-3", "--since", "7d", "--tag", "web"],
    ):
        samples = []
        for _ in range(repeat):
            start = time.perf_counter()
            subprocess.run(
                [plg, "logs", "--log", url, *args, "--limit", "20"], check=True, stdout=subprocess.DEVNULL
            )
            samples.append(time.perf_counter() - start)
        best = statistics.median(samples)
        verdict = f" (target <= 1 s: {'met' if best <= 1 else 'MISSED'})" if args[0] == "--search" else ""
        print(f"plg logs --log URL {' '.join(args)}: {best:.3f} s whole process, median of {repeat}{verdict}")
    base = [sys.executable, "-c", "import plg.cli"]
    start = time.perf_counter()
    subprocess.run(base, check=True)
    print(f"  (of which starting Python and importing plg.cli: {time.perf_counter() - start:.3f} s)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", help="An existing PostgreSQL database (default: a throwaway server).")
    parser.add_argument("--rows-per-process", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--search-rows", type=int, default=1_000_000)
    args = parser.parse_args()
    from tests.pg_server import PgServer

    workdir = Path(tempfile.mkdtemp(prefix="plg-bench-log-"))
    server = None if args.url else PgServer(durable=True)
    try:
        url = args.url or server.new_database()  # type: ignore[union-attr]
        bench_throughput(url, workdir, args.rows_per_process, args.repeat)
        if server is not None:
            bench_sigkill(server, workdir, max(args.repeat, 5))
            if args.search_rows:
                bench_search(server.new_database(), args.search_rows, args.repeat)
    finally:
        if server is not None:
            server.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
