"""plg view with large data: a page of a 100,000-row run and of a 1,000,000-request log, fetched over HTTP from
the real server (uvicorn on loopback). Target: every page under 1 s. Each figure is the median of --repeat
fetches, with its ratio to the 1 s target and to a baseline timed in the same run: reading the whole run the
way `plg runs show` does (every row parsed), and the log store's own count + LIMIT query without HTTP or HTML.
A filtered run page stops at its time budget; what it says it searched is printed under it, and one filter is
followed page by page to the end of the run (its ratio: to parsing the whole run once).

The cold first page of a run builds its index with one pass over the file; its ratio to the floor (one pass
that only counts lines) shows the cost of indexing beyond reading. The load of a shared machine inflates
every absolute figure alike; compare the ratios.

Usage: python bench/view_pages.py [--rows 100000] [--requests 1000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_run(path: Path, rows: int) -> None:
    from plg.evals.runs import RowRecord, RunHeader, RunWriter, ScoreRecord
    from plg.tracing.spans import new_span_id, new_trace_id

    header = RunHeader(
        run_id=path.stem, kind="eval", name="bench", prompt="bench", version=1, commit=None, blob=None,
        datasets=("d.csv",), dataset_hashes=(), pipeline=None, pipeline_hash=None, models=("m-a", "m-b"),
        scorers=("contains",), repeats=1, started="2026-11-20T10:00:00+00:00", who="bench", identity="x",
    )
    writer = RunWriter(path, header)
    for i in range(rows // 2):
        for model in ("m-a", "m-b"):
            trace, root = new_trace_id(), new_span_id()
            spans = (
                {"trace_id": trace, "span_id": root, "parent_id": None, "name": "workflow.prompt",
                 "start_ns": 1, "end_ns": 900, "attributes": {"row": i}, "status": "ok", "kind": "internal"},
                {"trace_id": trace, "span_id": new_span_id(), "parent_id": root, "name": "llm.call",
                 "start_ns": 2, "end_ns": 800, "attributes": {"model": model}, "status": "ok", "kind": "client"},
            )
            passed = (i * 7 + len(model)) % 10 != 0
            writer.append(RowRecord(
                row_index=i, row_id=str(i), model=model, repeat=0, variables={"topic": f"topic {i}"},
                messages=[{"role": "user", "content": f"Tell me about topic {i}."}],
                output=f"All about topic {i}, as {model} sees it. " * 4, error=None, latency_s=0.5,
                prompt_tokens=10, completion_tokens=40, cost=0.0001, cached=False, attempts=1,
                scores=(ScoreRecord("contains", 1.0 if passed else 0.0, passed, ""),),
                score=1.0 if passed else 0.0, passed=passed, spans=spans,
            ))
    writer.close()


def make_log(path: Path, requests: int) -> None:
    from plg.log.store import RequestRecord, SQLiteLogStore

    store = SQLiteLogStore(path)
    start = time.time() - requests
    batch = []
    for i in range(requests):
        batch.append(RequestRecord.new(
            time=start + i, prompt_name=f"p{i % 20}", version=1 + i % 3, model="m", label="production",
            input_variables={"topic": f"topic {i}"}, messages=[{"role": "user", "content": f"About {i}"}],
            output=f"answer {i} {'lemon' if i % 1000 == 0 else 'plain'}", tags=["web" if i % 2 else "batch"],
            metadata={"user": f"u{i % 100}"}, latency_s=0.1,
        ))
        if len(batch) == 5000:
            store.insert_many(batch)
            batch = []
    if batch:
        store.insert_many(batch)
    store.close()


def fetch_median(url: str, repeat: int) -> tuple[float, str]:
    times, body = [], ""
    for _ in range(repeat):
        start = time.perf_counter()
        with urllib.request.urlopen(url, timeout=60) as response:
            body = response.read().decode()
        times.append(time.perf_counter() - start)
    return statistics.median(times), body


def scan_note(body: str) -> str:
    """What a filtered page says about its search (Partial or not, which rows), tags stripped."""
    found = re.search(r'<p class="scan[^"]*" id="scan">(.*?)</p>', body, re.S)
    return " ".join(re.sub(r"<[^>]+>", "", found.group(1)).split()) if found else ""


def follow(url: str, path: str) -> tuple[float, int, int]:
    """Every page of a filtered grid, following `next` to the end of the run: seconds, pages, matches."""
    start, pages, matches = time.perf_counter(), 0, 0
    while path:
        with urllib.request.urlopen(url + path, timeout=60) as response:
            body = response.read().decode()
        pages += 1
        matches += len(re.findall(r'<td><a href="/run/[^"]+/row/', body))
        link = re.search(r'<a href="([^"]+)" id="next">', body)
        path = html.unescape(link.group(1)) if link else ""
    return time.perf_counter() - start, pages, matches


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000, help="run file lines (rows x models)")
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from plg.evals.runs import latest_rows
    from plg.log.query import LogQuery
    from plg.log.store import SQLiteLogStore
    from plg.view.app import create_app
    from plg.view.site import Site
    from tests.view.browser import serving

    work = Path(tempfile.mkdtemp(prefix="plg-bench-view-"))
    try:
        subprocess.run(["git", "init", "-q", str(work)], check=True)
        runs, log = work / ".plg/runs", work / ".plg/requests.db"
        run = runs / "20261120-100000-bench0.jsonl"
        start = time.perf_counter()
        make_run(run, args.rows)
        print(f"run: {args.rows:,} lines, {run.stat().st_size / 1e6:.0f} MB, written in {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        make_log(log, args.requests)
        print(f"log: {args.requests:,} requests, {log.stat().st_size / 1e6:.0f} MB, written in {time.perf_counter() - start:.1f} s")

        start = time.perf_counter()
        latest_rows(run)
        whole_run = time.perf_counter() - start
        floors = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            with run.open("rb") as handle:
                while chunk := handle.read(1 << 24):
                    chunk.count(b"\n")
            floors.append(time.perf_counter() - start)
        floor = statistics.median(floors)
        store = SQLiteLogStore(log)
        base_times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            store.count(LogQuery())
            store.query(LogQuery(limit=50))
            base_times.append(time.perf_counter() - start)
        store_page = statistics.median(base_times)
        store.close()
        print(f"{'baseline: whole run parsed (plg runs show)':52s} {whole_run * 1000:9.1f} ms")
        print(f"{'floor: one pass over the run file (count lines)':52s} {floor * 1000:9.1f} ms")
        print(f"{'baseline: log count + LIMIT 50 (no HTTP/HTML)':52s} {store_page * 1000:9.1f} ms")

        site = Site.open(work, log, runs)
        with serving(create_app(site)) as url:
            rid = run.stem
            pages = [
                ("run page 1 (cold: index built)", f"/run/{rid}", whole_run, 1),
                ("run page 1", f"/run/{rid}", whole_run, args.repeat),
                ("run rows 40,000-40,050", f"/run/{rid}?start=40000", whole_run, args.repeat),
                ("run failing rows", f"/run/{rid}?failing=1", whole_run, args.repeat),
                ("run text filter (rare match, budgeted scan)", f"/run/{rid}?text=topic+49999", whole_run, args.repeat),
                ("run failing rows by one scorer (no prefilter)", f"/run/{rid}?failing=1&scorer=contains", whole_run, args.repeat),
                ("run row detail", f"/run/{rid}/row/777", whole_run, args.repeat),
                ("log page 1", "/logs", store_page, args.repeat),
                ("log page 10,000 (OFFSET 499,950)", "/logs?page=10000", store_page, args.repeat),
                ("log filter prompt + tag", "/logs?prompt=p7&tags=web", store_page, args.repeat),
                ("log text search", "/logs?search=lemon", store_page, args.repeat),
                ("log metadata", "/logs?meta=user%3Du42", store_page, args.repeat),
            ]
            worst = 0.0
            for label, path, baseline, repeat in pages:
                median, body = fetch_median(url + path, repeat)
                worst = max(worst, median)
                extra = f"   {median / floor:5.2f}x floor" if "cold" in label else ""
                print(f"{label:52s} {median * 1000:9.1f} ms   {median:5.2f}x target   {median / baseline:6.2f}x baseline{extra}")
                if scan_note(body):
                    print(f"{'':52s} page says: {scan_note(body)}")
            print(f"target every page < 1 s: {'met' if worst < 1.0 else 'MISSED'} (worst {worst * 1000:.0f} ms)")
            seconds, count, matches = follow(url, f"/run/{rid}?text=topic+49999")
            label = "run text filter followed to the end of the run"
            print(f"{label:52s} {seconds * 1000:9.1f} ms   {count} pages, {matches} match(es)   "
                  f"{seconds / whole_run:6.2f}x baseline")
        site.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
