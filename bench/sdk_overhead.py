"""Runtime SDK overhead.

1. `run` overhead beyond the model call itself: offline model, label resolution cached; median per call
   of run() minus the median of the bare model call measured in the same run (target <= 0.3 ms), for a
   local checkout, a followed remote (file://, label cached), `PromptLayer.run` (same request path,
   PromptLayer's response shape) and a bundle; again with `Client(enable_tracing=True)`, alone (the request
   and its spans in one transaction) and inside a `@client.traceable` function (a second transaction for
   that function's span when it ends).
2. Label propagation: a promote pushed to the remote, timed until a running client (label_ttl=1) serves
   it (target <= label_ttl + 1 s).
3. Logging throughput from one process: single committed inserts per second (target >= 2,000/s).
4. `plg logs --search` over N logged requests, whole process (target <= 1 s at 1,000,000).

Usage: python bench/sdk_overhead.py [--calls 2000] [--inserts 20000] [--rows 1000000]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROMPT = (
    "---\nmodel: plg/offline\ninputs:\n  cake_type: string\n---\nsystem:\nYou are a pastry chef.\n"
    "user:\nA recipe for a {{ cake_type }} cake.\n"
)
WORDS = (
    "lemon carrot sugar flour butter eggs bake oven whisk fold cream icing sponge chocolate vanilla almond "
    "refund invoice charged twice login password export csv empty file broken account billing"
).split()


def git(repo: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@x",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@x",
    }
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def bench_run_overhead(workdir: Path, calls: int) -> None:
    repo = workdir / "app"
    (repo / "prompts").mkdir(parents=True)
    (repo / "prompts/cake.prompt").write_text(PROMPT)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    os.environ["GIT_COMMITTER_NAME"] = os.environ["GIT_AUTHOR_NAME"] = "b"
    os.environ["GIT_COMMITTER_EMAIL"] = os.environ["GIT_AUTHOR_EMAIL"] = "b@x"
    from plg.gate.promotion import promote
    from plg.registry.versions import Registry

    promote(Registry(repo), "cake", "production", gated=False)
    remote = workdir / "remote.git"
    git(workdir, "clone", "-q", "--bare", str(repo), str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "refs/tags/*:refs/tags/*")
    from plg import Client, PromptLayer
    from plg.runtime.bundle import build_bundle, write_bundle

    write_bundle(build_bundle(Registry(repo), "production"), workdir / "prompts.lock.json")
    cases = [
        ("local checkout", lambda log, t: Client(repo, log=log, label_ttl=60, enable_tracing=t)),
        ("remote (file://)", lambda log, t: Client(remote.as_uri(), log=log, label_ttl=60, enable_tracing=t)),
        ("bundle", lambda log, t: Client(bundle=workdir / "prompts.lock.json", log=log, enable_tracing=t)),
        ("PromptLayer.run, local", lambda log, t: PromptLayer(repo=repo, log=log, cache_ttl_seconds=60, enable_tracing=t)),
    ]
    for i, (name, make) in enumerate(cases):
        measure_run(name, make(workdir / f"requests-{i}.db", False), calls, False)
    measure_run("local checkout", cases[0][1](workdir / "requests-traced.db", True), calls, True, handler=False)
    measure_run("local checkout", cases[0][1](workdir / "requests-handled.db", True), calls, True)
    bench_propagation(repo, remote)


def bench_propagation(repo: Path, remote: Path, moves: int = 5, ttl: float = 1.0) -> None:
    from plg import Client
    from plg.gate.promotion import promote
    from plg.registry.versions import Registry

    (repo / "prompts/cake.prompt").write_text(PROMPT.replace("pastry chef", "baker"))
    git(repo, "commit", "-qam", "v2")
    git(repo, "push", "-q", "origin", "HEAD")
    client = Client(remote.as_uri(), label_ttl=ttl)
    samples = []
    for i in range(moves):
        target = 2 if i % 2 == 0 else 1
        promote(Registry(repo), f"cake@{target}", "production", gated=False, remote="origin")
        start = time.perf_counter()
        while client.get_prompt("cake", "production").version != target:
            time.sleep(0.002)
        samples.append(time.perf_counter() - start)
    client.close()
    median, worst = statistics.median(samples), max(samples)
    print(
        f"label move pushed to the remote -> served by a running client (label_ttl={ttl:g} s): median {median:.2f} s, "
        f"max {worst:.2f} s over {moves} moves (target <= {ttl + 1:g} s: {'met' if worst <= ttl + 1 else 'MISSED'})"
    )


def measure_run(name: str, client, calls: int, tracing: bool, handler: bool = True) -> None:  # type: ignore[no-untyped-def]
    from plg.llm.provider import ModelClient

    model = ModelClient()

    def call(i: int) -> None:
        client.run(
            "cake",
            input_variables={"cake_type": f"k{i}"},
            prompt_release_label="production",
            tags=["bench"],
            metadata={"i": str(i)},
        )

    request = client.traceable(name="handler")(call) if tracing and handler else call

    messages = [
        {"role": "system", "content": "You are a pastry chef."},
        {"role": "user", "content": "A recipe."},
    ]
    call(-1)
    run_times, bare_times = [], []
    for i in range(calls):
        start = time.perf_counter()
        request(i)
        run_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        model.complete(
            "plg/offline", [messages[0], {"role": "user", "content": f"A recipe for a k{i} cake."}]
        )
        bare_times.append(time.perf_counter() - start)
    run_ms, bare_ms = statistics.median(run_times) * 1000, statistics.median(bare_times) * 1000
    overhead = run_ms - bare_ms
    print(
        f"{name}{(', traced, in a @traceable handler' if handler else ', traced, run alone') if tracing else ''}: run median {run_ms:.3f} ms, bare offline model call {bare_ms:.3f} ms "
        f"-> overhead {overhead:.3f} ms = {overhead / 0.3:.2f}x the 0.3 ms target "
        f"({'met' if overhead <= 0.3 else 'MISSED'}); p95 run {sorted(run_times)[int(calls * 0.95)] * 1000:.3f} ms"
    )
    client.close()


def bench_inserts(workdir: Path, count: int) -> None:
    from plg.log.store import RequestRecord, SQLiteLogStore

    store = SQLiteLogStore(workdir / "inserts.db")
    records = [fake_record(i) for i in range(count)]
    start = time.perf_counter()
    for record in records:
        store.insert(record)
    rate = count / (time.perf_counter() - start)
    print(
        f"logging: {count} single committed inserts at {rate:,.0f} requests/s (target >= 2,000: "
        f"{'met' if rate >= 2000 else 'MISSED'})"
    )
    del RequestRecord


def fake_record(i: int, rng: random.Random | None = None):  # type: ignore[no-untyped-def]
    from plg.log.store import RequestRecord

    rng = rng or random.Random(i)
    text = " ".join(rng.choice(WORDS) for _ in range(60))
    return RequestRecord.new(
        time=time.time() - rng.random() * 30 * 86400,
        prompt_name=f"prompt-{i % 20}",
        version=1 + i % 5,
        model="plg/offline",
        input_variables={"cake_type": rng.choice(WORDS), "n": i},
        messages=[{"role": "system", "content": "You are helpful."}, {"role": "user", "content": text[:200]}],
        output=text + (" zanzibar" if i % 100_000 == 7 else ""),
        latency_s=0.3,
        tags=["web" if i % 2 else "api"],
        metadata={"user": f"u{i % 1000}"},
    )


def bench_search(workdir: Path, rows: int) -> None:
    from plg.log.store import SQLiteLogStore

    path = workdir / "big.db"
    store = SQLiteLogStore(path)
    start = time.perf_counter()
    rng = random.Random(1)
    batch = []
    for i in range(rows):
        batch.append(fake_record(i, rng))
        if len(batch) == 20_000:
            store.insert_many(batch)
            batch = []
    if batch:
        store.insert_many(batch)
    store.close()
    print(
        f"built a log of {rows:,} requests in {time.perf_counter() - start:.0f} s ({path.stat().st_size / 1e6:.0f} MB)"
    )
    plg = shutil.which("plg") or "plg"
    for args in (
        ["--search", "zanzibar"],
        ["--search", "charged twice"],
        ["--prompt", "prompt-3", "--since", "7d", "--tag", "web"],
    ):
        samples = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run(
                [plg, "logs", "--log", str(path), *args, "--limit", "20"],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            samples.append(time.perf_counter() - start)
        best = statistics.median(samples)
        verdict = f" (target <= 1 s: {'met' if best <= 1 else 'MISSED'})" if args[0] == "--search" else ""
        print(f"plg logs {' '.join(args)}: {best:.3f} s whole process, median of 3{verdict}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--inserts", type=int, default=20_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="plg-bench-sdk-"))
    try:
        bench_run_overhead(workdir, args.calls)
        bench_inserts(workdir, args.inserts)
        if args.rows:
            bench_search(workdir, args.rows)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
