"""Eval engine throughput against the loopback server, beside a bare async HTTP loop timed in the same run.

For each row count (default 1,000 and 4,000; concurrency 32; 0.5 s latency; the server in its own process):
- bare loop: an httpx AsyncClient posting the same number of chat completions, same concurrency, no litellm;
- rows phase: `run_eval` in this process (litellm already imported), from the first call to the last answer;
  target >= 0.95 of the bare loop's throughput; plus CPU per model call of plg + litellm (target <= 3 ms);
- whole command: a fresh `plg eval` process; target <= bare loop + litellm's import (timed alone) + 0.5 s.
Then the offline engine: rows/s (target >= 6,000), run-file bytes per row (target <= 1 KB), peak RSS.

Usage: python bench/eval_throughput.py [--rows 1000,4000] [--latency 0.5] [--concurrency 32] [--repeats 3]
                                       [--offline-rows 100000]
"""

from __future__ import annotations

import argparse
import os
import resource
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

PROMPT = "---\nmodel: plg/offline\ninputs:\n  topic: string\n---\nuser:\nTell me about {{ topic }}.\n"
GIT_ENV = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x", "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@x"}


def make_repo(rows: int, model: str, concurrency: int) -> Path:
    repo = Path(tempfile.mkdtemp(prefix="plg-bench-eval-"))
    env = {**os.environ, **GIT_ENV}
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / "prompts").mkdir()
    (repo / "prompts/topic.prompt").write_text(PROMPT.replace("plg/offline", model))  # the served model
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


def state_env(repo: Path) -> dict[str, str]:
    return {"PLG_DIR": str(repo / ".plg"), "PLG_RUNS": str(repo / ".plg/runs"), "PLG_CACHE": str(repo / ".plg/cache.db")}


def run_engine(repo: Path, concurrency: int) -> tuple[float, float, float]:
    """(whole run_eval seconds, rows phase seconds: first call to last answer, CPU seconds)."""
    from plg.evals.plan import EvalRequest
    from plg.evals.session import RunOptions, run_eval
    from plg.registry.versions import Registry

    os.environ.update(state_env(repo))
    marks: dict[str, float] = {}

    def on_start(_: object) -> None:
        marks["first"] = time.perf_counter()

    def on_row(_: object) -> None:
        marks["last"] = time.perf_counter()

    cpu = time.process_time()
    started = time.perf_counter()
    outcome = run_eval(
        Registry(repo), EvalRequest(spec="topic", concurrency=concurrency), RunOptions(use_cache=False),
        on_row=on_row, on_start=on_start,
    )
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    assert outcome.result is not None and sum(s.errors for s in outcome.result.summaries) == 0
    return elapsed, marks["last"] - marks["first"], cpu


def whole_command(repo: Path) -> float:
    env = {**os.environ, **state_env(repo)}
    shutil.rmtree(repo / ".plg", ignore_errors=True)
    started = time.perf_counter()
    subprocess.run(["plg", "eval", "topic", "--no-cache"], cwd=repo, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def loopback(args: argparse.Namespace) -> None:
    sizes = [int(n) for n in args.rows.split(",") if n]
    with LoopbackProcess(args.latency) as server:
        os.environ["OPENAI_API_KEY"] = API_KEY
        os.environ["OPENAI_API_BASE"] = server.base_url
        imports = [litellm_import() for _ in range(args.repeats)]
        from plg.llm.provider import litellm_module

        litellm_module()  # the rows phase is measured with litellm imported; its import is timed alone
        from plg.llm.provider import ModelClient

        ModelClient().complete("openai/fake-model", [{"role": "user", "content": "warm up"}])  # lazy provider set-up
        print(f"litellm import alone: {spread(imports)}")
        for rows in sizes:
            repo = make_repo(rows, "openai/fake-model", args.concurrency)
            bare, phase, cpu_ms, whole, alone = [], [], [], [], []
            for _ in range(args.repeats):
                bare.append(bare_loop(server.base_url, API_KEY, rows, args.concurrency))
                alone.append(litellm_cpu_per_call(server.base_url, rows, args.concurrency))
                shutil.rmtree(repo / ".plg", ignore_errors=True)
                server.reset()
                _, rows_phase, cpu = run_engine(repo, args.concurrency)
                assert server.chat_count() == rows, server.chat_count()
                phase.append(rows_phase)
                cpu_ms.append(cpu / rows * 1000)
                whole.append(whole_command(repo))
            ideal = rows * args.latency / args.concurrency
            b, p, w, i = median(bare), median(phase), median(whole), median(imports)
            budget = b + i + 0.5
            print(f"\n{rows} rows, latency {args.latency} s, concurrency {args.concurrency} (latency ideal {ideal:.2f} s)")
            print(f"  bare httpx loop       : {spread(bare)}  {rows / b:6.1f} rows/s")
            print(f"  plg rows phase        : {spread(phase)}  {rows / p:6.1f} rows/s = {b / p:.2f} of the bare loop"
                  f"  (target >= 0.95: {'met' if b / p >= 0.95 else 'MISSED'})")
            print(f"  CPU per model call    : {median(cpu_ms):.2f} ms (plg + litellm; target <= 3 ms: "
                  f"{'met' if median(cpu_ms) <= 3 else 'MISSED'}); litellm alone {median(alone):.2f} ms per call, "
                  f"so plg adds {median(cpu_ms) - median(alone):.2f} ms = {median(cpu_ms) / median(alone):.2f}x litellm's own")
            print(f"  whole `plg eval`      : {spread(whole)}; budget bare + import + 0.5 = {budget:.2f} s "
                  f"({'met' if w <= budget else 'MISSED'}, {w - budget:+.2f} s)")
            shutil.rmtree(repo, ignore_errors=True)


def offline(rows: int) -> None:
    repo = make_repo(rows, "plg/offline", 64)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    elapsed, _, cpu = run_engine(repo, 64)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    run_file = next((repo / ".plg/runs").glob("*.jsonl"))
    per_row = run_file.stat().st_size / rows
    print(
        f"\noffline: {rows} rows in {elapsed:.1f} s = {rows / elapsed:,.0f} rows/s (target >= 6,000: "
        f"{'met' if rows / elapsed >= 6000 else 'MISSED'}; {rows / cpu:,.0f} rows per CPU-second); "
        f"run file {per_row:.0f} bytes/row (target <= 1024: {'met' if per_row <= 1024 else 'MISSED'}); "
        f"peak RSS {peak:.0f} MB (was {before:.0f} MB before the run)"
    )
    shutil.rmtree(repo, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="1000,4000", help="comma-separated row counts for the loopback runs")
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--offline-rows", type=int, default=100_000)
    args = parser.parse_args()
    ensure_bytecode()
    print(load())
    if args.rows:
        loopback(args)
    if args.offline_rows:
        offline(args.offline_rows)
    print(load())


if __name__ == "__main__":
    main()
