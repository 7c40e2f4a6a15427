"""What an eval judges and what counts as a judgement: the served model, scorer errors, provider outages,
empty datasets, given outputs. Real repositories and the loopback model server throughout."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import plg
from plg.evals.plan import EvalRequest
from plg.evals.session import RunOptions, run_eval
from plg.registry.versions import Registry
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
{judge}    criteria: [Has Overview, Ingredients and Instructions sections]
threshold:
  min_score: 0.3
"""


def pipeline(models: str = "models: [openai/other]", judge: str = "    model: openai/judge\n") -> str:
    return PIPELINE.format(models=models, judge=judge)


@pytest.fixture
def served(repo: GitRepo) -> GitRepo:
    repo.write("prompts/cake.prompt", SERVED)
    repo.write("evals/cake.yaml", pipeline())
    write_cakes(repo)
    repo.commit("cake served on openai/served, compared with openai/other")
    return repo


def generation_models(server: LoopbackLLM) -> set[str]:
    return {r["model"] for r in server.requests if "grading an AI response" not in r["messages"][0]["content"]}


def judge_models(server: LoopbackLLM) -> set[str]:
    return {r["model"] for r in server.requests if "grading an AI response" in r["messages"][0]["content"]}


def has_note(repo: GitRepo) -> bool:
    listed = subprocess.run(["git", "notes", "--ref=plg", "list"], cwd=repo.path, capture_output=True, text=True)
    return bool(listed.stdout.strip())


def test_eval_scores_the_served_model_and_compares_the_pipeline_models(
    served: GitRepo, llm_server: LoopbackLLM
) -> None:
    result = run_cli("eval", "cake", "--json")
    assert result.code == 0, result
    report = json.loads(result.out)
    assert [s["model"] for s in report["summary"]] == ["openai/served", "openai/other"]
    assert {t["model"] for t in report["thresholds"]} == {"openai/served"}  # comparisons do not decide
    assert generation_models(llm_server) == {"served", "other"}


def test_a_pipeline_replaces_the_served_model_only_when_it_says_so(
    served: GitRepo, llm_server: LoopbackLLM
) -> None:
    served.write("evals/cake.yaml", pipeline("models: [openai/other]\nreplace_served_model: true"))
    result = run_cli("eval", "cake", "--json")
    assert result.code == 0, result
    report = json.loads(result.out)
    assert [s["model"] for s in report["summary"]] == ["openai/other"]
    assert generation_models(llm_server) == {"other"}
    served.write("evals/cake.yaml", "replace_served_model: true\n" + pipeline(models=""))
    refused = run_cli("eval", "cake")
    assert refused.code == 2 and "replace_served_model" in refused.err


def test_a_scorer_error_counts_against_the_version(served: GitRepo, llm_server: LoopbackLLM) -> None:
    llm_server.respond(
        lambda messages: "I would rather not grade this."
        if "grading an AI response" in messages[0]["content"]
        else "Overview of the cake. Ingredients. Instructions."
    )
    served.write("evals/cake.yaml", pipeline(models=""))
    result = run_cli("eval", "cake", "--json")
    assert result.code == 1, result
    (summary,) = json.loads(result.out)["summary"]
    sections = next(s for s in summary["scorers"] if s["name"] == "sections")
    assert sections["errors"] == 4
    assert summary["score"] == pytest.approx(0.0)  # contains misses (no cake type) and the judge scores 0
    assert "errors (sections) 1.000 > 0" in result.err
    table = run_cli("eval", "cake")
    assert "sections" in table.out and " 4" in table.out.split("sections", 1)[1].splitlines()[0]


def test_max_error_rate_allows_some_scorer_errors(served: GitRepo, llm_server: LoopbackLLM) -> None:
    answers = iter(["no score here", '{"score": 1, "reason": "ok"}'] * 4)
    llm_server.respond(
        lambda messages: next(answers)
        if "grading an AI response" in messages[0]["content"]
        else f"A {messages[-1]['content'].split('for a ')[1].split(' cake')[0]} cake. Overview."
    )
    served.write(
        "evals/cake.yaml",
        pipeline(models="concurrency: 1").replace("min_score: 0.3", "min_score: 0.3\n  max_error_rate: 0.5"),
    )
    result = run_cli("eval", "cake", "--json")
    assert result.code == 0, result
    (summary,) = json.loads(result.out)["summary"]
    assert next(s for s in summary["scorers"] if s["name"] == "sections")["errors"] == 2
    assert summary["score"] == pytest.approx((4 * 1.0 + 2 * 1.0 + 2 * 0.0) / 8)


def test_scorer_errors_with_no_threshold_are_not_a_pass(served: GitRepo, llm_server: LoopbackLLM) -> None:
    answers = iter(["no score here", '{"score": 1, "reason": "ok"}'] * 4)
    llm_server.respond(
        lambda messages: next(answers)
        if "grading an AI response" in messages[0]["content"]
        else "A cake. Overview."
    )
    no_bar = pipeline(models="concurrency: 1").split("threshold:")[0]
    served.write("evals/cake.yaml", no_bar)
    served.commit("no threshold")
    result = run_cli("eval", "cake", "--record")
    assert result.code == 3, result
    assert "scorer sections raised on 2 of 4 row(s)" in result.err and "threshold.max_error_rate" in result.err
    assert "4 rows run" in result.out  # the figures are still shown
    assert not has_note(served)  # and nothing is recorded as the version's score
    served.write("evals/cake.yaml", no_bar + "threshold:\n  max_error_rate: 0.5\n")
    served.commit("two errors in four are acceptable")
    tolerated = run_cli("eval", "cake", "--record")
    assert tolerated.code == 0, tolerated
    assert has_note(served)


