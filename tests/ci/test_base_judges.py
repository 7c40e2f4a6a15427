"""The base judges the head: a pull request that degrades a prompt and swaps in its own, softer judge is
judged by the base branch's pipeline and gate too, fails, and the report names every judge change first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plg.ci.report import md
from tests.ci.test_job import PIPELINE, PROMPT, TOPICS, answer, github_env, outputs
from tests.conftest import GitRepo, run_cli
from tests.loopback_github import LoopbackGitHub
from tests.loopback_llm import LoopbackLLM

GATE = "gate:\n  production:\n    min_score: {score}\n"


@pytest.fixture
def gated(repo: GitRepo, llm_server: LoopbackLLM) -> GitRepo:
    llm_server.respond(answer)
    var = "cake_kind"
    repo.write("prompts/cake.prompt", PROMPT.format(var=var, style="Be helpful."))
    repo.write("evals/cake.yaml", PIPELINE.format(name="cake", var=var, min_score=0.6) + GATE.format(score=0.6))
    repo.write("evals/datasets/cake.csv", f"{var}\n" + "\n".join(TOPICS["cake"]) + "\n")
    repo.commit("cake, judged at 0.6")
    repo.git("checkout", "-q", "-b", "soften")
    return repo


def test_a_pull_request_that_brings_its_own_soft_pipeline_fails_the_bases(
    gated: GitRepo, github_api: LoopbackGitHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Before: exit 0, "all passed", and soft.yaml named nowhere."""
    var = "cake_kind"
    text = PROMPT.format(var=var, style="TERSE.").replace("---\n", "---\neval: evals/soft.yaml\n", 1)
    gated.write("prompts/cake.prompt", text)
    gated.write("evals/soft.yaml", PIPELINE.format(name="cake", var=var, min_score=0.0) + GATE.format(score=0.0))
    head = gated.commit("terse cake, judged by soft.yaml")
    base = gated.git("rev-parse", "main")
    files = github_env(monkeypatch, tmp_path, "pull_request", base_sha=base, head_sha=head)

    result = run_cli("ci", "--base", "main", "--no-notes")

    assert result.code == 1, result
    assert "the head fails the base's evals/cake.yaml" in result.err
    assert "::error file=prompts/cake.prompt,title=plg%3A the base's judge::cake" in result.out
    assert "::warning file=evals/soft.yaml,title=plg%3A this change edits what judges it::" in result.out
    assert outputs(files["output"])["passed"] == "false"
    body = github_api.comments[42][0]["body"]
    top = body.split("| | prompt |")[0]
    assert "This change edits what judges it" in top
    assert "evals/soft.yaml" in top and "new pipeline" in top
    assert md("lowers production's min_score 0.6 → 0.0 (softer)") in top
    assert md("lowers the threshold's min_score 0.6 → 0.0 (softer)") in top
    assert "1 failed" in body and "base production eval score" in body


def test_editing_the_pipelines_own_bounds_is_listed_and_judged_by_the_base(
    gated: GitRepo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    var = "cake_kind"
    gated.write("prompts/cake.prompt", PROMPT.format(var=var, style="TERSE."))
    gated.write("evals/cake.yaml", PIPELINE.format(name="cake", var=var, min_score=0.0) + GATE.format(score=0.0))
    gated.commit("terse cake, bounds at 0")
    files = github_env(monkeypatch, tmp_path, "push", base_sha="0" * 40, head_sha=gated.git("rev-parse", "HEAD"))

    result = run_cli("ci", "--base", "main", "--no-notes", "--no-comment")

    assert result.code == 1, result
    summary = files["summary"].read_text()
    assert "`evals/cake.yaml` modified, pipeline" in summary
    assert md("lowers production's min_score 0.6 → 0.0 (softer)") in summary
    report = json.loads((Path("plg-report") / "report.json").read_text())
    assert [c["path"] for c in report["judge_changes"]] == ["evals/cake.yaml"]



def test_a_rewritten_history_does_not_soften_the_bases_backtest(
    repo: GitRepo, llm_server: LoopbackLLM, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The base's gate replays the base's history: a PR rewriting it to match its own answers still fails."""
    llm_server.respond(answer)
    var = "cake_kind"
    gate = "gate:\n  production:\n    min_score: 0.0\n    backtest: {min_similarity: 0.9}\n"
    repo.write("prompts/cake.prompt", PROMPT.format(var=var, style="Be helpful."))
    repo.write("evals/cake.yaml", PIPELINE.format(name="cake", var=var, min_score=0.0) + gate)
    repo.write("evals/datasets/cake.csv", f"{var}\n" + "\n".join(TOPICS["cake"]) + "\n")

    def history(output: str) -> str:
        rows = [json.dumps({"input_variables": {var: k}, "output": output.format(k=k)}) for k in TOPICS["cake"]]
        return "\n".join(rows) + "\n"

    repo.write("evals/history/cake.jsonl", history("All about {k}: lovely."))
    repo.commit("cake with history")
    repo.git("checkout", "-q", "-b", "rewrite")
    repo.write("prompts/cake.prompt", PROMPT.format(var=var, style="TERSE."))
    repo.write("evals/history/cake.jsonl", history("It is food."))
    repo.commit("terse cake, history rewritten to match")
    files = github_env(monkeypatch, tmp_path, "push", base_sha="0" * 40, head_sha=repo.git("rev-parse", "HEAD"))

    result = run_cli("ci", "--base", "main", "--no-notes", "--no-comment")

    assert result.code == 1, result
    assert "base production backtest similarity" in result.err
    assert "`evals/history/cake.jsonl` modified, history" in files["summary"].read_text()
