from __future__ import annotations

import json
from pathlib import Path

import pytest

from plg.evals.runs import find_run, latest_rows
from plg.tracing import Span
from tests.conftest import CAKE_V1, GitRepo, run_cli
from tests.loopback_llm import LoopbackLLM
from tests.test_evals import ISSUE_PIPELINE, write_cakes

NO_JUDGE = ISSUE_PIPELINE.split("  - type: llm_judge")[0] + "threshold:\n  min_score: 0.0\n"


@pytest.fixture
def cake_eval(repo: GitRepo) -> GitRepo:
    repo.write("prompts/cake.prompt", CAKE_V1)
    repo.write("evals/cake.yaml", ISSUE_PIPELINE)
    write_cakes(repo)
    repo.commit("cake with eval")
    return repo


def run_traces(run_id: str) -> list[list[Span]]:
    from plg import config

    _, rows = latest_rows(find_run(config.runs_dir(Path.cwd()), run_id))
    return [rows[key].trace() for key in sorted(rows)]


def children_of(spans: list[Span], parent: Span) -> list[Span]:
    return sorted((s for s in spans if s.parent_id == parent.span_id), key=lambda s: s.start_ns)


def assert_nested(spans: list[Span]) -> Span:
    """One root; every other span's parent is in the tree and encloses it in time."""
    (root,) = [s for s in spans if s.parent_id is None]
    by_id = {s.span_id: s for s in spans}
    assert len({s.trace_id for s in spans}) == 1
    for s in spans:
        assert s.end_ns > s.start_ns
        if s.parent_id is not None:
            parent = by_id[s.parent_id]
            assert parent.start_ns <= s.start_ns and s.end_ns <= parent.end_ns
    return root


def test_eval_rows_are_span_trees_with_measured_timings(cake_eval: GitRepo, llm_server: LoopbackLLM) -> None:
    llm_server.set_latency(0.05)
    result = run_cli("eval", "cake", "--no-cache", "--json")
    assert result.code == 0, result
    run_id = json.loads(result.out)["run_id"]
    traces = run_traces(run_id)
    assert len(traces) == 4 and len({t[0].trace_id for t in traces}) == 4
    for spans in traces:
        root = assert_nested(spans)
        assert root.name == "workflow.prompt" and root.attributes["prompt"] == "cake"
        names = [s.name for s in children_of(spans, root)]
        assert names == [
            "prompt.render",
            "llm.call",
            "evaluator.contains",
            "evaluator.sections",
        ] or names == [
            "prompt.render",
            "llm.call",
            "evaluator.sections",
            "evaluator.contains",
        ]
        call = next(s for s in spans if s.name == "llm.call")
        assert call.duration_ms >= 50 and call.attributes["latency_ms"] >= 50
        assert call.attributes["model"] == "openai/fake-model" and call.attributes["attempts"] == 1
        assert call.attributes["prompt_tokens"] > 0 and call.attributes["completion_tokens"] > 0
        assert call.attributes["cached"] is False
        judge = next(s for s in spans if s.name == "evaluator.sections")
        assert judge.duration_ms >= 50 and 0 <= judge.attributes["score"] <= 1  # its own judge call
        render = next(s for s in spans if s.name == "prompt.render")
        assert render.end_ns <= call.start_ns
    shown = run_cli("runs", "show", run_id, "--row", "1", "--trace")
    assert shown.code == 0, shown
    lines = shown.out.splitlines()
    assert lines[1].startswith("workflow.prompt  ") and " ms  (+0.0 ms)" in lines[1]
    assert lines[2].startswith("├─ prompt.render  ")
    assert any(line.startswith("├─ llm.call  ") and "model=openai/fake-model" in line for line in lines)
    assert lines[5].startswith("└─ evaluator.")


def test_retries_failures_and_old_run_files(cake_eval: GitRepo, llm_server: LoopbackLLM) -> None:
    cake_eval.write("evals/cake.yaml", NO_JUDGE)
    llm_server.fail_next(503, 1)
    run_id = json.loads(run_cli("eval", "cake", "--no-cache", "--json").out)["run_id"]
    calls = [s for spans in run_traces(run_id) for s in spans if s.name == "llm.call"]
    assert sorted(c.attributes["retries"] for c in calls) == [0, 0, 0, 1]
    assert max(c.attributes["attempts"] for c in calls) == 2

    llm_server.fail_next(400, 1)  # not retryable: that row fails
    run_id = json.loads(run_cli("eval", "cake", "--no-cache", "--json", "-j", "1").out)["run_id"]
    failed = run_traces(run_id)[0]
    root = assert_nested(failed)
    assert root.status == "error" and "400" in (root.status_message or "")
    call = next(s for s in failed if s.name == "llm.call")
    assert call.status == "error" and call.attributes["exception.type"] == "ModelCallError"
    assert not [s for s in failed if s.name.startswith("evaluator.")]
    assert "ERROR" in run_cli("runs", "show", run_id, "--row", "1", "--trace").out

    from plg import config

    path = find_run(config.runs_dir(Path.cwd()), run_id)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps({k: v for k, v in d.items() if k != "spans"}) + "\n" for d in lines))
    old = run_cli("runs", "show", run_id, "--row", "2", "--trace")
    assert old.code == 0 and "no spans" in old.out
    assert run_cli("runs", "show", run_id, "--row", "2").code == 0


def test_custom_workflow_trace_has_evaluators_only(cake_eval: GitRepo, tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.jsonl"
    outputs.write_text("".join(json.dumps({"id": str(i), "output": "lemon"}) + "\n" for i in range(4)))
    cake_eval.write("evals/cake.yaml", NO_JUDGE)
    run_id = json.loads(run_cli("eval", "cake", "--outputs", str(outputs), "--json").out)["run_id"]
    spans = run_traces(run_id)[0]
    root = assert_nested(spans)
    assert root.name == "workflow.custom"
    assert [s.name for s in children_of(spans, root)] == ["evaluator.contains"]
    assert children_of(spans, root)[0].attributes["passed"] is True


def test_completion_workflow_root(repo: GitRepo) -> None:
    repo.write(
        "evals/chat.yaml",
        "dataset: rows.jsonl\nmodels: [plg/offline]\nscorers:\n  - type: contains\n    value: x\n",
    )
    repo.write("evals/rows.jsonl", json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    result = run_cli("eval", "--pipeline", "evals/chat.yaml", "--json")
    assert result.code == 0, result
    spans = run_traces(json.loads(result.out)["run_id"])[0]
    root = assert_nested(spans)
    assert root.name == "workflow.completion"
    assert [s.name for s in children_of(spans, root)] == ["messages.load", "llm.call", "evaluator.contains"]
