"""What the terminal comparison views cost beside reading the run file they show, timed in the same run.

For a run of N dataset rows x 2 models (outputs of ~120 words, one word changed in every other row of the
second run):
- read: `latest_rows` of the run file, the floor every view of a run pays;
- grid: `run_grid` (the cells) and the rich table drawn at 120 columns (`plg runs show RUN --grid`);
- diff: `diff_runs` of the two runs, then the shortened word diff of every changed output (`plg runs diff`).
Each figure is the median of --repeats, with its ratio to the read.

Usage: python bench/compare_views.py [--rows 2000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from plg.cli.terminal import echo_grid  # noqa: E402
from plg.evals.compare import DIFF_CHARS, diff_runs, marked, shorten  # noqa: E402
from plg.evals.grid import run_grid  # noqa: E402
from plg.evals.runs import RowRecord, RunHeader, RunWriter, ScoreRecord, latest_rows  # noqa: E402

MODELS = ("openai/model-a", "openai/model-b")


def write_run(path: Path, rows: int, changed: bool) -> None:
    header = RunHeader(
        run_id=path.stem, kind="eval", name="topic", prompt="topic", version=1, commit=None, blob=None,
        datasets=("topics.csv",), dataset_hashes=("x",), pipeline=None, pipeline_hash=None, models=MODELS,
        scorers=("contains",), repeats=1, started="2026-01-01T00:00:00+00:00", who="bench", identity="x",
        pass_at=(1.0,),
    )
    writer = RunWriter(path, header)
    for index in range(rows):
        for model in MODELS:
            words = [f"word{(index + i) % 97}" for i in range(120)]
            if changed and index % 2 == 0:
                words[60] = "CHANGED"
            passed = index % 3 != 0
            writer.append(
                RowRecord(
                    row_index=index, row_id=str(index), model=model, repeat=0, variables={"topic": f"t{index}"},
                    messages=None, output=" ".join(words), error=None, latency_s=0.5, prompt_tokens=10,
                    completion_tokens=120, cost=None, cached=False, attempts=1,
                    scores=(ScoreRecord("contains", 1.0 if passed else 0.0, passed),),
                    score=1.0 if passed else 0.0, passed=passed,
                )
            )
    writer.close()


def timed(repeats: int, work: Callable[[], object]) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="plg-bench-compare-"))
    a, b = folder / "a.jsonl", folder / "b.jsonl"
    write_run(a, args.rows, changed=False)
    write_run(b, args.rows, changed=True)

    def grid() -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            echo_grid(run_grid(b))

    def diff() -> None:
        result = diff_runs(a, b)
        for row in result.rows:
            if row.output_changed:
                marked(shorten(row.word_diff(), DIFF_CHARS))

    read = timed(args.repeats, lambda: latest_rows(b))
    both = timed(args.repeats, lambda: (latest_rows(a), latest_rows(b)))
    cells = timed(args.repeats, lambda: run_grid(b))
    drawn = timed(args.repeats, grid)
    diffed = timed(args.repeats, diff)
    print(f"{args.rows} rows x {len(MODELS)} models, median of {args.repeats}")
    print(f"read one run            {read * 1000:8.1f} ms  1.00x")
    print(f"grid cells (run_grid)   {cells * 1000:8.1f} ms  {cells / read:.2f}x the read")
    print(f"grid drawn (rich, 120)  {drawn * 1000:8.1f} ms  {drawn / read:.2f}x the read")
    print(f"read both runs          {both * 1000:8.1f} ms  1.00x")
    print(f"diff + word diffs       {diffed * 1000:8.1f} ms  {diffed / both:.2f}x reading both ({args.rows} changed outputs)")


if __name__ == "__main__":
    main()
