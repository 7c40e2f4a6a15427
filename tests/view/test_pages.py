"""The viewer's data layer without a browser: run files read a page at a time through the offset index,
filters over large runs, and the history write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plg.errors import BadInput
from plg.evals.runs import RowRecord, RunHeader, RunWriter, ScoreRecord
from plg.runtime.history import iter_history
from plg.runtime.logstore import RequestRecord
from plg.view.logs import write_history
from plg.view.runindex import build_index
from plg.view.runpages import PAGE_ROWS, GridFilters, grid_page

HEADER = RunHeader(
    run_id="r1", kind="eval", name="p", prompt="p", version=1, commit=None, blob=None, datasets=(),
    dataset_hashes=(), pipeline=None, pipeline_hash=None, models=("m-b", "m-a"), scorers=("contains",),
    repeats=1, started="2026-11-20T10:00:00+00:00", who="t", identity="x",
)


def _row(i: int, model: str, output: str | None = None, passed: bool = True, error: str | None = None) -> RowRecord:
    score = None if error else (1.0 if passed else 0.0)
    return RowRecord(
        row_index=i, row_id=f"id-{i}", model=model, repeat=0, variables={"q": f"question {i}"},
        messages=None, output=None if error else (output or f"answer {i} by {model}"), error=error,
        latency_s=0.1, prompt_tokens=1, completion_tokens=1, cost=None, cached=False, attempts=1,
        scores=() if error else (ScoreRecord("contains", score, passed),), score=score,
        passed=None if error else passed,
    )


def test_pages_read_the_right_rows_last_write_wins_and_a_torn_line_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "r1.jsonl"
    writer = RunWriter(path, HEADER)
    for i in reversed(range(120)):  # finished out of order, as a concurrent run writes them
        for model in ("m-a", "m-b"):
            writer.append(_row(i, model))
    writer.append(_row(7, "m-a", output='regraded "answer" é'))
    writer.close()
    with path.open("a") as handle:
        handle.write('{"row_index": 500, "row_id": "torn", "model": "m-a", "rep')
    index = build_index(path)
    assert len(index.rows) == 120 and index.columns == (("m-b", 0), ("m-a", 0))
    second = grid_page(index, PAGE_ROWS)
    assert [r.index for r in second.rows] == list(range(50, 100)) and second.next_start == 100
    assert [c.record.output for c in second.rows[0].cells] == ["answer 50 by m-b", "answer 50 by m-a"]
    first = grid_page(index, 0)
    assert first.rows[7].cells[1].record.output == 'regraded "answer" é'
    assert grid_page(index, 100).next_start is None


def test_filters_find_failing_rows_and_text_across_the_run(tmp_path: Path) -> None:
    path = tmp_path / "r1.jsonl"
    writer = RunWriter(path, HEADER)
    for i in range(3000):
        writer.append(_row(i, "m-a", passed=i % 500 != 3))
        writer.append(_row(i, "m-b", error="Timeout" if i == 2999 else None, output=f'say "hi" {i}'))
    writer.close()
    index = build_index(path)
    failing = grid_page(index, 0, GridFilters(failing=True))
    assert [r.index for r in failing.rows] == [3, 503, 1003, 1503, 2003, 2503, 2999]
    text = grid_page(index, 0, GridFilters(text='SAY "HI" 1234'))
    assert [r.index for r in text.rows] == [1234]
    with pytest.raises(BadInput):
        grid_page(index, 0, GridFilters(scorer="nope"))


def _request(i: int, error: str | None = None) -> RequestRecord:
    return RequestRecord.new(
        id=f"req{i:04d}", prompt_name="cake", version=1, input_variables={"cake_type": f"k{i}"},
        output=None if error else f"out {i}", error=error, model="m", latency_s=0.1,
    )


def test_history_write_appends_skips_duplicates_and_failures(tmp_path: Path) -> None:
    first = write_history(tmp_path, "cake", [_request(1), _request(2), _request(3, error="boom")])
    assert (first.path, first.written, first.skipped_failed) == ("evals/history/cake.jsonl", 2, 1)
    second = write_history(tmp_path, "cake", [_request(2), _request(4)])
    assert (second.written, second.already_there) == (1, 1)
    rows = list(iter_history(tmp_path / "evals/history/cake.jsonl"))
    assert [r.request_id for r in rows] == ["req0001", "req0002", "req0004"]
    assert json.loads((tmp_path / "evals/history/cake.jsonl").read_text().splitlines()[0])["output"] == "out 1"


@pytest.mark.parametrize("name", ["../escape", "/etc/x", "a/../../b", "", "x\ny"])
def test_history_names_cannot_leave_evals_history(tmp_path: Path, name: str) -> None:
    with pytest.raises(BadInput, match="not a dataset name"):
        write_history(tmp_path, name, [_request(1)])
    assert not any(tmp_path.rglob("*.jsonl"))


def test_the_cli_does_not_load_the_web_stack_until_serving() -> None:
    import subprocess
    import sys

    code = "import sys, plg.cli; print(sorted(m for m in ('starlette', 'uvicorn') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
