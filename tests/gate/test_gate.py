from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from plg.registry.labels import label_state
from plg.registry.versions import Registry
from tests.conftest import GitRepo, SigningKey, run_cli
from tests.loopback_llm import LoopbackLLM

PROMPT = """---
model: openai/fake-model
inputs:
  cake_type: string
---
system:
{quality}
user:
Recipe for a {{{{ cake_type }}}} cake.
"""

PIPELINE = """prompt: cake
dataset: datasets/cakes.csv
concurrency: 4
scorers:
  - type: contains
    value: "{{{{ cake_type }}}}"
threshold:
  min_score: 0.0
gate:
  production:
    min_score: {min_score}
    max_regression: 0.02
    backtest:
      min_similarity: {min_similarity}
      max_changed: {max_changed}
"""

KINDS = ["lemon", "carrot", "plum", "fig"]


def answer(messages: list[dict]) -> str:  # type: ignore[type-arg]
    """GOOD prompts name the cake in a steady house style; SLOPPY ones forget it; CHATTY ones ramble."""
    system, user = messages[0]["content"], messages[-1]["content"]
    kind = user.split("a ")[-1].split(" cake")[0]
    if "GOOD" in system:
        return f"Overview of the {kind} cake. Ingredients: flour, sugar, eggs. Instructions: mix, bake, cool."
    if "CHATTY" in system:
        return (
            f"{kind} cake! " + "Well, let me tell you a long story about my grandmother and her garden. " * 3
        )
    return "Overview. Ingredients: flour, sugar, eggs. Instructions: mix, bake, cool."


def write_history(repo: GitRepo) -> None:
    lines = [
        json.dumps(
            {
                "input_variables": {"cake_type": k},
                "label": "production",
                "output": f"Overview of the {k} cake. Ingredients: flour, sugar, eggs. Instructions: mix, bake, cool.",
            }
        )
        for k in KINDS
    ]
    repo.write("evals/history/cake.jsonl", "\n".join(lines) + "\n")


@pytest.fixture
def gated(repo: GitRepo, llm_server: LoopbackLLM) -> GitRepo:
    llm_server.respond(answer)
    repo.write("evals/datasets/cakes.csv", "cake_type\n" + "\n".join(KINDS) + "\n")
    repo.write("evals/cake.yaml", PIPELINE.format(min_score=0.8, min_similarity=0.75, max_changed=0.25))
    write_history(repo)
    repo.write_prompt("cake", PROMPT.format(quality="GOOD v1"), "v1 good")
    return repo


def promote(*args: str):  # type: ignore[no-untyped-def]
    return run_cli("promote", *args)


def test_good_version_passes_every_check_and_records_figures(gated: GitRepo) -> None:
    result = promote("cake", "--label", "production")
    assert result.code == 0, result
    for check in ("eval score", "no regression", "backtest similarity", "backtest changed"):
        assert check in result.out
    for check in ("backtest similarity", "backtest changed"):  # 4 history rows: each figure with its bounds
        line = next(x for x in result.out.splitlines() if check in x)
        assert re.search(r"\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]", line), line
    state = label_state(Registry(gated.path), "cake", "production")
    assert state is not None and state.version == 1
    figures = state.history[-1].figures
    assert figures["eval score"]["passed"] and figures["backtest similarity"]["value"] > 0.75
    note = [json.loads(line) for line in gated.git("notes", "--ref=plg", "show", "HEAD").splitlines()]
    assert {n["kind"] for n in note} == {"eval", "backtest", "gate"}


def test_low_eval_score_fails_and_moves_nothing(gated: GitRepo) -> None:
    gated.write_prompt("cake", PROMPT.format(quality="SLOPPY v2"), "v2 sloppy")
    result = promote("cake", "--label", "production")
    assert result.code == 1
    assert "gate failed (eval score" in result.err and "FAIL" in result.out
    assert gated.git("tag") == ""
    gate_note = [json.loads(x) for x in gated.git("notes", "--ref=plg", "show", "HEAD").splitlines()]
    assert any(n["kind"] == "gate" and n["passed_threshold"] is False for n in gate_note)


