"""The offline judge only counts rubric words: wherever its figures appear they are marked as placeholders,
so nobody reads them as a verdict. A judge on a real model is never marked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import GitRepo, git, run_cli
from tests.loopback_llm import LoopbackLLM

MARK = "helpful (offline placeholder)"
WARNING = "come from plg/offline, a stand-in that counts rubric words: they are not a judgement"


@pytest.fixture
def starter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    project = tmp_path / "project"
    assert run_cli("init", str(project), "--install", "plg-registry==0.1.0").code == 0
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "plg init")
    monkeypatch.chdir(project)
    return project


def test_offline_judge_is_marked_in_the_table_report_note_and_gate(starter: Path) -> None:
    evaluated = run_cli("eval", "support-reply", "--record", "-o", "report.md")
    assert evaluated.code == 0, evaluated
    table = evaluated.out.splitlines()
    assert any(line.split()[:1] == ["helpful"] and MARK in line for line in table), evaluated.out
    assert not any("names the product (offline" in line for line in table)
    assert any(line.startswith("warning:") and WARNING in line for line in table), evaluated.out

    report = (starter / "report.md").read_text()
    assert f"| {MARK} |" in report and f"⚠️ judge scores marked (offline placeholder) {WARNING}" in report

    note = git(starter, "notes", "--ref", "refs/notes/plg", "show", "HEAD")
    evals = [json.loads(line) for line in note.splitlines() if json.loads(line)["kind"] == "eval"]
    scorers = evals[0]["details"]["scorers"]
    assert scorers["helpful"]["placeholder"] == "offline placeholder"
    assert "placeholder" not in scorers["names the product"]
    assert WARNING in evals[0]["details"]["warning"]

    run_id = evals[0]["run_id"]
    row = run_cli("runs", "show", run_id, "--row", "1")
    assert "offline placeholder, not a judgement: found" in row.out, row.out

    reused = run_cli("eval", "support-reply", "--record")
    assert "no model called" in reused.out and f"warning: {MARK}" in reused.out, reused.out

    assert run_cli("view", "--export", str(starter / "site")).code == 0
    page = (starter / "site/prompt/support-reply.html").read_text()
    assert f"{MARK} 0.60" in page and f"{MARK} v1: 0.600" in page

    gate = run_cli("promote", "support-reply", "--label", "production", "--dry-run")
    assert gate.code == 0, gate
    score_line = next(line for line in gate.out.splitlines() if line.startswith("eval score"))
    assert "includes the offline placeholder judge" in score_line
    assert f"warning: the eval figures include {MARK}" in gate.out


def test_ci_report_and_gate_note_mark_the_offline_judge(starter: Path) -> None:
    ci = run_cli("ci", "--all", "--no-comment", "--no-notes", "--report-dir", "plg-report")
    assert ci.code == 0, ci
    assert "warning: offline placeholder judge in support-reply helpful" in ci.out, ci.out
    markdown = (starter / "plg-report/report.md").read_text()
    assert "| helpful \\(offline placeholder\\) |" in markdown
    assert "⚠️ judge scores marked \\(offline placeholder\\)" in markdown
    assert "✅ pass (includes the offline placeholder judge)" in markdown
    data = json.loads((starter / "plg-report/report.json").read_text())
    assert data["prompts"][0]["head"][0]["placeholder"] == ["helpful"]

    assert run_cli("promote", "support-reply", "--label", "production").code == 0
    moves = json.loads(run_cli("labels", "support-reply", "--history", "--json").out)[0]["history"]
    assert moves[-1]["figures"]["eval score"]["detail"] == "includes the offline placeholder judge"
    assert run_cli("view", "--export", str(starter / "site")).code == 0
    assert "0.6 (includes the offline placeholder judge)" in (starter / "site/prompt/support-reply.html").read_text()
    note = git(starter, "notes", "--ref", "refs/notes/plg", "show", "HEAD")
    gate = next(json.loads(line) for line in note.splitlines() if json.loads(line)["kind"] == "gate")
    assert gate["details"]["placeholder"] == ["helpful"] and WARNING in gate["details"]["warning"]


def test_a_judge_on_a_real_model_is_not_marked(cake_eval: GitRepo, llm_server: LoopbackLLM) -> None:
    evaluated = run_cli("eval", "cake", "--record", "-o", "report.md")
    assert evaluated.code == 0, evaluated
    assert "sections" in evaluated.out and "placeholder" not in evaluated.out
    assert "placeholder" not in (cake_eval.path / "report.md").read_text()
    assert "placeholder" not in cake_eval.git("notes", "--ref", "refs/notes/plg", "show", "HEAD")
