"""How the registry scales, as whole-process medians beside baselines timed in the same run.

Targets (issue #17): on a small repository (one prompt) `plg show NAME@LABEL` and `plg list` <= 5x
`python -c pass`; with 200 prompts x 2,000 commits, `plg list` <= 3x and `plg log NAME` <= 2x
`git log --oneline -- FILE`. Cold figures (no .plg caches) are printed for information.
Usage: python bench/registry_scale.py [--prompts 200] [--commits 2000] [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from baselines import ensure_bytecode  # noqa: E402

PROMPT = """---
model: plg/offline
description: prompt {i}
inputs:
  topic: string
---
system:
You are assistant number {i}, revision {rev}.
user:
Tell me about {{{{ topic }}}}.
"""


def build_repo(path: Path, prompts: int, commits: int) -> None:
    """fast-import writes 5,000 commits in about a second; a commit loop would take minutes."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    stream: list[bytes] = []
    revisions = [0] * prompts
    for n in range(commits):
        i = n % prompts if n < prompts else (n * 7919) % prompts
        revisions[i] += 1
        data = PROMPT.format(i=i, rev=revisions[i]).encode()
        stream.append(b"commit refs/heads/main\n")
        stream.append(b"committer Bench <bench@example.com> %d +0000\n" % (1_700_000_000 + n))
        msg = f"edit prompt-{i:03d} rev {revisions[i]}".encode()
        stream.append(b"data %d\n%s\n" % (len(msg), msg))
        stream.append(b"M 100644 inline prompts/prompt-%03d.prompt\ndata %d\n%s\n" % (i, len(data), data))
    subprocess.run(["git", "fast-import", "--quiet"], cwd=path, input=b"".join(stream), check=True)
    subprocess.run(["git", "checkout", "-q", "-f", "main"], cwd=path, check=True)


def median_seconds(cmd: list[str], cwd: Path, runs: int) -> float:
    return interleaved({"cmd": cmd}, cwd, runs)["cmd"]


def interleaved(cmds: dict[str, list[str]], cwd: Path, runs: int) -> dict[str, float]:
    """Median seconds of each command, run in turn rather than one after another, so that a machine
    slowing down or speeding up mid-bench moves a figure and its baseline together."""
    samples: dict[str, list[float]] = {label: [] for label in cmds}
    for _ in range(runs):
        for label, cmd in cmds.items():
            start = time.perf_counter()
            subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
            samples[label].append(time.perf_counter() - start)
    return {label: statistics.median(times) for label, times in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    ensure_bytecode()
    plg = shutil.which("plg") or sys.exit("plg is not installed (pip install -e .)")
    workdir = Path(tempfile.mkdtemp(prefix="plg-bench-"))
    env_git = {
        "GIT_AUTHOR_NAME": "Bench",
        "GIT_AUTHOR_EMAIL": "b@example.com",
        "GIT_COMMITTER_NAME": "Bench",
        "GIT_COMMITTER_EMAIL": "b@example.com",
    }
    os.environ.update(env_git)
    try:
        repo = workdir / "repo"
        start = time.perf_counter()
        build_repo(repo, args.prompts, args.commits)
        print(f"built {args.prompts} prompts / {args.commits} commits in {time.perf_counter() - start:.1f} s")
        name = "prompt-007"
        subprocess.run(
            [plg, "promote", name, "--label", "production", "--force", "--reason", "bench"],
            cwd=repo,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        cold = {}
        for label, cmd in ((f"plg log {name}", [plg, "log", name]),
                           (f"plg show {name}@production", [plg, "show", f"{name}@production"])):
            shutil.rmtree(repo / ".plg", ignore_errors=True)
            cold[label] = median_seconds(cmd, repo, 1)
        base_label = "git log --oneline -- FILE (baseline)"
        figures = interleaved(
            {
                base_label: ["git", "log", "--oneline", "--", f"prompts/{name}.prompt"],
                "plg list": [plg, "list"],
                f"plg log {name}": [plg, "log", name],
                f"plg show {name}@production": [plg, "show", f"{name}@production"],
                "python -c pass (interpreter floor)": [sys.executable, "-c", "pass"],
            },
            repo,
            args.runs,
        )
        baseline = figures.pop(base_label)
        print(f"{'git log --oneline -- FILE (baseline)':40s} {baseline * 1000:8.1f} ms")
        for label, seconds in figures.items():
            print(f"{label:40s} {seconds * 1000:8.1f} ms   {seconds / baseline:5.1f}x baseline")
        for label, seconds in cold.items():
            print(f"{label + ' (cold: no version cache)':40s} {seconds * 1000:8.1f} ms   {seconds / baseline:5.1f}x baseline")
        listed, log = figures["plg list"], figures[f"plg log {name}"]
        print(f"target list <= 3x git log: {'met' if listed <= 3 * baseline else 'MISSED'} ({listed / baseline:.2f}x)")
        print(f"target log <= 2x git log: {'met' if log <= 2 * baseline else 'MISSED'} ({log / baseline:.2f}x)")
        small = workdir / "small"
        build_repo(small, 1, 3)
        subprocess.run([plg, "promote", "prompt-000", "--label", "production", "--force", "--reason", "bench"],
                       cwd=small, check=True, stdout=subprocess.DEVNULL)
        small_figures = interleaved(
            {
                "floor": [sys.executable, "-c", "pass"],
                "plg show prompt-000@production": [plg, "show", "prompt-000@production"],
                "plg list": [plg, "list"],
            },
            small,
            args.runs,
        )
        floor = small_figures.pop("floor")
        for label, seconds in small_figures.items():
            print(f"small repo: {label:32s} {seconds * 1000:7.1f} ms = {seconds / floor:4.1f}x python -c pass "
                  f"({floor * 1000:.1f} ms; target <= 5x: {'met' if seconds <= 5 * floor else 'MISSED'})")
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
