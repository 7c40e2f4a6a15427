from __future__ import annotations

import json
from pathlib import Path

import pytest

import plg
from plg.errors import BadInput
from tests.conftest import CAKE_SERVED, GitRepo, run_cli
from tests.evals.test_engine import ISSUE_PIPELINE, write_cakes
from tests.loopback_llm import LoopbackLLM


@pytest.fixture
def cake_eval(repo: GitRepo) -> GitRepo:
    repo.write("prompts/cake.prompt", CAKE_SERVED)
    repo.write(
        "evals/cake.yaml",
        ISSUE_PIPELINE.replace(
            "  - type: llm_judge\n    name: sections\n"
            "    model: openai/fake-model\n    criteria:\n"
            "      - Has Overview, Ingredients and Instructions sections\n"
            "      - Gives metric and US units\n",
            "",
        ),
    )
    write_cakes(repo)
    repo.commit("cake")
    return repo


def test_custom_workflow_scores_given_outputs_without_generation(
    cake_eval: GitRepo, llm_server: LoopbackLLM, tmp_path: Path
) -> None:
    outputs = tmp_path / "outputs.jsonl"
    outputs.write_text(
        "\n".join(
            [
                json.dumps({"id": "0", "output": "A lemon cake."}),
                json.dumps({"input_variables": {"cake_type": "carrot"}, "output": "Not what you asked for."}),
                json.dumps({"cake_type": "chocolate", "output": "Chocolate cake, rich."}),
            ]
        )
        + "\n"
    )
    result = run_cli("eval", "cake", "--outputs", str(outputs), "--json")
    assert result.code == 1  # a row without an output is a missing judgement: it fails the threshold
    assert "errors (rows) 0.250 > 0" in result.err
    threshold = json.loads(result.out)["thresholds"][0]
    assert threshold["value"] == pytest.approx(
        0.5
    )  # 2 of 3 scored rows pass; the row without output counts 0
    summary = json.loads(result.out)["summary"][0]
    assert summary["model"] == "outputs:outputs.jsonl"
    assert summary["rows"] == 4 and summary["errors"] == 1  # 'plum' has no output: listed as an error
    assert llm_server.chat_count() == 0
    run_id = json.loads(result.out)["run_id"]
    shown = run_cli("runs", "show", run_id, "--row", "4")
    assert "no output for row 4" in shown.out


def test_evaluate_from_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rows = [
        {"question": "capital of France", "expected_output": "Paris"},
        {"question": "2+2", "expected_output": "4"},
    ]
    result = plg.evaluate(
        [{"type": "equals"}, {"type": "contains", "value": "{{ expected_output }}"}], rows, ["paris", "five"]
    )
    (summary,) = result.summaries
    assert summary.rows == 2 and summary.pass_rate == 0.5
    assert result.path.is_file()
    with pytest.raises(BadInput, match="one output per row"):
        plg.evaluate([{"type": "equals"}], rows, ["only one"])


def test_runs_are_listed_and_diffed(cake_eval: GitRepo, llm_server: LoopbackLLM, tmp_path: Path) -> None:
    first = json.loads(run_cli("eval", "cake", "--json").out)["run_id"]
    outputs = tmp_path / "o.jsonl"
    outputs.write_text(
        "\n".join(json.dumps({"id": str(i), "output": "no cake here"}) for i in range(4)) + "\n"
    )
    second = json.loads(run_cli("eval", "cake", "--outputs", str(outputs), "--json").out)["run_id"]
    listed = run_cli("runs")
    assert first in listed.out and second in listed.out
    diff = json.loads(run_cli("runs", "diff", first, second, "--json").out)
    assert diff["paired"] == 4 and diff["changed_outputs"] == 4
    assert diff["flipped"] == 4 and diff["mean_delta"] < 0
    text = run_cli("runs", "diff", first, second)
    assert "pass -> fail" in text.out
