"""The gate judges what will ship: the served model, every scorer, and nothing an outage produced."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import CAKE_V1, GitRepo, run_cli
from tests.evals.test_engine import write_cakes
from tests.loopback_llm import LoopbackLLM

SERVED = CAKE_V1.replace("model: plg/offline", "model: openai/served")
PIPELINE = """prompt: cake
dataset: datasets/cakes.csv
{models}
scorers:
  - type: contains
    value: "{{{{ cake_type }}}}"
  - type: llm_judge
    name: sections
    model: openai/judge
    criteria: [Has Overview, Ingredients and Instructions sections]
gate:
  qa: {{min_score: 0.3}}
"""


@pytest.fixture
def served(repo: GitRepo, llm_server: LoopbackLLM) -> GitRepo:
    repo.write("prompts/cake.prompt", SERVED)
    repo.write("evals/cake.yaml", PIPELINE.format(models="models: [openai/other]"))
    write_cakes(repo)
    repo.commit("cake served on openai/served")
    return repo


def generation_models(server: LoopbackLLM) -> set[str]:
    return {r["model"] for r in server.requests if "grading an AI response" not in r["messages"][0]["content"]}


def notes(repo: GitRepo) -> list[dict]:  # type: ignore[type-arg]
    shown = subprocess.run(
        ["git", "notes", "--ref=plg", "show", "HEAD"], cwd=repo.path, capture_output=True, text=True
    )
    return [json.loads(line) for line in shown.stdout.splitlines()]


def test_the_gate_decides_on_the_served_model_and_names_it(served: GitRepo, llm_server: LoopbackLLM) -> None:
    result = run_cli("promote", "cake", "--label", "qa", "--dry-run")
    assert result.code == 0, result
    assert "decided on openai/served, the model cake is served on" in result.out
    assert generation_models(llm_server) == {"served"}


def test_a_pipeline_that_replaces_the_served_model_says_so_in_the_table(
    served: GitRepo, llm_server: LoopbackLLM
) -> None:
    served.write("evals/cake.yaml", PIPELINE.format(models="models: [openai/other]\nreplace_served_model: true"))
    served.commit("judge the other model instead")
    result = run_cli("promote", "cake", "--label", "qa", "--dry-run")
    assert result.code == 0, result
    assert "decided on openai/other, which the pipeline serves instead of openai/served" in result.out
    assert generation_models(llm_server) == {"other"}


def test_a_failing_scorer_fails_the_gate(served: GitRepo, llm_server: LoopbackLLM) -> None:
    llm_server.respond(
        lambda messages: "cannot say"
        if "grading an AI response" in messages[0]["content"]
        else f"A {messages[-1]['content'].split('for a ')[1].split(' cake')[0]} cake."
    )
    dry = run_cli("promote", "cake", "--label", "qa", "--dry-run")
    assert dry.code == 1 and "gate FAILED" in dry.out, dry  # the status the real promote has
    assert "errors (sections)" in dry.out and "eval score" in dry.out
    real = run_cli("promote", "cake", "--label", "qa")
    assert real.code == 1 and "errors (sections)" in real.err
    assert served.git("tag") == ""


def test_an_outage_leaves_the_gate_not_judged_and_unrecorded(served: GitRepo, llm_server: LoopbackLLM) -> None:
    llm_server.fail_next(401, n=1000)
    down = run_cli("promote", "cake", "--label", "qa")
    assert down.code == 3, down
    assert "not judged" in down.err and "AuthenticationError (401)" in down.err
    assert served.git("tag") == ""
    assert not [n for n in notes(served) if n["kind"] == "eval"]
    llm_server.reset()
    back = run_cli("promote", "cake", "--label", "qa")
    assert back.code == 0, back
    assert llm_server.chat_count() > 0 and "moved cake@qa" in back.out


def test_asking_for_a_judge_the_recorded_backtest_lacks_computes_it(
    served: GitRepo, llm_server: LoopbackLLM
) -> None:
    served.write(
        "evals/history/cake.jsonl",
        "".join(
            json.dumps({"input_variables": {"cake_type": k}, "output": f"A {k} cake."}) + "\n"
            for k in ("lemon", "plum")
        ),
    )
    served.commit("history")
    first = run_cli("backtest", "cake")
    assert first.code == 0 and "judge mean" not in first.out, first
    judged = run_cli("backtest", "cake", "--judge", "openai/judge")
    assert judged.code == 0, judged
    assert "no model called" not in judged.out and "judge mean" in judged.out
    again = run_cli("backtest", "cake", "--judge", "openai/judge")
    assert "no model called" in again.out and "judge mean" in again.out
    other_judge = run_cli("backtest", "cake", "--judge", "openai/judge-2")
    assert "no model called" not in other_judge.out
