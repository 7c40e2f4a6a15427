"""Messages a new user reads: no path listed twice, no unnamed table column, one row numbering."""

from __future__ import annotations

import json

from tests.cli.test_progress import OFFLINE_PIPELINE, offline_cake
from tests.conftest import GitRepo, run_cli


def test_missing_pipeline_lists_each_path_once(repo: GitRepo) -> None:
    repo.write_prompt("hello", "Say hello to {{ name }}")
    result = run_cli("eval", "hello")
    assert result.code == 2
    assert "looked for evals/hello.yaml, evals/hello.yml); pass --pipeline FILE" in result.err, result.err


def test_gate_decision_table_names_every_column(repo: GitRepo) -> None:
    offline_cake(repo, 3)
    repo.write("evals/cake.yaml", OFFLINE_PIPELINE + "gate:\n  production: {min_score: 0.5}\n")
    repo.commit("gate")
    result = run_cli("promote", "cake", "--label", "production", "--dry-run")
    assert result.code == 0, result
    lines = result.out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("check"))
    header, rule = lines[at : at + 2]
    assert header.split() == ["check", "figure", "bound", "result"], header
    assert len(rule.split()) == 4  # one dashed rule per named column, none for a nameless one


def test_rows_are_numbered_the_same_everywhere(repo: GitRepo) -> None:
    offline_cake(repo, 3)
    run_id = json.loads(run_cli("eval", "cake", "--json").out)["run_id"]
    first = run_cli("runs", "show", run_id, "--row", "1")
    assert first.code == 0, first
    assert first.out.startswith("row 1 model plg/offline") and "[0]" not in first.out
    assert "lemon" in first.out
    third = run_cli("runs", "show", run_id, "--row", "3")
    assert third.out.startswith("row 3 model") and "chocolate" in third.out
    assert run_cli("runs", "show", run_id, "--row", "4").code == 2
    run_cli("eval", "cake", "-o", "report.xml")
    xml = (repo.path / "report.xml").read_text()
    assert 'name="row 1 contains"' in xml and "[0]" not in xml
