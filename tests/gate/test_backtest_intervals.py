"""A backtest's mean similarity and changed share come with their intervals: four history rows decide
little, and the report said `similarity mean 0.750` as if they decided it to three digits."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from plg import config
from plg.evals.runs import RowRecord, RunHeader, RunWriter, ScoreRecord
from plg.gate.backtest import render_markdown, render_text, report_from_figures, report_from_run
from plg.registry.versions import Registry
from tests.conftest import GitRepo

HEADER = RunHeader(
    run_id="20261120-100000-b4c7e5", kind="backtest", name="topic", prompt="topic", version=1, commit=None,
    blob=None, datasets=(), dataset_hashes=(), pipeline=None, pipeline_hash=None, models=("m",),
    scorers=("similarity",), repeats=1, started="2026-11-20T10:00:00+00:00", who="t", identity="x",
)


def _row(i: int, similarity: float) -> RowRecord:
    return RowRecord(
        row_index=i, row_id=f"id-{i}", model="m", repeat=0, variables={"q": f"q{i}", "_line": i + 1},
        messages=None, output=f"new {i}", error=None, latency_s=0.1, prompt_tokens=1, completion_tokens=1,
        cost=None, cached=False, attempts=1, scores=(ScoreRecord("similarity", similarity, None),),
        score=similarity, passed=None, expected_output=f"old {i}",
    )


def test_similarity_and_changed_share_are_shown_with_their_intervals(repo: GitRepo, tmp_path: Path) -> None:
    """Similarities 1, 1, 0.5, 0.5: mean 0.75, sd 0.289, t(0.95, 3) = 2.353, so 0.75 -/+ 0.340 =
    [0.410, 1.000] (kept inside [0, 1]); 2 of 4 changed (below 0.9), Wilson at z = 1.645: [0.182, 0.818]."""
    repo.write_prompt("topic", "---\nmodel: plg/offline\n---\nuser:\nhi\n", "v1")
    candidate = Registry(repo.path).resolve("topic", "v1")
    path = config.runs_dir(repo.path) / f"{HEADER.run_id}.jsonl"
    writer = RunWriter(path, replace(HEADER))
    for i, similarity in enumerate((1.0, 1.0, 0.5, 0.5)):
        writer.append(_row(i, similarity))
    writer.close()

    report = report_from_run(candidate, tmp_path / "history.jsonl", path)

    text = render_text(report)
    lines = {line.split("  ")[0]: " ".join(line.split("  ")[1:]).strip() for line in text.splitlines()}
    assert lines["similarity mean"] == "0.750 [0.410, 1.000]", text
    assert lines["changed (similarity < 0.9)"] == "0.500 [0.182, 0.818]", text
    markdown = render_markdown(report)
    assert "| similarity mean | 0.750 [0.410, 1.000] |" in markdown, markdown
    assert "| changed fraction | 0.500 [0.182, 0.818] |" in markdown, markdown
    # a fresh CI clone reads the figures from the note, without the run file: the bounds come along
    recorded = json.loads(json.dumps(report.figures()))
    again = report_from_figures(candidate, tmp_path / "history.jsonl", recorded, HEADER.run_id)
    assert render_text(again).splitlines()[:8] == text.splitlines()[:8]
