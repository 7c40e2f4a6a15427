"""The viewer's data layer without a browser: run files read a page at a time through the offset index,
filters over large runs, and the history write."""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest

from plg import config
from plg.errors import BadInput
from plg.evals.runs import RowRecord, RunHeader, RunWriter, ScoreRecord, latest_rows
from plg.log.history import iter_history
from plg.log.store import RequestRecord
from plg.view.links import Links
from plg.view.logs import write_history
from plg.view.render import render
from plg.view.runindex import RunIndex, build_index
from plg.view.runpages import PAGE_ROWS, GridFilters, grid_page
from plg.view.site import Site
from tests.conftest import GitRepo, run_cli

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

    def all_pages(filters: GridFilters) -> list[int]:
        """A filtered page stops at a time budget; following next_start reaches every match."""
        found, start = [], 0
        while start is not None:
            page = grid_page(index, start, filters)
            found += [r.index for r in page.rows]
            start = page.next_start
        return found

    assert all_pages(GridFilters(failing=True)) == [3, 503, 1003, 1503, 2003, 2503, 2999]
    assert all_pages(GridFilters(text='SAY "HI" 1234')) == [1234]
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


def test_log_pages_count_up_to_a_cap_and_page_past_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from plg.log.store import SQLiteLogStore
    from plg.view import logs

    store = SQLiteLogStore(tmp_path / "log.db")
    store.insert_many([_request(i) for i in range(130)])
    monkeypatch.setattr(logs, "COUNT_CAP", 100)
    first = logs.log_page(store, {}, 1)
    assert (first.total, first.capped, first.has_more, len(first.records)) == (100, True, True, 50)
    last = logs.log_page(store, {}, 3)
    assert (len(last.records), last.has_more, last.page) == (30, False, 3)
    assert [r.id for r in last.records][-1] == "req0000"
    assert (last.total, last.capped, last.pages) == (130, False, 3)  # the last page knows the exact total
    html = render("logs.html", Links(), page=first, csrf="", exported_pages=0)
    assert "more than 100 matching requests · page 1 of 3 or more" in _words(html)
    past = logs.log_page(store, {}, 9)
    assert (past.records, past.has_more) == ((), False)
    assert "page 9 is past the last page" in _words(render("logs.html", Links(), page=past, csrf="", exported_pages=0))
    narrow = logs.log_page(store, {"search": "out 129"}, 1)
    assert (narrow.total, narrow.capped, narrow.has_more) == (1, False, False)
    store.close()


def _pending(i: int, model: str) -> RowRecord:
    """Judged by `contains`, still awaiting a human grade: not failed, not passed."""
    return replace(
        _row(i, model), scores=(ScoreRecord("contains", 1.0, True), ScoreRecord("grade", None, None, pending=True)),
        passed=None,
    )


def _scorer_error(i: int, model: str) -> RowRecord:
    """The model answered; a scorer could not judge it (a judge outage): no error on the row itself."""
    return replace(
        _row(i, model), scores=(ScoreRecord("contains", None, None, error="judge call failed: 503"),),
        score=None, passed=None,
    )


def _all_pages(index: RunIndex, filters: GridFilters) -> list[int]:
    """A filtered page may stop at its time budget; following next_start reaches every match."""
    found: list[int] = []
    start: int | None = 0
    while start is not None:
        page = grid_page(index, start, filters)
        found += [r.index + 1 for r in page.rows]
        start = page.next_start
    return found


def test_failing_rows_are_the_same_in_the_viewer_and_the_cli(repo: GitRepo) -> None:
    """A missing cell, a pending grade and a scorer's error all need attention, in `plg runs show --grid
    --failing` and in the viewer's "failing rows only" alike."""
    runs = config.runs_dir(repo.path)
    header = replace(HEADER, run_id="20261120-100000-abcdef", scorers=("contains", "grade"))
    writer = RunWriter(runs / f"{header.run_id}.jsonl", header)
    for i in range(8):
        for model in ("m-b", "m-a"):
            if (i, model) == (1, "m-b"):
                continue  # never written (the run was interrupted before this cell)
            made = {
                (2, "m-a"): _pending, (3, "m-a"): _scorer_error,
                (4, "m-b"): lambda i, m: _row(i, m, passed=False),
                (6, "m-a"): lambda i, m: _row(i, m, error="RateLimitError"),
            }.get((i, model), _row)
            writer.append(made(i, model))
    writer.close()

    cli = run_cli("runs", "show", header.run_id, "--grid", "--failing")
    assert cli.code == 0, cli
    cli_rows = [int(w[0]) for w in map(str.split, cli.out.splitlines()[2:-1]) if w and w[0].isdigit()]
    index = build_index(runs / f"{header.run_id}.jsonl")
    assert cli.out.rstrip().endswith("5 of 8 rows shown (5 failing)")
    assert cli_rows == _all_pages(index, GridFilters(failing=True)) == [2, 3, 4, 5, 7]

    html, page = Site(repo.path, repo.path / "none.db", runs).run(Links(), header.run_id, 0, GridFilters(failing=True))
    assert [r.index + 1 for r in page.rows] == [2, 3, 4, 5, 7]
    assert 'class="badge missing">missing<' in html and 'class="badge pending">pending<' in html
    assert "to the end of the run" in html and "Partial" not in html


