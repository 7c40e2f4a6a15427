"""Backtest throughput: 1,000 history rows at concurrency 32 against the loopback server with 0.5 s latency,
reported as achieved rows/s over the ideal (rows x latency / concurrency). Target >= 0.9 of ideal.
Also checks that a second backtest of the same version is reused from git notes with no model call.

Usage: python bench/backtest_throughput.py [--rows 1000] [--latency 0.5] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.loopback_llm import API_KEY, LoopbackLLM  # noqa: E402

PROMPT = "---\nmodel: openai/fake-model\ninputs:\n  topic: string\n---\nuser:\nTell me about {{ topic }}.\n"


def make_repo(rows: int) -> Path:
    repo = Path(tempfile.mkdtemp(prefix="plg-bench-backtest-"))
    for key, value in {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "b",
                       "GIT_COMMITTER_EMAIL": "b@x"}.items():
        os.environ[key] = value
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / "prompts").mkdir()
    (repo / "prompts/topic.prompt").write_text(PROMPT)
    (repo / "evals/history").mkdir(parents=True)
    with (repo / "evals/history/topic.jsonl").open("w") as handle:
        for i in range(rows):
            handle.write(json.dumps({"input_variables": {"topic": f"topic {i}"}, "output": f"All about topic {i}."}) + "\n")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "bench"], cwd=repo, check=True)
    os.environ["PLG_DIR"] = str(repo / ".plg")
    os.environ["PLG_RUNS"] = str(repo / ".plg/runs")
    os.environ["PLG_CACHE"] = str(repo / ".plg/cache.db")
    return repo


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    from plg.gate.decision import run_backtest
    from plg.llm.provider import litellm_module
    from plg.registry.versions import Registry

    repo = make_repo(args.rows)
    ideal = args.rows * args.latency / args.concurrency
    with LoopbackLLM(latency=args.latency) as server:
        os.environ["OPENAI_API_KEY"] = API_KEY
        os.environ["OPENAI_API_BASE"] = server.base_url
        litellm_module()
        from plg.llm.provider import ModelClient

        warm = time.perf_counter()
        ModelClient().complete("openai/fake-model", [{"role": "user", "content": "warm up"}])
        print(f"first call (litellm's lazy provider imports, session set-up): {time.perf_counter() - warm:.2f} s")
        server.reset()
        registry = Registry(repo)
        candidate = registry.latest("topic")
        start = time.perf_counter()
        report, reused = run_backtest(registry, candidate, repo / "evals/history/topic.jsonl",
                                      concurrency=args.concurrency, use_cache=False)
        elapsed = time.perf_counter() - start
        calls = server.chat_count()
        again, reused_again = run_backtest(Registry(repo), candidate, repo / "evals/history/topic.jsonl",
                                           concurrency=args.concurrency, use_cache=False)
    print(f"backtest: {args.rows} rows, latency {args.latency} s, concurrency {args.concurrency}; ideal {ideal:.2f} s")
    print(f"  {elapsed:.2f} s = {args.rows / elapsed:.1f} rows/s = {ideal / elapsed:.2f} of ideal ({calls} HTTP calls, "
          f"{report.errors} errors, similarity mean {report.similarity_mean:.3f})")
    print(f"  target >= 0.90 of ideal: {'met' if ideal / elapsed >= 0.9 else 'MISSED'}")
    print(f"  second backtest of the same version reused from notes: {reused_again} "
          f"({server.chat_count() - calls} more calls)")


if __name__ == "__main__":
    main()
