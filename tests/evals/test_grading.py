"""Human grades: `plg runs grades import` judges each grade against its scorer's `pass_at`, and the row's
summary, detail and trace all show the grade."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from plg import config
from plg.evals.runs import RowRecord, find_run
from tests.conftest import GitRepo, commit_topic_eval, run_cli

PIPELINE = """prompt: topic
dataset: topics.csv
scorers:
  - type: contains
    value: "{{ topic }}"
  - type: human
    name: taste
    scale: [0, 10]
    pass_at: 0.8
"""


@pytest.fixture
def graded_run(repo: GitRepo) -> str:
    commit_topic_eval(repo, PIPELINE, "id,topic\nowl,owls\nbee,bees\n")
    result = run_cli("eval", "topic", "--json")
    assert result.code == 3, result  # grades pending: not judged yet
    return str(json.loads(result.out)["run_id"])


def _grade(run_id: str, tmp_path: Path, grades: dict[str, str]) -> None:
    sheet = tmp_path / "sheet.csv"
    assert run_cli("runs", "grades", "export", run_id, "-o", str(sheet)).code == 0
    lines = list(csv.DictReader(sheet.open()))
    for line in lines:
        line["grade"] = grades[line["id"]]
    with sheet.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(lines[0]))
        writer.writeheader()
        writer.writerows(lines)
    imported = run_cli("runs", "grades", "import", run_id, str(sheet))
    assert imported.code == 0, imported


def test_grades_pass_at_the_scorers_bar(graded_run: str, tmp_path: Path) -> None:
    before = run_cli("runs", "show", graded_run, "--row", "1", "--trace").out
    assert "pending=true" in before
    _grade(graded_run, tmp_path, {"owl": "7", "bee": "9"})  # 0.7 and 0.9 against pass_at 0.8
    listed = json.loads(run_cli("runs", "--json").out)[0]["summary"][0]
    taste = next(s for s in listed["scorers"] if s["name"] == "taste")
    assert taste["pending"] == 0 and taste["mean"] == pytest.approx(0.8)
    assert taste["pass_rate"] == pytest.approx(0.5)  # 7 of 10 fails a 0.8 bar; the old 0.5 bar passed it
    summary = run_cli("runs", "show", graded_run).out
    assert "taste" in summary and "50%" in summary
    owl = run_cli("runs", "show", graded_run, "--row", "1").out
    assert "taste: 0.700 human grade" in owl
    owl_trace = run_cli("runs", "show", graded_run, "--row", "1", "--trace").out
    assert "evaluator.taste" in owl_trace and "pending" not in owl_trace
    assert "score=0.7  passed=false  reason=human grade" in owl_trace
    assert "score=0.85  passed=false" in owl_trace  # the row: (1 + 0.7) / 2, failed on taste
    bee_trace = run_cli("runs", "show", graded_run, "--row", "2", "--trace").out
    assert "score=0.9  passed=true  reason=human grade" in bee_trace
    assert "score=0.95  passed=true" in bee_trace


def test_older_run_files_keep_the_old_bar_and_their_traces_follow(graded_run: str, tmp_path: Path) -> None:
    path = find_run(config.runs_dir(Path.cwd()), graded_run)
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["pass_at"] == [1.0, 0.8]
    del header["pass_at"]  # as plg wrote runs before they kept each scorer's bar, with full span lists
    header["format"] = 1
    rows = []
    for line in lines[1:]:
        data = json.loads(line)
        if data.get("type") == "row":
            data["spans"] = [s.to_json() for s in RowRecord.from_json(data).trace()]
            del data["trace"]
        rows.append(json.dumps(data))
    path.write_text("\n".join([json.dumps(header), *rows]) + "\n")
    assert "pending=true" in run_cli("runs", "show", graded_run, "--row", "1", "--trace").out
    _grade(graded_run, tmp_path, {"owl": "7", "bee": "9"})
    shown = run_cli("runs", "show", graded_run, "--row", "1", "--trace").out
    assert "pending" not in shown
    assert "score=0.7  passed=true  reason=human grade" in shown  # the 0.5 bar those runs were made with
    assert "score=0.85  passed=true" in shown


ONLY_HUMAN = """prompt: topic
dataset: topics.csv
threshold:
  min_score: 0.5
scorers:
  - type: human
    name: taste
    scale: [0, 10]
    pass_at: 0.8
"""


def _fill(sheet: Path, grades: dict[str, str]) -> None:
    lines = list(csv.DictReader(sheet.open()))
    for line in lines:
        line["grade"] = grades.get(line["id"], "")
    with sheet.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(lines[0]))
        writer.writeheader()
        writer.writerows(lines)


def test_human_grading_closes_its_loop(repo: GitRepo, tmp_path: Path) -> None:
    """Pending grades are not judged (exit 3, no FAIL line), each step names the next command, and the
    import that grades the last row finishes the run and records it (issue 28)."""
    commit_topic_eval(repo, ONLY_HUMAN, "id,topic\nowl,owls\nbee,bees\n")

    first = run_cli("eval", "topic")

    assert first.code == 3, first
    assert "FAIL" not in first.out and "min_score" not in first.err, first
    run_id = first.out.split()[1].rstrip(":")
    assert "2 of 2 row(s) on plg/offline await a human grade" in first.err
    assert f"plg runs grades export {run_id} -o sheet.csv" in first.err
    assert f"plg runs grades import {run_id} sheet.csv --record" in first.err

    sheet = tmp_path / "sheet.csv"
    exported = run_cli("runs", "grades", "export", run_id, "-o", str(sheet))
    assert f"plg runs grades import {run_id} {sheet} --record" in exported.out, exported
    _fill(sheet, {"owl": "9"})
    partly = run_cli("runs", "grades", "import", run_id, str(sheet), "--record")
    assert partly.code == 0, partly
    assert "1 grade(s) still pending" in partly.out
    assert "recorded" not in partly.out
    assert "0.90" not in run_cli("log", "topic").out  # the one grade so far is not the version's score

    _fill(sheet, {"owl": "9", "bee": "7"})
    finished = run_cli("runs", "grades", "import", run_id, str(sheet), "--record")

    assert finished.code == 0, finished
    assert "every row is graded" in finished.out
    assert "threshold min_score >= 0.5 for plg/offline: 0.80 pass" in finished.out
    assert "recorded in refs/notes/plg on topic@1" in finished.out
    assert "0.80" in run_cli("log", "topic").out
    again = run_cli("eval", "topic", "--record")
    assert again.code == 0 and "this exact eval is recorded" in again.out, again