def _words(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", "", html).split())


def test_a_filter_stopped_by_its_time_budget_says_so_and_searches_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from plg.view import runpages

    path = tmp_path / "r1.jsonl"
    writer = RunWriter(path, HEADER)
    for i in range(300):
        for model in ("m-b", "m-a"):
            writer.append(_row(i, model, passed=i not in (3, 150, 299)))
    writer.close()
    monkeypatch.setattr(runpages, "SCAN_SECONDS", 0.0)  # a loaded machine: every page runs out of time
    monkeypatch.setattr(runpages, "SCAN_CHUNK", 100)
    site = Site(tmp_path, tmp_path / "none.db", tmp_path)
    html, page = site.run(Links(), "r1", 0, GridFilters(failing=True))
    assert ([r.index for r in page.rows], page.complete, page.next_start) == ([3], False, 100)
    text = _words(html)
    assert "Partial: searched rows 1–100 of 300 before the time limit; 1 matching row so far." in text
    assert "Rows 101–300 are not searched yet." in text and "search on from row 101 →" in text
    html, page = site.run(Links(), "r1", 200, GridFilters(failing=True))
    assert ([r.index for r in page.rows], page.complete, page.next_start) == ([299], True, None)
    assert "Searched rows 201–300 of 300 (to the end of the run): 1 matching row." in _words(html)


def test_the_index_keeps_rows_in_every_form_a_writer_left(tmp_path: Path) -> None:
    """The fast scan reads RunWriter's lines; a line in another form (an older writer's spacing, keys in
    another order, an event between rows) is parsed in full, never dropped; a torn last line is no row."""
    path = tmp_path / "r1.jsonl"
    writer = RunWriter(path, HEADER)
    for i in range(4):
        writer.append(_row(i, "m-a"))
    writer.append_event({"type": "shard_done", "shard": "1/2", "rows": 4})
    writer.close()
    older = {**_row(4, "m-a", output="older writer").to_json()}
    reordered = {"output": "hand edited", **_row(5, "m-a").to_line()}
    reordered["output"] = "hand edited"
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(older) + "\n" + json.dumps(reordered) + "\n")
    writer = RunWriter(path, None)
    writer.append(_row(6, "m-a"))
    writer.append(_row(2, "m-a", output="regraded"))  # written again: the last line wins
    writer.close()
    with path.open("a") as handle:
        handle.write('{"type":"row","row_index":9,"row_id":"torn","model":"m-a","repeat":0,"var')
    index = build_index(path)
    assert index.rows == (0, 1, 2, 3, 4, 5, 6)
    outputs = [r.cells[1].record.output for r in grid_page(index, 0).rows]
    assert outputs[2] == "regraded" and outputs[4] == "older writer" and outputs[5] == "hand edited"
    assert [c.record for c in grid_page(index, 0).rows[0].cells][0] is None  # m-b: header model, no rows


TRICKY = {
    0: "Temperature in \u212a (kelvin)",  # lower-cases to ASCII "k"
    1: 'She said "HI" twice',
    2: "ΣΟΦΙΑ ΚΑΙ ΛΟΓΟΣ",
    3: "tab\there and a back\\slash",
    4: "plain ascii words",
}


def test_filters_find_what_a_full_parse_finds(tmp_path: Path) -> None:
    """The raw-line prefilter only saves parsing: every search and the per-scorer failing filter give
    exactly the rows a full parse of the run gives."""
    path = tmp_path / "r1.jsonl"
    header = replace(HEADER, scorers=("contains", "grade"))
    writer = RunWriter(path, header)
    for i, output in TRICKY.items():
        writer.append(_row(i, "m-b", output=output))
        writer.append(_row(i, "m-a") if i != 3 else replace(_row(i, "m-a"), scores=()))  # 3: never judged
    writer.close()
    index = build_index(path)
    _, records = latest_rows(path)
    for needle in ("kelvin k", "k (", '"hi"', 'SAID "hi', "σοφια", "λογοσ", "\tHERE", "k\\s", '"q":"question 2', "zzz"):
        expected = sorted(
            i + 1 for (i, _, _), r in records.items()
            if any(needle.lower() in t.lower() for t in (r.output or "", json.dumps(r.variables, ensure_ascii=False, separators=(",", ":"))))
        )
        assert _all_pages(index, GridFilters(text=needle)) == sorted(set(expected)), needle
    judged = _all_pages(index, GridFilters(failing=True, scorer="contains"))
    assert judged == [4] and grid_page(index, 3, GridFilters(scorer="contains")).rows[0].cells[1].status == "missing"