def test_an_outage_is_not_judged_not_recorded_and_called_again(
    served: GitRepo, llm_server: LoopbackLLM
) -> None:
    served.write("evals/cake.yaml", pipeline(models=""))
    served.commit("served model only")
    llm_server.fail_next(401, n=1000)
    down = run_cli("eval", "cake", "--record")
    assert down.code == 3, down
    assert "not judged" in down.err and "AuthenticationError (401)" in down.err
    assert "min_score" not in down.err
    assert "FAIL" not in down.out, down.out  # no threshold verdict printed above a "not judged" exit 3
    assert not has_note(served)
    llm_server.reset()
    back = run_cli("eval", "cake", "--record")
    assert back.code == 0, back
    assert llm_server.chat_count() == 8 and "no model called" not in back.out
    assert has_note(served)


def test_a_judge_outage_is_not_judged_either(served: GitRepo, llm_server: LoopbackLLM) -> None:
    with LoopbackLLM() as judge_down:
        judge_down.fail_next(401, n=1000)
        judge = f"    model: openai/judge\n    params: {{api_base: '{judge_down.base_url}'}}\n"
        served.write("evals/cake.yaml", pipeline(models="", judge=judge))
        served.write("plg.toml", f'[endpoints]\nallow = ["{judge_down.base_url}"]\n')
        served.commit("the judge lives elsewhere")
        result = run_cli("eval", "cake", "--record")
    assert result.code == 3, result
    assert "not judged: 4 of 4 row(s)" in result.err and "openai/judge: AuthenticationError (401)" in result.err
    assert not has_note(served)


def test_a_model_name_no_provider_answers_to_is_not_judged_as_a_fail_of_every_row(served: GitRepo) -> None:
    """litellm refuses `nonexistent-provider/x` with a 400, which reads as the prompt's fault: every row
    judged an error and the bar failed (exit 1). Nothing was sent: the eval could not judge anything."""
    result = run_cli("eval", "cake", "--model", "nonexistent-provider/x", "--record")
    assert result.code == 3, result
    assert "not judged: 4 of 4 row(s) on nonexistent-provider/x" in result.err
    assert "UnknownProvider" in result.err and "min_score" not in result.err
    assert not has_note(served)


def test_provider_down_after_retries_exits_3_with_its_error(
    served: GitRepo, llm_server: LoopbackLLM
) -> None:
    served.write("evals/cake.yaml", pipeline(models="concurrency: 4"))
    served.commit("served model only")
    llm_server.fail_next(503, n=1000)
    outcome = run_eval(
        Registry(served.path), EvalRequest(spec="cake@1"), RunOptions(record=True, max_attempts=2)
    )
    assert outcome.not_judged is not None and "(503)" in outcome.not_judged and "after 2 attempts" in outcome.not_judged
    assert outcome.recorded == () and not has_note(served)


def test_an_empty_dataset_is_bad_input(served: GitRepo, llm_server: LoopbackLLM) -> None:
    served.write("evals/datasets/cakes.csv", "cake_type,serving_size\n")
    result = run_cli("eval", "cake")
    assert result.code == 2 and "has no rows" in result.err
    assert llm_server.count == 0
    with pytest.raises(plg.PlgError, match="no rows"):
        plg.evaluate([{"type": "equals"}], [], [])


def test_given_outputs_are_judged_by_the_pipelines_judge_like_evaluate(
    served: GitRepo, llm_server: LoopbackLLM, tmp_path: Path
) -> None:
    served.write("evals/cake.yaml", pipeline(models="", judge=""))
    kinds = ["lemon", "carrot", "chocolate", "plum"]
    outputs = tmp_path / "outputs.jsonl"
    texts = [f"Overview of the {k} cake. Ingredients. Instructions." for k in kinds]
    outputs.write_text("".join(json.dumps({"id": str(i), "output": t}) + "\n" for i, t in enumerate(texts)))
    result = run_cli("eval", "cake", "--outputs", str(outputs), "--json")
    assert result.code == 0, result
    (summary,) = json.loads(result.out)["summary"]
    assert summary["errors"] == 0 and all(s["errors"] == 0 for s in summary["scorers"])
    assert judge_models(llm_server) == {"served"}  # the prompt's served model, not "outputs:outputs.jsonl"
    assert generation_models(llm_server) == set()
    rows = [{"cake_type": k, "serving_size": "4"} for k in kinds]
    direct = plg.evaluate(served.path / "evals/cake.yaml", rows, texts, root=served.path)
    (same,) = direct.summaries
    assert {s.name: s.mean for s in same.scorers} == {s["name"]: s["mean"] for s in summary["scorers"]}
