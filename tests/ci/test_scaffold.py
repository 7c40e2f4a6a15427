"""`plg init`'s starter: right after init, the whole loop (eval, backtest, promote) works offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import git, run_cli

STARTER = "support-reply"


@pytest.fixture
def started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "OPENAI_API_BASE"):
        monkeypatch.delenv(key, raising=False)
    project = tmp_path / "project"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    said = run_cli("init", str(project), "--install", "plg-registry==0.1.0")
    assert said.code == 0, said
    for relpath in (
        f"prompts/{STARTER}.prompt",
        f"evals/{STARTER}.yaml",
        f"evals/datasets/{STARTER}.csv",
        f"evals/history/{STARTER}.jsonl",
        ".github/workflows/plg.yml",
    ):
        assert f"wrote {relpath}" in said.out
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "plg init")
    monkeypatch.chdir(project)
    return project


def test_init_then_eval_backtest_and_promote_dry_run_succeed_offline(started: Path) -> None:
    evaluated = run_cli("eval", STARTER)
    assert evaluated.code == 0, evaluated
    assert "3 rows run" in evaluated.out and "threshold min_score >= 0.5" in evaluated.out

    backtest = run_cli("backtest", STARTER)
    assert backtest.code == 0, backtest
    history = (started / f"evals/history/{STARTER}.jsonl").read_text().splitlines()
    assert len(history) == 3 and all(json.loads(line)["output"] for line in history)
    assert "similarity mean             1.000" in backtest.out

    promote = run_cli("promote", STARTER, "--label", "production", "--dry-run")
    assert promote.code == 0, promote
    assert "production gate for support-reply@1" in promote.out
    assert "backtest similarity" in promote.out and "(dry run)" in promote.out
    assert json.loads(run_cli("labels", STARTER, "--json").out) == [], "a dry run moved the label"
    assert run_cli("lint").code == 0


def test_the_starter_backtest_notices_a_changed_prompt(started: Path) -> None:
    prompt = started / f"prompts/{STARTER}.prompt"
    prompt.write_text(prompt.read_text().replace("Message from a customer of", "Ticket about"))
    git(started, "commit", "-q", "-am", "reword")
    backtest = run_cli("backtest", STARTER)
    assert backtest.code == 0, backtest
    changed = next(line for line in backtest.out.splitlines() if line.startswith("changed"))
    share = changed.split(")", 1)[1].split()[0]  # "changed (similarity < 0.9)  0.333 [0.061, 0.792]"
    assert float(share) > 0, backtest.out


def test_init_keeps_a_users_existing_starter_files(tmp_path: Path) -> None:
    project = tmp_path / "mine"
    (project / "prompts").mkdir(parents=True)
    (project / f"prompts/{STARTER}.prompt").write_text("Mine: {{ x }}\n")
    said = run_cli("init", str(project), "--install", "plg-registry==0.1.0")
    assert said.code == 0, said
    assert f"kept existing prompts/{STARTER}.prompt" in said.out
    assert (project / f"prompts/{STARTER}.prompt").read_text() == "Mine: {{ x }}\n"