def test_backtest_catches_a_change_the_eval_misses(gated: GitRepo) -> None:
    gated.write_prompt("cake", PROMPT.format(quality="CHATTY v2"), "v2 chatty")
    result = promote("cake", "--label", "production")
    assert result.code == 1
    assert "backtest similarity" in result.err or "backtest changed" in result.err
    assert "eval score" in result.out and "pass" in result.out


def test_regression_against_the_current_holder(gated: GitRepo) -> None:
    assert promote("cake", "--label", "production").code == 0
    gated.write("evals/cake.yaml", PIPELINE.format(min_score=0.0, min_similarity=0.0, max_changed=1.0))
    gated.write_prompt("cake", PROMPT.format(quality="SLOPPY v2"), "v2 sloppy")
    result = promote("cake", "--label", "production")
    assert result.code == 1 and "no regression" in result.err
    assert label_state(Registry(gated.path), "cake", "production").version == 1  # type: ignore[union-attr]


def test_forced_promotion_is_recorded_with_reason(gated: GitRepo) -> None:
    gated.write_prompt("cake", PROMPT.format(quality="SLOPPY v2"), "v2 sloppy")
    assert promote("cake", "--label", "production", "--force").code == 1  # --force needs a reason
    result = promote("cake", "--label", "production", "--force", "--reason", "hotfix for outage")
    assert result.code == 0 and "FORCED" in result.out
    move = label_state(Registry(gated.path), "cake", "production").history[-1]  # type: ignore[union-attr]
    assert move.forced and move.reason == "hotfix for outage"
    history = run_cli("labels", "cake", "--history").out
    assert "promote (forced)" in history


def test_dry_run_prints_decision_and_moves_nothing(gated: GitRepo) -> None:
    result = promote("cake", "--label", "production", "--dry-run")
    assert result.code == 0 and "would move" in result.out and "eval score" in result.out
    assert gated.git("tag") == ""
    assert gated.git("for-each-ref", "refs/notes/") == ""  # no note either: a dry run writes nothing


def test_dry_run_exits_as_the_real_promote_would(gated: GitRepo) -> None:
    gated.write_prompt("cake", PROMPT.format(quality="SLOPPY v2"), "v2 sloppy")
    result = promote("cake", "--label", "production", "--dry-run")
    assert result.code == 1, result
    assert "gate failed (eval score" in result.err and "would move" in result.out and "(gate FAILED)" in result.out
    assert gated.git("tag") == "" and gated.git("for-each-ref", "refs/notes/") == ""


def test_production_without_gate_is_refused_with_how_to(repo: GitRepo) -> None:
    repo.write_prompt("cake", PROMPT.format(quality="GOOD"))
    result = promote("cake", "--label", "production")
    assert result.code == 1 and "has no gate: add `gate:" in result.err
    assert promote("cake", "--label", "staging").code == 0


