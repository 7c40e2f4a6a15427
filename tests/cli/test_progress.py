"""Progress a user sees: lines with the planned total in CI logs, a bar with rate and ETA on a terminal."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys

from tests.conftest import CAKE_V1, GitRepo, run_cli
from tests.evals.test_engine import write_cakes

OFFLINE_PIPELINE = """prompt: cake
dataset: datasets/cakes.csv
models: [plg/offline]
scorers:
  - type: contains
    value: "{{ cake_type }}"
"""


def offline_cake(repo: GitRepo, rows: int) -> GitRepo:
    repo.write("prompts/cake.prompt", CAKE_V1)
    repo.write("evals/cake.yaml", OFFLINE_PIPELINE)
    write_cakes(repo, rows)
    repo.commit("cake")
    return repo


def test_eval_in_a_log_prints_progress_lines_with_the_total(repo: GitRepo) -> None:
    offline_cake(repo, 20)
    result = run_cli("eval", "cake", "--model", "plg/offline", "--model", "plg/offline-b")
    assert result.code == 0, result
    lines = [line for line in result.err.splitlines() if line.startswith("eval cake:")]
    # 20 rows x 2 models: a line for each tenth done, then the final line with the time taken
    assert "eval cake: 4/40 rows, 0 errors" in lines[0]
    assert re.search(r"eval cake: 40/40 rows, 0 errors, [\d.]+ rows/s, done in [\d.]+ s", lines[-1]), lines
    assert len(lines) == 10


def test_batch_and_backtest_report_progress_too(repo: GitRepo) -> None:
    offline_cake(repo, 5)
    batch = run_cli("batch", "cake", "--dataset", "evals/datasets/cakes.csv", "-o", "out.csv")
    assert batch.code == 0, batch
    assert re.search(r"batch cake: 5/5 rows, 0 errors, .* done in", batch.err), batch.err
    history = "".join(
        f'{{"input_variables": {{"cake_type": "{kind}"}}, "output": "A {kind} cake"}}\n'
        for kind in ("lemon", "plum", "fig")
    )
    repo.write("evals/history/cake.jsonl", history)
    repo.commit("history")
    backtest = run_cli("backtest", "cake")
    assert backtest.code == 0, backtest
    assert "backtest cake: 3/3 rows, 0 errors" in backtest.err, backtest.err


def test_a_terminal_gets_a_bar_with_total_rate_eta_and_errors(repo: GitRepo) -> None:
    offline_cake(repo, 6)
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "160", "TERM": "xterm"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "plg.cli", "eval", "cake", "--no-cache"],
        cwd=repo.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    seen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    out, _ = proc.communicate(timeout=60)
    os.close(leader)
    assert proc.returncode == 0, out
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen.decode(errors="replace"))
    assert "eval cake" in text and "6/6" in text and "rows/s" in text and "ETA" in text, text
    assert "0 errors" in text


def test_ctrl_c_mid_eval_records_nothing_and_says_how_to_resume(repo: GitRepo) -> None:
    """Before: the last progress line said `done in ... s` after an interrupted run, and nothing named the
    run to resume."""
    import signal
    import time
    from pathlib import Path

    offline_cake(repo, 12)
    repo.write("evals/slow.py", "import time\n\ndef slow(output, row):\n    time.sleep(0.15)\n    return 1.0\n")
    repo.write(
        "evals/cake.yaml",
        OFFLINE_PIPELINE.replace("models: [plg/offline]\n", "concurrency: 1\n")
        + "  - type: python\n    function: slow.py:slow\nthreshold: {min_score: 0.5}\n",
    )
    repo.commit("a slow scorer")
    runs = Path(os.environ["PLG_RUNS"])
    cmd = [sys.executable, "-m", "plg.cli", "eval", "cake", "--record"]
    # A job a non-interactive shell starts in the background inherits SIGINT ignored (POSIX), and so would
    # this eval: give it the terminal's default, as a user pressing Ctrl-C has it.
    proc = subprocess.Popen(
        cmd,
        cwd=repo.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        files = list(runs.glob("*.jsonl")) if runs.is_dir() else []
        if files and len(files[0].read_text().splitlines()) >= 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)

    assert proc.returncode == 130, err
    run_id = next(runs.glob("*.jsonl")).stem
    assert "stopped after" in err and f"continue with --resume {run_id}" in err, err
    assert "done in" not in err
    assert repo.git("notes", "--ref=plg", "list") == "", "an interrupted eval recorded a score"
    finished = len((runs / f"{run_id}.jsonl").read_text().splitlines()) - 1
    assert 2 <= finished < 12

    resumed = subprocess.run([*cmd, "--resume", run_id], cwd=repo.path, capture_output=True, text=True)

    assert resumed.returncode == 0, resumed.stderr
    assert f"{12 - finished} rows run, {finished} reused" in resumed.stdout, resumed.stdout
    assert repo.git("notes", "--ref=plg", "list") != ""
