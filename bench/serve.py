"""`plg serve` speed: templates.get by label (median and p99 per request, one keep-alive client), requests/s
from 16 concurrent clients, and track-request rows/s into SQLite with every row checked afterwards.

The server runs as users start it (`plg serve`, its own process, 127.0.0.1). Latency is the client's
round trip over a kept-alive connection, so it bounds the time spent at the server from above. Targets:
median <= 2 ms, p99 <= 10 ms, >= 1,000 requests/s, >= 1,000 rows/s with nothing lost.

Usage: python bench/serve.py [--requests 2000] [--clients 16] [--seconds 5]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.promptlayer.serving import KEY, plg_serve  # noqa: E402

PROMPT = "---\nmodel: openai/fake-model\ninputs:\n  topic: string\n---\nuser:\nTell me about {{ topic }}.\n"
GIT_ENV = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@x"}
HEADERS = {"Content-Type": "application/json", "X-API-KEY": KEY}


def make_repo() -> Path:
    repo = Path(tempfile.mkdtemp(prefix="plg-bench-serve-"))
    env = {**os.environ, **GIT_ENV}

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    (repo / "prompts").mkdir()
    (repo / "prompts" / "bench.prompt").write_text(PROMPT)
    git("add", "-A")
    git("commit", "-qm", "bench prompt")
    from plg.gate.promotion import promote
    from plg.registry.versions import Registry

    promote(Registry(repo), "bench@1", "prod", gated=False)  # a label plg wrote: the only kind it serves
    return repo


def _post(conn: http.client.HTTPConnection, path: str, body: dict, expect: int = 200) -> dict:
    conn.request("POST", path, json.dumps(body), HEADERS)
    response = conn.getresponse()
    data = response.read()
    if response.status != expect:
        raise SystemExit(f"{path}: HTTP {response.status}: {data[:200]!r}")
    return json.loads(data)


def latency(port: int, requests: int) -> tuple[float, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    body = {"label": "prod"}
    for _ in range(50):
        _post(conn, "/prompt-templates/bench", body)
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        _post(conn, "/prompt-templates/bench", body)
        times.append(time.perf_counter() - started)
    times.sort()
    return times[len(times) // 2] * 1000, times[int(len(times) * 0.99)] * 1000


def concurrent(port: int, clients: int, seconds: float, path: str, body_of) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    counts = [0] * clients
    stop = time.monotonic() + seconds
    start_gate = threading.Barrier(clients + 1)

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port)
        start_gate.wait()
        while time.monotonic() < stop:
            _post(conn, path, body_of(i, counts[i]))
            counts[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    start_gate.wait()
    began = time.monotonic()
    for t in threads:
        t.join()
    return sum(counts), time.monotonic() - began


def track_body(i: int, n: int) -> dict:
    return {"function_name": "openai.chat.completions.create", "provider_type": "openai",
            "kwargs": {"model": "fake-model", "messages": [{"role": "user", "content": f"c{i} r{n}"}]},
            "request_response": {"choices": [{"message": {"role": "assistant", "content": "ok"}}],
                                 "usage": {"prompt_tokens": 3, "completion_tokens": 1}},
            "request_start_time": time.time() - 0.1, "request_end_time": time.time(),
            "tags": [f"bench-{i}"], "metadata": {"n": str(n)}, "prompt_input_variables": {"topic": str(n)}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    repo = make_repo()
    log = repo / "served.db"
    with plg_serve("--repo", str(repo), log=log, cwd=repo) as served:
        median, p99 = latency(served.port, args.requests)
        done, elapsed = concurrent(served.port, args.clients, args.seconds, "/prompt-templates/bench",
                                   lambda i, n: {"label": "prod"})
        rps = done / elapsed
        rows, row_elapsed = concurrent(served.port, args.clients, args.seconds, "/track-request", track_body)
        rows_per_s = rows / row_elapsed
    from plg.log.sqlite_log import SQLiteLogStore

    store = SQLiteLogStore(log)
    stored = store._conn.execute("SELECT count(*) FROM requests").fetchone()[0]
    store.close()
    lost = rows - stored
    print(f"templates.get by label, one client: median {median:.2f} ms (target <= 2 ms: {median / 2:.2f}x), "
          f"p99 {p99:.2f} ms (target <= 10 ms: {p99 / 10:.2f}x)")
    print(f"templates.get by label, {args.clients} clients: {rps:,.0f} requests/s "
          f"(target >= 1,000: {rps / 1000:.2f}x)")
    print(f"track-request, {args.clients} clients: {rows_per_s:,.0f} rows/s into SQLite "
          f"(target >= 1,000: {rows_per_s / 1000:.2f}x); {rows} posted, {stored} stored, {lost} lost")
    if lost:
        raise SystemExit(f"{lost} tracked request(s) missing from the log")


if __name__ == "__main__":
    main()
