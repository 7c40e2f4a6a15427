from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from plg import Client, current_span
from plg.errors import ModelCallError
from plg.evals.runs import find_run, latest_rows
from plg.log.store import SQLiteLogStore
from plg.tracing.spans import Span
from tests.conftest import CAKE_V1, GitRepo, run_cli
from tests.evals.test_engine import ISSUE_PIPELINE
from tests.loopback_llm import LoopbackLLM

NO_JUDGE = ISSUE_PIPELINE.split("  - type: llm_judge")[0] + "threshold:\n  min_score: 0.0\n"


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
        assert judge.duration_ms >= 50 and 0 <= judge.attributes["score"] <= 1
        (judge_call,) = children_of(spans, judge)  # the judge's own model call
        assert judge_call.name == "llm.call" and judge_call.duration_ms >= 50
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
    path.write_text("".join(json.dumps({k: v for k, v in d.items() if k not in ("spans", "trace")}) + "\n" for d in lines))
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


# -- SDK tracing ---------------------------------------------------------------------------------


@pytest.fixture
def app_repo(repo: GitRepo) -> GitRepo:
    repo.write_prompt("cake", CAKE_V1)
    return repo


def log_store() -> SQLiteLogStore:
    return SQLiteLogStore(Path(os.environ["PLG_LOG"]))


def test_traced_function_calling_run_twice_is_one_trace(app_repo: GitRepo, llm_server: LoopbackLLM) -> None:
    llm_server.set_latency(0.03)
    client = Client(app_repo.path, enable_tracing=True)

    @client.traceable
    def plan_party(kinds: list[str]) -> list[str]:
        return [client.run("cake", {"cake_type": k}, model="openai/fake-model")["request_id"] for k in kinds]

    first, second = plan_party(["lemon", "plum"])
    store = log_store()
    a, b = store.get(first), store.get(second)
    assert a.trace_id is not None and a.trace_id == b.trace_id and a.span_id != b.span_id
    spans = store.trace(a.trace_id)
    root = assert_nested(spans)
    assert root.name.endswith("plan_party") and root.status == "unset"
    runs = children_of(spans, root)
    assert [s.name for s in runs] == ["plg.run", "plg.run"]
    assert [s.attributes["plg.request_id"] for s in runs] == [first, second]
    assert [s.span_id for s in runs] == [a.span_id, b.span_id]
    for run in runs:
        assert [s.name for s in children_of(spans, run)] == ["prompt.render", "llm.call"]
        call = children_of(spans, run)[1]
        assert call.duration_ms >= 30 and call.attributes["model"] == "openai/fake-model"
        assert call.kind == "client" and call.attributes["completion_tokens"] > 0
    assert runs[0].end_ns <= runs[1].start_ns

    shown = run_cli("logs", "show", second[:10], "--trace")
    assert shown.code == 0, shown
    lines = shown.out.splitlines()
    assert lines[0].startswith(f"trace {a.trace_id}  request {second}")
    assert lines[1].startswith("test_traced_function_calling_run_twice_is_one_trace.<locals>.plan_party  ")
    assert lines[2].startswith("├─ plg.run  ") and lines[5].startswith("└─ plg.run  <-  ")
    assert lines[3].startswith("│  ├─ prompt.render  ") and lines[7].startswith("   └─ llm.call  ")
    assert f"trace:    {a.trace_id} span {a.span_id}" in run_cli("logs", "show", first).out
    as_json = json.loads(run_cli("logs", "show", first, "--trace", "--json").out)
    assert len(as_json) == 7


def test_async_tasks_keep_their_own_traces_and_nesting(app_repo: GitRepo) -> None:
    client = Client(app_repo.path, enable_tracing=True)

    @client.traceable(name="lookup")
    async def lookup(kind: str) -> str:
        await asyncio.sleep(0.02)
        return kind

    @client.traceable(name="handle", attributes={"kind": "x"})
    async def handle(kind: str) -> str:
        found = await lookup(kind)
        await asyncio.sleep(0.01)
        return (await client.arun("cake", {"cake_type": found}))["request_id"]

    async def main() -> list[str]:
        return await asyncio.gather(handle("lemon"), handle("plum"), handle("fig"))

    ids = asyncio.run(main())
    store = log_store()
    records = [store.get(i) for i in ids]
    assert len({r.trace_id for r in records}) == 3
    for record in records:
        spans = store.trace(record.trace_id)
        root = assert_nested(spans)
        assert root.name == "handle" and root.duration_ms >= 30
        assert [s.name for s in children_of(spans, root)] == ["lookup", "plg.run"]
        run = children_of(spans, root)[1]
        assert run.attributes["plg.request_id"] == record.id
        assert len(spans) == 5  # handle, lookup, plg.run, prompt.render, llm.call: nothing from the others


