"""`plg runs show RUN --grid`: dataset rows against models, outputs cut to the terminal's width."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import GitRepo, commit_topic_eval, run_cli
from tests.loopback_llm import LoopbackLLM

PIPELINE = """prompt: topic
dataset: topics.csv
scorers:
  - type: contains
    value: "{{ topic }}"
"""


def _loopback_answer(messages: list[dict[str, Any]]) -> str:
    topic = messages[-1]["content"].removeprefix("Tell me about ").rstrip(".")
    if topic == "wasps":
        return "No idea, sorry. " + "Filler words go on and on. " * 20
    return f"LOOPBACK says {topic} are remarkable creatures. " + "More detail follows here. " * 20


@pytest.fixture
def topics(repo: GitRepo) -> GitRepo:
    return commit_topic_eval(repo, PIPELINE, "id,topic\nowl,owls\nbee,bees\nwasp,wasps\n")


def test_grid_shows_two_models_side_by_side_within_the_width(
    topics: GitRepo, llm_server: LoopbackLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm_server.responder = _loopback_answer
    result = run_cli("eval", "topic", "--model", "plg/offline", "--model", "openai/fake-model", "--json")
    assert result.code == 0, result
    run_id = json.loads(result.out)["run_id"]
    monkeypatch.setenv("COLUMNS", "100")
    grid = run_cli("runs", "show", run_id, "--grid")
    assert grid.code == 0, grid
    lines = grid.out.splitlines()
    assert all(len(line) <= 100 for line in lines), grid.out
    header = lines[0]
    assert "row" in header and "plg/offline" in header and "openai/fake-model" in header
    assert header.index("plg/offline") < header.index("openai/fake-model")
    body = {line.split()[0]: line for line in lines[2:] if line.strip()}
    assert set(body) == {"1", "2", "3"}  # numbered as `plg runs show --row N` numbers them
    owl = body["1"]
    assert "owl" in owl and "pass 1.00 Overview Tell me about owls." in owl  # the offline model's column
    assert owl.index("Overview") < owl.index("pass 1.00 LOOPBACK says owls are")  # then the loopback's
    assert owl.rstrip().endswith("…")  # long outputs are cut to fit, not wrapped
    assert "fail 0.00 No idea, sorry." in body["3"]
    assert "\x1b[" not in grid.out  # not a terminal: verdicts in words, no colour codes
    monkeypatch.setenv("COLUMNS", "60")
    narrow = run_cli("runs", "show", run_id, "--grid").out
    assert all(len(line) <= 60 for line in narrow.splitlines()) and "pass 1.00" in narrow
    assert len(narrow.splitlines()) == len(lines)  # still one line per row


def test_grid_with_repeats_has_a_column_per_repeat(topics: GitRepo) -> None:
    topics.write("evals/topic.yaml", PIPELINE + "repeats: 2\n")
    topics.commit("repeat")
    result = run_cli("eval", "topic", "--json")
    assert result.code == 0, result
    grid = run_cli("runs", "show", json.loads(result.out)["run_id"], "--grid").out
    assert "plg/offline #1" in grid and "plg/offline #2" in grid
    assert run_cli("runs", "show", json.loads(result.out)["run_id"], "--grid", "--row", "1").code == 2


def test_grid_can_show_only_failing_rows_and_a_limited_number(topics: GitRepo, llm_server: LoopbackLLM) -> None:
    llm_server.responder = _loopback_answer
    result = run_cli("eval", "topic", "--model", "openai/fake-model", "--json")
    run_id = json.loads(result.out)["run_id"]
    failing = run_cli("runs", "show", run_id, "--grid", "--failing")
    assert failing.code == 0, failing
    rows = [line.split()[0] for line in failing.out.splitlines()[2:-1] if line.strip()]
    assert rows == ["3"] and "fail 0.00 No idea" in failing.out  # the wasp row, the one that failed
    assert failing.out.rstrip().endswith("1 of 3 rows shown (1 failing)")
    first = run_cli("runs", "show", run_id, "--grid", "--limit", "2")
    numbered = [line.split()[0] for line in first.out.splitlines()[2:-1] if line.strip()]
    assert numbered == ["1", "2"] and first.out.rstrip().endswith("2 of 3 rows shown")
    assert run_cli("runs", "show", run_id, "--failing").code == 2  # only with --grid


def test_a_cell_for_a_model_the_header_does_not_list_still_gets_a_column(topics: GitRepo) -> None:
    """A run file merged or copied by hand can hold rows of a model its header does not name: their
    cells are shown in a column of their own rather than silently dropped from the grid."""
    result = run_cli("eval", "topic", "--json")
    assert result.code == 0, result
    run_id = json.loads(result.out)["run_id"]
    path = Path(os.environ["PLG_RUNS"]) / f"{run_id}.jsonl"
    lines = path.read_text().splitlines()
    extra = json.loads(lines[1])
    assert extra["model"] == "plg/offline"
    extra["model"] = "openai/added-later"
    extra["output"] = "A COPIED ANSWER"
    path.write_text("\n".join([*lines, json.dumps(extra)]) + "\n")
    grid = run_cli("runs", "show", run_id, "--grid")
    assert grid.code == 0, grid
    header = grid.out.splitlines()[0]
    assert header.index("plg/offline") < header.index("openai/added-later")
    assert "A COPIED ANSWER" in grid.out