def test_recorded_promote_makes_no_model_call(
    gated: GitRepo, llm_server: LoopbackLLM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gated.write_prompt("cake", PROMPT.format(quality="SLOPPY v2"), "v2 sloppy")
    assert promote("cake", "--label", "production").code == 1  # failed, its figures recorded
    calls = llm_server.count
    assert calls > 0
    monkeypatch.setenv("PLG_CACHE", str(tmp_path / "empty-cache.db"))  # no cached answer to fall back on
    assert promote("cake", "--label", "production").code == 1
    assert llm_server.count == calls


def test_signed_figures_are_reused_on_a_machine_without_the_run_files(
    gated: GitRepo, llm_server: LoopbackLLM, plg_state_in_tmp: Path, signing_key: SigningKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gated.write(".github/plg-allowed-signers", signing_key.allowed)
    gated.commit("trust the CI key")
    monkeypatch.setenv("PLG_SIGNING_KEY", str(signing_key.path))
    assert promote("cake", "--label", "production").code == 0
    monkeypatch.delenv("PLG_SIGNING_KEY")
    shutil.rmtree(plg_state_in_tmp)  # a fresh CI clone: notes fetched, no .plg/ runs or cache
    gated.git("update-ref", "-d", "refs/tags/prompts/cake@production")  # and the label not moved there yet
    calls = llm_server.count
    result = promote("cake", "--label", "production")
    assert result.code == 0, result
    assert llm_server.count == calls
    assert "backtest similarity" in result.out


def test_rollback_moves_back_and_records(gated: GitRepo) -> None:
    assert promote("cake", "--label", "production").code == 0
    gated.write_prompt("cake", PROMPT.format(quality="GOOD v2 revised"), "v2 good")
    assert promote("cake", "--label", "production").code == 0
    result = run_cli("rollback", "cake", "--label", "production", "--reason", "complaints")
    assert result.code == 0 and "v2 -> v1" in result.out
    state = label_state(Registry(gated.path), "cake", "production")
    assert state is not None and state.version == 1
    assert [(m.kind, m.to_version) for m in state.history] == [
        ("promote", 1),
        ("promote", 2),
        ("rollback", 1),
    ]


def test_rolling_back_a_label_that_does_not_exist_is_bad_input(gated: GitRepo) -> None:
    """Before: exit 1, which reads as a refused move rather than a label name to correct."""
    assert promote("cake", "--label", "staging").code == 0

    result = run_cli("rollback", "cake", "--label", "prodution")

    assert result.code == 2, result
    assert result.err == "plg: error: cake@prodution: no such label to roll back (labels: staging)\n"


def test_gate_interrupted_midway_moves_nothing(gated: GitRepo) -> None:
    gated.write(
        "evals/history/cake.jsonl", '{"input_variables": {"cake_type": "x"}}\n'
    )  # malformed: no output
    gated.commit("broken history")
    result = promote("cake", "--label", "production")
    assert result.code == 2 and "line 1" in result.err
    assert gated.git("tag") == ""


def test_backtest_command_report(gated: GitRepo, tmp_path: Path) -> None:
    gated.write_prompt("cake", PROMPT.format(quality="CHATTY v2"), "v2 chatty")
    out = tmp_path / "bt.md"
    result = run_cli("backtest", "cake", "-o", str(out))
    assert result.code == 0, result
    assert "similarity mean" in result.out and "changed" in result.out
    shown = next(line for line in result.out.splitlines() if line.startswith("similarity mean")).split()
    assert len(shown) == 5 and shown[3].startswith("[") and shown[4].endswith("]"), shown  # 4 rows: its bounds
    assert "[-" in result.out and "{+" in result.out  # word-level diff of a changed row
    assert "| line | similarity | production | candidate |" in out.read_text()
    again = run_cli("backtest", "cake")
    assert "no model called" in again.out


def test_backtest_name_runs_the_working_tree_as_eval_does_and_says_so(gated: GitRepo, tmp_path: Path) -> None:
    """`plg backtest NAME` had run the last commit while `plg eval NAME` ran the working-tree file, and
    its header read `@1` (issue 28)."""
    gated.write("prompts/cake.prompt", PROMPT.format(quality="CHATTY edit"))
    out = tmp_path / "bt.md"

    edited = run_cli("backtest", "cake", "-o", str(out))
    evaluated = run_cli("eval", "cake")

    assert edited.code == 0, edited
    assert edited.out.startswith("backtest cake (working tree) over "), edited.out
    assert "Well, let me tell you" in edited.out  # the edit's answers, not v1's
    assert "### Backtest `cake (working tree)`" in out.read_text()
    assert "cake (working tree)" in evaluated.out.splitlines()[0], evaluated
    committed = run_cli("backtest", "cake@1")
    assert committed.out.startswith("backtest cake@1 over "), committed.out
    assert "Well, let me tell you" not in committed.out


def test_two_concurrent_gated_promotes_one_wins(gated: GitRepo, llm_server: LoopbackLLM) -> None:
    gated.write_prompt("cake", PROMPT.format(quality="GOOD v2"), "v2 good")
    assert promote("cake@1", "--label", "production", "--dry-run").code == 0
    assert (
        promote("cake@2", "--label", "production", "--dry-run").code == 0
    )  # answers cached: promotes are fast
    env = {**os.environ}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "plg.cli", "promote", f"cake@{n}", "--label", "production"],
            cwd=gated.path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in (1, 2)
    ]
    results = [(p.wait(), p.communicate()) for p in procs]
    codes = sorted(code for code, _ in results)
    state = label_state(Registry(gated.path), "cake", "production")
    assert state is not None
    assert codes in ([0, 1], [0, 0]), results
    assert len(state.history) == codes.count(0)
