"""`plg ci` on a repository of 200 prompts where one prompt changed (issue #6).

Target (issue #17): only the changed prompt's rows reach the model (the loopback server counts them), and
the whole command's overhead beyond those calls, apart from litellm's one import, is at most 1 s. The model-call time is the ideal for the rows the
server saw (ceil(rows / concurrency) x latency per version evaluated), measured against wall time of the
real `plg ci` process. litellm's import, paid once by any command that calls a provider, is measured in
the same run and reported beside it.

Usage: python bench/ci_overhead.py [--prompts 200] [--rows 20] [--latency 0.2] [--concurrency 8] [--runs 3]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.loopback_llm import API_KEY, LoopbackLLM  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baselines import ensure_bytecode  # noqa: E402

PROMPT = """---
model: openai/fake-model
description: prompt {i}
inputs:
  topic: string
---
system:
You are assistant number {i}{extra}.
user:
Tell me about {{{{ topic }}}}.
"""

PIPELINE = """prompt: prompt-{i:03d}
dataset: datasets/topics.csv
concurrency: {concurrency}
scorers:
  - type: contains
    value: "{{{{ topic }}}}"
threshold:
  min_score: 0.0
"""


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def build(repo: Path, prompts: int, rows: int, concurrency: int) -> tuple[str, str]:
    git(repo.parent, "init", "-q", "-b", "main", str(repo))
    (repo / "prompts").mkdir()
    (repo / "evals/datasets").mkdir(parents=True)
    (repo / "evals/datasets/topics.csv").write_text(
        "topic\n" + "\n".join(f"topic {r}" for r in range(rows)) + "\n"
    )
    for i in range(prompts):
        (repo / f"prompts/prompt-{i:03d}.prompt").write_text(PROMPT.format(i=i, extra=""))
        (repo / f"evals/prompt-{i:03d}.yaml").write_text(PIPELINE.format(i=i, concurrency=concurrency))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "200 prompts")
    base = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True
    ).stdout.strip()
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "prompts/prompt-042.prompt").write_text(PROMPT.format(i=42, extra=", and you are concise"))
    git(repo, "commit", "-qam", "tweak prompt-042")
    return base, "feature"


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    ensure_bytecode()
    plg = shutil.which("plg") or sys.exit("plg is not installed (pip install -e .)")
    workdir = Path(tempfile.mkdtemp(prefix="plg-bench-ci-"))
    ident = {
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@x",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@x",
    }
    os.environ.update(ident)
    try:
        repo = workdir / "repo"
        base, _ = build(repo, args.prompts, args.rows, args.concurrency)
        litellm_import = statistics.median(
            timed([sys.executable, "-c", "import litellm"], repo, dict(os.environ)) for _ in range(args.runs)
        )
        floor = statistics.median(
            timed([sys.executable, "-c", "pass"], repo, dict(os.environ)) for _ in range(args.runs)
        )
        with LoopbackLLM(latency=args.latency) as server:
            samples, calls, other = [], [], []
            for run in range(args.runs):
                state = workdir / f"state-{run}"
                env = {
                    **os.environ,
                    "OPENAI_API_KEY": API_KEY,
                    "OPENAI_API_BASE": server.base_url,
                    "PLG_DIR": str(state),
                    "PLG_RUNS": str(state / "runs"),
                    "PLG_CACHE": str(state / "cache.db"),
                }
                subprocess.run(["git", "update-ref", "-d", "refs/notes/plg"], cwd=repo, check=False)
                server.reset()
                samples.append(timed([plg, "ci", "--base", base, "--no-notes", "--no-gate"], repo, env))
                calls.append(server.chat_count())
                other.append(
                    sum(1 for r in server.requests if "assistant number 42" not in str(r.get("messages")))
                )
            server.reset()
            reused = timed([plg, "ci", "--base", base, "--no-notes", "--no-gate"], repo, env)
            reused_calls = server.chat_count()
            subprocess.run(["git", "update-ref", "-d", "refs/notes/plg"], cwd=repo, check=False)
            offline = timed(
                [plg, "ci", "--base", base, "--no-notes", "--no-gate", "--model", "plg/offline"], repo, env
            )
        wall = statistics.median(samples)
        versions = 2  # the head version and the base version are both evaluated
        ideal_calls = versions * math.ceil(args.rows / args.concurrency) * args.latency
        overhead = wall - ideal_calls
        print(
            f"{args.prompts} prompts, 1 changed, {args.rows} rows, latency {args.latency} s, concurrency {args.concurrency}"
        )
        print(
            f"model calls seen by the server: {calls} (expected {versions * args.rows}); for other prompts: {other}"
        )
        print(f"plg ci wall time (median of {args.runs}):      {wall:6.2f} s")
        print(f"ideal time of those calls:                 {ideal_calls:6.2f} s")
        print(f"overhead beyond the calls:                 {overhead:6.2f} s")
        print(f"  litellm's import alone (same run):       {litellm_import:6.2f} s")
        rest = overhead - litellm_import
        print(
            f"  overhead apart from litellm's import:    {rest:6.2f} s   (target <= 1 s: {'met' if rest <= 1 else 'MISSED'};"
            " negative: the import overlaps git and dataset reads)"
        )
        print(f"  interpreter floor (python -c pass):      {floor:6.2f} s")
        print(f"re-run with both versions recorded:        {reused:6.2f} s, {reused_calls} model calls")
        print(
            f"same change on the built-in offline model: {offline:6.2f} s (plg's own cost: no litellm, no HTTP)"
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
