"""plg beside promptfoo on the same loopback server, rows, latency and concurrency (whole commands).

When node and npm are present, installs promptfoo 0.120.0 into a scratch directory (never into this
repository), with PROMPTFOO_DISABLE_TELEMETRY=1 and the `node_modules/promptfoo/drizzle -> dist/drizzle`
link it needs, then times `promptfoo eval` and `plg eval` on the same prompt (one user message), dataset
and `contains` assertion. Targets: plg ahead at 1,000 rows; >= 1.3x promptfoo's throughput at 4,000 rows.

Usage: python bench/peer_promptfoo.py [--rows 1000,4000] [--latency 0.5] [--concurrency 32] [--repeats 3]
                                      [--scratch DIR]
"""

from __future__ import annotations

import argparse
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

from baselines import load, median, spread  # noqa: E402
from eval_throughput import make_repo, state_env  # noqa: E402
from loopback_process import LoopbackProcess  # noqa: E402

from tests.loopback_llm import API_KEY  # noqa: E402

VERSION = "0.120.0"
CONFIG = """description: plg peer bench
prompts:
  - "Tell me about {{{{topic}}}}."
providers:
  - id: openai:chat:fake-model
    config:
      apiBaseUrl: {base_url}
      apiKey: {api_key}
defaultTest:
  assert:
    - type: contains
      value: "{{{{topic}}}}"
tests: file://topics.csv
"""


def install(scratch: Path) -> Path:
    binary = scratch / "node_modules/.bin/promptfoo"
    if not binary.exists():
        scratch.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", f"promptfoo@{VERSION}"],
                       cwd=scratch, check=True)
    binding = scratch / "node_modules/better-sqlite3/build/Release/better_sqlite3.node"
    if not binding.exists():  # no prebuilt binary reachable: build it against the system's node headers
        nodedir = ["--nodedir=/usr"] if Path("/usr/include/node/node.h").exists() else []
        subprocess.run(["npm", "rebuild", "better-sqlite3", *nodedir], cwd=scratch, check=True)
    link = scratch / "node_modules/promptfoo/drizzle"
    if not link.exists():
        link.symlink_to("dist/drizzle")
    return binary


def promptfoo_env(scratch: Path) -> dict[str, str]:
    home = scratch / "home"
    home.mkdir(exist_ok=True)
    return {**os.environ, "PROMPTFOO_DISABLE_TELEMETRY": "1", "PROMPTFOO_DISABLE_UPDATE": "1",
            "PROMPTFOO_CONFIG_DIR": str(home), "PROMPTFOO_CACHE_ENABLED": "false"}


def run_promptfoo(binary: Path, scratch: Path, work: Path, concurrency: int) -> float:
    """Whole-command seconds. promptfoo 0.120 may exit 1 after finishing (its file logger writes after
    end at shutdown); a run counts when it reports "Evaluation complete" with no failures or errors."""
    started = time.perf_counter()
    done = subprocess.run(
        [str(binary), "eval", "-c", "promptfooconfig.yaml", "--max-concurrency", str(concurrency), "--no-cache",
         "--no-table", "--no-progress-bar", "-o", "out.json"],
        cwd=work, env=promptfoo_env(scratch), capture_output=True, text=True,
    )
    elapsed = time.perf_counter() - started
    if "Evaluation complete" not in done.stdout or "Failures: 0" not in done.stdout or "Errors: 0" not in done.stdout:
        raise SystemExit(f"promptfoo failed (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return elapsed


def run_plg(repo: Path) -> float:
    shutil.rmtree(repo / ".plg", ignore_errors=True)
    started = time.perf_counter()
    subprocess.run(["plg", "eval", "topic", "--no-cache"], cwd=repo, env={**os.environ, **state_env(repo)},
                   check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="1000,4000")
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "plg-peer-promptfoo")
    args = parser.parse_args()
    if not (shutil.which("node") and shutil.which("npm")):
        print("node/npm not found: skipping the promptfoo comparison")
        return
    binary = install(args.scratch)
    print(load())
    with LoopbackProcess(args.latency) as server:
        os.environ["OPENAI_API_KEY"] = API_KEY
        os.environ["OPENAI_API_BASE"] = server.base_url
        for rows in (int(n) for n in args.rows.split(",") if n):
            work = Path(tempfile.mkdtemp(prefix="plg-peer-"))
            (work / "promptfooconfig.yaml").write_text(CONFIG.format(base_url=server.base_url, api_key=API_KEY))
            (work / "topics.csv").write_text("topic\n" + "".join(f"topic number {i}\n" for i in range(rows)))
            repo = make_repo(rows, "openai/fake-model", args.concurrency)
            theirs, ours = [], []
            for _ in range(args.repeats):
                server.reset()
                theirs.append(run_promptfoo(binary, args.scratch, work, args.concurrency))
                assert server.chat_count() >= rows, f"promptfoo made {server.chat_count()} calls for {rows} rows"
                server.reset()
                ours.append(run_plg(repo))
                assert server.chat_count() == rows, f"plg made {server.chat_count()} calls for {rows} rows"
            t, o = median(theirs), median(ours)
            target = 1.0 if rows < 4000 else 1.3
            print(f"\n{rows} rows, latency {args.latency} s, concurrency {args.concurrency}")
            print(f"  promptfoo {VERSION}: {spread(theirs)}")
            print(f"  plg eval        : {spread(ours)}")
            print(f"  plg throughput = {t / o:.2f}x promptfoo's (target > {target:g}x: {'met' if t / o > target else 'MISSED'})")
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(repo, ignore_errors=True)
    print(load())


if __name__ == "__main__":
    main()