def test_an_unknown_cost_reads_as_a_dash_not_none(repo: GitRepo) -> None:
    """A model litellm has no price for logs cost None: `logs show` and the request page printed 'None'."""
    from plg.log.store import SQLiteLogStore

    log = Path(os.environ["PLG_LOG"])
    unpriced = RequestRecord.new(
        prompt_name="cake", version=1, model="openai/fake-model", input_variables={"cake_type": "lemon"},
        messages=[{"role": "user", "content": "lemon cake"}], output="A lemon cake", latency_s=0.1,
    )
    assert unpriced.cost is None
    store = SQLiteLogStore(log)
    store.write([unpriced], [])
    store.close()

    shown = run_cli("logs", "show", unpriced.id)
    page = Site(repo.path, log, repo.path / "runs").request(Links(), unpriced.id)

    assert shown.code == 0, shown
    assert "cost -" in shown.out and "None" not in shown.out
    assert "cost -" in _words(page) and "None" not in page


def test_a_row_one_strict_scorer_failed_is_not_a_green_cell_and_says_which_scorer(repo: GitRepo) -> None:
    """A row scoring 0.9 that one strict scorer failed was a green cell with a red "fail" badge, with
    nothing saying the row passes only when every scorer does (issue 28)."""
    runs = config.runs_dir(repo.path)
    header = replace(HEADER, run_id="20261120-100000-fedcba", models=("m-a",), scorers=("contains", "exact"))
    writer = RunWriter(runs / f"{header.run_id}.jsonl", header)
    strict = replace(
        _row(0, "m-a"),
        scores=(ScoreRecord("contains", 1.0, True), ScoreRecord("exact", 0.8, False)),
        score=0.9, passed=False,
    )
    writer.append(strict)
    writer.append(_row(1, "m-a"))
    writer.close()

    html, _ = Site(repo.path, repo.path / "none.db", runs).run(Links(), header.run_id, 0, GridFilters())

    cells = re.findall(r'<td class="cell ([^"]*)">', html)
    assert cells[0].split()[0] != "s4" and "fail" in cells[0].split(), cells
    assert cells[1].split() == ["s4"], cells
    assert 'class="badge fail">failed by exact<' in html


def test_a_run_page_heads_its_grid_with_each_models_intervals(repo: GitRepo) -> None:
    """The run page showed rows only: nothing said how sure the run's mean and pass rate are. Ten rows,
    half passing (scores 1, 0): t interval 0.5 -/+ t(0.95, 9) * 0.527/sqrt(10) = [0.19, 0.81], and
    Wilson at z = 1.645 on 5 of 10 gives [27-73%]."""
    runs = config.runs_dir(repo.path)
    header = replace(HEADER, run_id="20261120-100000-a1b2c3", models=("m-a",))
    writer = RunWriter(runs / f"{header.run_id}.jsonl", header)
    for i in range(10):
        writer.append(_row(i, "m-a", passed=i % 2 == 0))
    writer.close()

    html, _ = Site(repo.path, repo.path / "none.db", runs).run(Links(), header.run_id, 0, GridFilters())

    summary = _words(html.split('id="run-summary"', 1)[1].split("</table>", 1)[0])
    assert "m-a 0.50 [0.19, 0.81] 50% [27-73%] 10 0" in summary, summary


def test_a_note_written_before_recorded_bounds_shows_them_from_its_rows(repo: GitRepo) -> None:
    """A line with per-row figures but no `details.intervals` (recorded before they were kept): the viewer
    computes its bounds from the rows, as `plg scores` does; `plg log` stays a fast path and shows 0.60."""
    from tests.conftest import commit_topic_eval
    from tests.registry.test_scores import SOME_CATS

    commit_topic_eval(repo, SOME_CATS, "topic\ncats\ndogs\ncattle\nbirds\ncatfish\n")
    assert run_cli("eval", "topic", "--record").code == 0
    line = json.loads(repo.git("notes", "--ref=plg", "show", "HEAD").splitlines()[0])
    del line["details"]["intervals"]
    repo.git("notes", "--ref=plg", "add", "-f", "-m", json.dumps(line), "HEAD")

    site = Site.open(repo.path)
    assert "0.60 [0.08, 1.00]" in _words(site.prompts(Links()))
    assert "0.600 [0.078, 1.000] pass 60% [27-86%]" in _words(site.prompt(Links(), "topic"))
    assert "0.60 [0.08, 1.00]" in run_cli("scores", "topic").out
    logged = next(x for x in run_cli("log", "topic").out.splitlines() if x.startswith("v1"))
    assert "0.60" in logged and "[0.08" not in logged, logged
