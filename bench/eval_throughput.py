"""Eval engine throughput.

1. 1,000 rows at concurrency 32 against the loopback OpenAI-compatible server with 0.5 s latency, reported
   as achieved rows/s over the ideal (rows x latency / concurrency), next to a naive litellm loop measured
   in the same run (asyncio.gather over litellm.acompletion under a semaphore). Target >= 0.9 of ideal.
2. 100,000 rows on the offline model: rows/s and peak RSS (target < 300 MB).

Usage: python bench/eval_throughput.py [--rows 1000] [--latency 0.5] [--concurrency 32] [--offline-rows 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.loopback_llm import API_KEY, LoopbackLLM  # noqa: E402

PROMPT = "---\nmodel: plg/offline\ninputs:\n  topic: string\n---\nuser:\nTell me about {{ topic }}.\n"


def make_repo(rows: int, model: str, concurrency: int) -> Path:
    repo = Path(tempfile.mkdtemp(prefix="plg-bench-eval-"))
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@x",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@x",
    }
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / "prompts").mkdir()
    (repo / "prompts/topic.prompt").write_text(PROMPT)
    (repo / "evals").mkdir()
    with (repo / "evals/topics.csv").open("w") as handle:
        handle.write("topic\n")
        for i in range(rows):
            handle.write(f"topic number {i}\n")
    (repo / "evals/topic.yaml").write_text(
        f"prompt: topic\ndataset: topics.csv\nmodels: [{model}]\nconcurrency: {concurrency}\n"
        "scorers:\n  - type: contains\n    value: '{{ topic }}'\n"
    )
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "bench"], cwd=repo, check=True, env=env)
    return repo


def run_engine(repo: Path, concurrency: int) -> float:
    from plg.evals.plan import EvalRequest
    from plg.evals.session import RunOptions, run_eval
    from plg.registry.versions import Registry

    os.environ["PLG_DIR"] = str(repo / ".plg")
    os.environ["PLG_RUNS"] = str(repo / ".plg/runs")
    os.environ["PLG_CACHE"] = str(repo / ".plg/cache.db")
    started = time.perf_counter()
    outcome = run_eval(
        Registry(repo), EvalRequest(spec="topic", concurrency=concurrency), RunOptions(use_cache=False)
    )
    elapsed = time.perf_counter() - started
    assert outcome.result is not None and sum(s.errors for s in outcome.result.summaries) == 0
    return elapsed


def naive_loop(rows: int, concurrency: int) -> float:
    from plg.llm.provider import litellm_module

    litellm = litellm_module()

    async def main() -> None:
        slots = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with slots:
                await litellm.acompletion(
                    model="openai/fake-model",
                    messages=[{"role": "user", "content": f"t {i}"}],
                    api_base=os.environ["OPENAI_API_BASE"],
                    timeout=60,
                )

        await asyncio.gather(*(one(i) for i in range(rows)))

    started = time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--offline-rows", type=int, default=100_000)
    args = parser.parse_args()
    ideal = args.rows * args.latency / args.concurrency
    with LoopbackLLM(latency=args.latency) as server:
        os.environ["OPENAI_API_KEY"] = API_KEY
        os.environ["OPENAI_API_BASE"] = server.base_url
        from plg.llm.provider import litellm_module

        litellm_module()  # import cost is not throughput
        naive = naive_loop(args.rows, args.concurrency)
        server.reset()
        repo = make_repo(args.rows, "openai/fake-model", args.concurrency)
        engine = run_engine(repo, args.concurrency)
        calls = server.chat_count()
    print(
        f"loopback: {args.rows} rows, latency {args.latency} s, concurrency {args.concurrency}; ideal {ideal:.2f} s"
    )
    print(
        f"  naive litellm loop : {naive:6.2f} s  {args.rows / naive:6.1f} rows/s  {ideal / naive:.2f} of ideal"
    )
    print(
        f"  plg eval engine    : {engine:6.2f} s  {args.rows / engine:6.1f} rows/s  {ideal / engine:.2f} of ideal"
        f"  ({calls} HTTP calls)"
    )
    print(f"  target >= 0.90 of ideal: {'met' if ideal / engine >= 0.9 else 'MISSED'}")
    if args.offline_rows:
        repo = make_repo(args.offline_rows, "plg/offline", 64)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        elapsed = run_engine(repo, 64)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"offline: {args.offline_rows} rows in {elapsed:.1f} s = {args.offline_rows / elapsed:,.0f} rows/s; "
            f"peak RSS {peak:.0f} MB (was {before:.0f} MB before the run; target < 300 MB)"
        )


if __name__ == "__main__":
    main()
