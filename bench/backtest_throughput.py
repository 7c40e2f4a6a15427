"""Backtest throughput against the loopback server, beside a bare async HTTP loop timed in the same run.

For each history size (default 1,000 and 4,000 rows; concurrency 32; 0.5 s latency; server in its own process):
- bare loop: an httpx AsyncClient posting the same number of chat completions, same concurrency, no litellm;
- rows phase: `run_backtest` in this process with litellm imported (target >= 0.95 of the bare loop's
  throughput) and CPU per model call (target <= 3 ms);
- whole command: a fresh `plg backtest` process on a fresh repository (target <= bare + litellm's import + 0.5 s).
Also checks that a second backtest of the same version is reused from git notes with no model call.

Usage: python bench/backtest_throughput.py [--rows 1000,4000] [--latency 0.5] [--concurrency 32] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from baselines import bare_loop, ensure_bytecode, litellm_cpu_per_call, litellm_import, load, median, spread  # noqa: E402
from loopback_process import LoopbackProcess  # noqa: E402

from tests.loopback_llm import API_KEY  # noqa: E402

PROMPT = "---\nmodel: openai/fake-model\ninputs:\n  topic: string\n---\nuser:\nTell me about {{ topic }}.\n"
GIT_ENV = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@x"}


def make_repo(rows: int) -> Path:
    repo = Path(tempfile.mkdtemp(prefix="plg-bench-backtest-"))
    env = {**os.environ, **GIT_ENV}
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / "prompts").mkdir()
    (repo / "prompts/topic.prompt").write_text(PROMPT)
    (repo / "evals/history").mkdir(parents=True)
    with (repo / "evals/history/topic.jsonl").open("w") as handle:
        for i in range(rows):
            row = {"input_variables": {"topic": f"topic {i}"}, "output": f"All about topic {i}."}
            handle.write(json.dumps(row) + "\n")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "bench"], cwd=repo, check=True, env=env)
    return repo


def state_env(repo: Path) -> dict[str, str]:
    return {"PLG_DIR": str(repo / ".plg"), "PLG_RUNS": str(repo / ".plg/runs"), "PLG_CACHE": str(repo / ".plg/cache.db")}


def in_process(repo: Path, concurrency: int) -> tuple[float, float, bool]:
    from plg.gate.decision import run_backtest
    from plg.registry.versions import Registry

    os.environ.update(state_env(repo))
    registry = Registry(repo)
    candidate = registry.latest("topic")
    cpu = time.process_time()
    started = time.perf_counter()
    report, reused = run_backtest(
        registry, candidate, repo / "evals/history/topic.jsonl", concurrency=concurrency, use_cache=False
    )
    elapsed = time.perf_counter() - started
    assert report.errors == 0, report
    return elapsed, time.process_time() - cpu, reused


def whole_command(rows: int, concurrency: int) -> float:
    repo = make_repo(rows)
    env = {**os.environ, **state_env(repo), **GIT_ENV}
    started = time.perf_counter()
    subprocess.run(["plg", "backtest", "topic", "-j", str(concurrency)], cwd=repo, env=env, check=True,
                   capture_output=True)
    elapsed = time.perf_counter() - started
    shutil.rmtree(repo, ignore_errors=True)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="1000,4000")
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    ensure_bytecode()
    print(load())
    os.environ.update(GIT_ENV)
    with LoopbackProcess(args.latency) as server:
        os.environ["OPENAI_API_KEY"] = API_KEY
        os.environ["OPENAI_API_BASE"] = server.base_url
        imports = [litellm_import() for _ in range(args.repeats)]
        print(f"litellm import alone: {spread(imports)}")
        from plg.llm.provider import ModelClient, litellm_module

        litellm_module()
        ModelClient().complete("openai/fake-model", [{"role": "user", "content": "warm up"}])
        for rows in (int(n) for n in args.rows.split(",") if n):
            bare, phase, cpu_ms, whole, alone = [], [], [], [], []
            for _ in range(args.repeats):
                bare.append(bare_loop(server.base_url, API_KEY, rows, args.concurrency))
                alone.append(litellm_cpu_per_call(server.base_url, rows, args.concurrency))
                repo = make_repo(rows)
                server.reset()
                elapsed, cpu, reused = in_process(repo, args.concurrency)
                calls = server.chat_count()
                assert calls == rows and not reused, (calls, reused)
                phase.append(elapsed)
                cpu_ms.append(cpu / rows * 1000)
                _, _, reused_again = in_process(repo, args.concurrency)
                assert reused_again and server.chat_count() == calls, "a second backtest must reuse the notes"
                shutil.rmtree(repo, ignore_errors=True)
                whole.append(whole_command(rows, args.concurrency))
            b, p, w, i = median(bare), median(phase), median(whole), median(imports)
            budget = b + i + 0.5
            print(f"\nbacktest {rows} rows, latency {args.latency} s, concurrency {args.concurrency} "
                  f"(latency ideal {rows * args.latency / args.concurrency:.2f} s); second backtest reused from notes")
            print(f"  bare httpx loop       : {spread(bare)}  {rows / b:6.1f} rows/s")
            print(f"  plg backtest rows     : {spread(phase)}  {rows / p:6.1f} rows/s = {b / p:.2f} of the bare loop"
                  f"  (target >= 0.95: {'met' if b / p >= 0.95 else 'MISSED'})")
            print(f"  CPU per model call    : {median(cpu_ms):.2f} ms (target <= 3 ms: "
                  f"{'met' if median(cpu_ms) <= 3 else 'MISSED'}); litellm alone {median(alone):.2f} ms per call, "
                  f"so plg adds {median(cpu_ms) - median(alone):.2f} ms = {median(cpu_ms) / median(alone):.2f}x litellm's own")
            print(f"  whole `plg backtest`  : {spread(whole)}; budget bare + import + 0.5 = {budget:.2f} s "
                  f"({'met' if w <= budget else 'MISSED'}, {w - budget:+.2f} s)")
    print(load())


if __name__ == "__main__":
    main()
