"""Sharded evals: wall time of N shard processes plus the merge against one unsharded process, and merge speed.

1. ROWS rows against the loopback OpenAI-compatible server with LATENCY s per call, at CONCURRENCY calls
   in flight per process: `plg eval` whole, then N `plg eval --shard I/N` processes at once followed by
   `plg runs merge`. Printed: both wall times, the speed-up and its ratio to the ideal N, the rows each
   shard got, and that the merged score equals the unsharded one. Each process pays plg's start-up
   (litellm's import), as each CI runner would.
2. MERGE_ROWS rows on the offline model split in N shards: `merge` alone (read, check, order, write,
   summarise) against reading the unsharded run file once, timed in the same run.

Each figure is the median of --repeat runs (the machine is shared and noisy).

Usage: python bench/shards.py [--rows 400] [--latency 0.2] [--concurrency 8] [--shards 4]
                              [--merge-rows 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.eval_throughput import make_repo  # noqa: E402
from tests import loopback_llm  # noqa: E402
from tests.loopback_llm import API_KEY, LoopbackLLM  # noqa: E402

# N processes open CONCURRENCY connections each at once: the test server's default listen backlog (5)
# would drop connections and time the kernel's retransmits instead of plg.
loopback_llm._Server.request_queue_size = 256


def plg(repo: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "plg"), *args], cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> dict:  # type: ignore[type-arg]
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"plg failed ({proc.returncode}): {err.strip()}")
    return json.loads(out)


def wall_times(repo: Path, server: LoopbackLLM, shards: int) -> tuple[float, float, float, list[int], bool]:
    env = {
        **os.environ,
        "OPENAI_API_KEY": API_KEY,
        "OPENAI_API_BASE": server.base_url,
        "PLG_DIR": str(repo / ".plg"),
        "PLG_RUNS": str(repo / ".plg/runs"),
        "PLG_CACHE": str(repo / ".plg/cache.db"),
    }
    started = time.perf_counter()
    whole = finish(plg(repo, env, "eval", "topic", "--no-cache", "--json"))
    whole_s = time.perf_counter() - started
    started = time.perf_counter()
    procs = [plg(repo, env, "eval", "topic", "--no-cache", "--json", "--shard", f"{i}/{shards}") for i in
             range(1, shards + 1)]
    parts = [finish(p) for p in procs]
    shards_s = time.perf_counter() - started
    started = time.perf_counter()
    merged = finish(plg(repo, env, "runs", "merge", *(p["run_id"] for p in parts), "--json"))
    merge_s = time.perf_counter() - started
    sizes = [p["summary"][0]["rows"] for p in parts]
    same = merged["summary"][0]["score"] == whole["summary"][0]["score"]
    return whole_s, shards_s, merge_s, sizes, same


def merge_speed(rows: int, shards: int) -> tuple[float, float]:
    from plg.evals.plan import EvalRequest
    from plg.evals.runs import latest_rows
    from plg.evals.session import RunOptions, run_eval
    from plg.evals.shards import merge, read_shard
    from plg.registry.versions import Registry

    repo = make_repo(rows, "plg/offline", 64)
    os.environ["PLG_DIR"] = str(repo / ".plg")
    os.environ["PLG_RUNS"] = str(repo / ".plg/runs")
    os.environ["PLG_CACHE"] = str(repo / ".plg/cache.db")
    registry = Registry(repo)
    request = EvalRequest(spec="topic")
    from plg.evals.shards import Shard

    paths = []
    for i in range(1, shards + 1):
        outcome = run_eval(registry, request, RunOptions(use_cache=False, shard=Shard(i, shards)))
        assert outcome.result is not None
        paths.append(outcome.result.path)
    runs_dir = paths[0].parent
    started = time.perf_counter()
    result = merge([read_shard(p) for p in paths], runs_dir, f"merged-{time.time_ns()}", "bench")
    merge_s = time.perf_counter() - started
    assert result.summaries[0].rows == rows
    started = time.perf_counter()
    _, read = latest_rows(result.path)
    read_s = time.perf_counter() - started
    assert len(read) == rows
    return merge_s, read_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--merge-rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    whole, sharded, merging, same_all = [], [], [], True
    sizes: list[int] = []
    with LoopbackLLM(latency=args.latency) as server:
        for _ in range(args.repeat):
            repo = make_repo(args.rows, "openai/fake-model", args.concurrency)
            w, s, m, sizes, same = wall_times(repo, server, args.shards)
            whole.append(w)
            sharded.append(s)
            merging.append(m)
            same_all = same_all and same
    w, s, m = statistics.median(whole), statistics.median(sharded), statistics.median(merging)
    ideal_calls = args.rows * args.latency / args.concurrency
    speedup = w / (s + m)
    print(f"{args.rows} rows, {args.latency} s per call, concurrency {args.concurrency} per process")
    print(f"  unsharded eval:            {w:6.2f} s (model time alone would be {ideal_calls:.2f} s)")
    print(f"  {args.shards} shards at once:          {s:6.2f} s (rows per shard {sizes})")
    print(f"  merge:                     {m:6.2f} s")
    print(f"  speed-up {speedup:.2f}x; {speedup / args.shards:.2f} of the ideal {args.shards}x; "
          f"merged score equals unsharded: {same_all}")

    merges, reads = [], []
    for _ in range(args.repeat):
        ms, rs = merge_speed(args.merge_rows, args.shards)
        merges.append(ms)
        reads.append(rs)
    ms, rs = statistics.median(merges), statistics.median(reads)
    print(f"merge of {args.merge_rows} offline rows from {args.shards} shards: {ms:.2f} s "
          f"({args.merge_rows / ms:,.0f} rows/s), {ms / rs:.1f}x the time to read the merged run once ({rs:.2f} s)")


if __name__ == "__main__":
    main()