def test_exception_marks_span_error_scrubbed_and_reraises(app_repo: GitRepo, llm_server: LoopbackLLM) -> None:
    client = Client(app_repo.path, enable_tracing=True)

    @client.traceable(name="charge")
    def charge() -> None:
        raise ValueError("card declined for key sk-live-abcdefghijklmnop")

    with pytest.raises(ValueError, match="card declined"):
        charge()
    (span,) = log_store()._conn.execute("SELECT trace_id FROM spans WHERE name = 'charge'").fetchall()
    (charged,) = log_store().trace(span[0])
    assert charged.status == "error" and charged.attributes["exception.type"] == "ValueError"
    assert charged.status_message == "ValueError: card declined for key [REDACTED]"

    llm_server.fail_next(400)

    @client.traceable(name="ask")
    def ask() -> None:
        client.run("cake", {"cake_type": "x"}, model="openai/fake-model")

    with pytest.raises(ModelCallError) as raised:
        ask()
    record = log_store().get(raised.value.request_id or "")
    spans = log_store().trace(record.trace_id or "")
    by_name = {s.name: s for s in spans}
    assert by_name["prompt.render"].status == "unset"
    assert by_name["ask"].status == by_name["plg.run"].status == by_name["llm.call"].status == "error"
    assert by_name["plg.run"].attributes["plg.request_id"] == record.id
    assert "ERROR" in run_cli("logs", "show", record.id, "--trace").out


def test_span_attributes_become_request_metadata(app_repo: GitRepo) -> None:
    client = Client(app_repo.path, enable_tracing=True)

    @client.traceable(
        attributes={"user.id": "u-7", "gen_ai.conversation.id": "conv-1"}, metadata={"tenant": "acme"}
    )
    def conversation() -> str:
        return turn()

    @client.traceable
    def turn() -> str:
        span = current_span()
        assert span is not None
        span.set_attribute("plg.metadata.plan", "pro")
        return client.run("cake", {"cake_type": "x"}, metadata={"tenant": "override"})["request_id"]

    record = log_store().get(conversation())
    assert record.metadata == {
        "user_id": "u-7",
        "conversation_id": "conv-1",
        "plan": "pro",
        "tenant": "override",
    }
    listed = run_cli("logs", "--meta", "user_id=u-7", "--meta", "conversation_id=conv-1", "--json")
    assert [r["request_id"] for r in json.loads(listed.out)] == [record.id]


def test_tracing_off_by_default(app_repo: GitRepo) -> None:
    client = Client(app_repo.path)

    @client.traceable(name="quiet")
    def quiet() -> str:
        assert current_span() is None
        return client.run("cake", {"cake_type": "x"})["request_id"]

    record = log_store().get(quiet())
    assert record.trace_id is None and record.span_id is None
    assert log_store()._conn.execute("SELECT count(*) FROM spans").fetchone() == (0,)
    assert "was not traced" in run_cli("logs", "show", record.id, "--trace").out
    assert "trace:" not in run_cli("logs", "show", record.id).out


def test_spans_reach_the_log_when_the_root_ends_or_in_batches(app_repo: GitRepo) -> None:
    client = Client(app_repo.path, enable_tracing=True)

    def stored() -> int:
        return int(log_store()._conn.execute("SELECT count(*) FROM spans").fetchone()[0])

    with client.span("worker", {"queue": "cakes"}) as worker:
        assert worker is not None and current_span() is worker
        for i in range(70):
            with client.span("job", {"i": i}):
                pass
        assert stored() == 64  # a long-lived root does not hold every span until it ends
    assert stored() == 71 and current_span() is None
    spans = log_store().trace(worker.trace_id)
    root = assert_nested(spans)
    assert root.name == "worker" and [s.attributes["i"] for s in children_of(spans, root)] == list(range(70))
    with Client(app_repo.path).span("off") as off:
        off.set_attribute("still", "fine")
        assert current_span() is None


def test_the_first_model_call_of_a_process_times_the_call_not_litellms_import(
    app_repo: GitRepo, llm_server: LoopbackLLM
) -> None:
    """A fresh process's first `llm.call` span had lasted litellm's import (2.5-3.8 s) while its
    latency_ms said ~100 (issue 28): the import now happens before the span opens."""
    import subprocess
    import sys

    llm_server.set_latency(0.05)
    script = (
        "import sys\nfrom plg import Client\n"
        "client = Client(sys.argv[1], enable_tracing=True)\n"
        "print(client.run('cake', {'cake_type': 'lemon'}, model='openai/fake-model')['request_id'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(app_repo.path)], capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    record = log_store().get(done.stdout.strip())
    assert record.trace_id is not None
    spans = log_store().trace(record.trace_id)
    call = next(s for s in spans if s.name == "llm.call")
    run = next(s for s in spans if s.name == "plg.run")
    assert call.attributes["latency_ms"] >= 50
    assert call.duration_ms < call.attributes["latency_ms"] + 500, (call.duration_ms, call.attributes)
    assert run.duration_ms > call.duration_ms  # the import is still inside the request, before the call
