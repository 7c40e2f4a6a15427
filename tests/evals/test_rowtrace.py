from __future__ import annotations

import json
from pathlib import Path

from plg.evals.rowtrace import pack, unpack
from plg.evals.runs import RowRecord, ScoreRecord, find_run, read_run
from plg.tracing import spans as tracing
from plg.tracing.spans import Span
from tests.conftest import TOPIC_PROMPT, GitRepo, run_cli


def _row(**changes: object) -> RowRecord:
    fields: dict[str, object] = dict(
        row_index=4,
        row_id="r5",
        model="openai/fake-model",
        repeat=0,
        variables={"cake_type": "lemon"},
        messages=[{"role": "user", "content": "a lemon cake"}],
        output="Overview ...",
        error=None,
        latency_s=0.0123456,
        prompt_tokens=7,
        completion_tokens=98,
        cost=None,
        cached=False,
        attempts=2,
        scores=(ScoreRecord("contains", 1.0, True), ScoreRecord("sections", 0.5, False, "found 1 of 2", weight=2.0)),
        score=0.6666666667,
        passed=False,
    )
    fields.update(changes)
    return RowRecord(**fields)  # type: ignore[arg-type]


def _record(row: RowRecord) -> list[Span]:
    """The spans the engine records for `row`, made with the real tracing API, plus a few it never
    derives: a custom attribute, an error status and the judge's own (nested) model call."""
    collected: list[Span] = []
    sink = collected.append
    root_attrs = {"row": 5, "row_id": "r5", "model": row.model, "repeat": 0, "prompt": "cake", "version": 3}
    with tracing.span("workflow.prompt", sink, root_attrs, new_trace=True) as root:
        with tracing.span("prompt.render", sink) as step:
            step.set_attribute("messages", 1)
        with tracing.model_call_span(row.model) as note:
            note(row)
        for score in row.scores:
            with tracing.span(f"evaluator.{score.name}", sink, {"weight": score.weight}) as active:
                if score.name == "sections":
                    with tracing.child_span("llm.call", {"model": "openai/judge", "latency_ms": 3.5}, kind="client"):
                        pass
                    active.set_status("error", "judge said no")
                    active.set_attribute("custom", "kept")
                active.set_attributes(tracing.evaluator_attributes(score, score.weight))
        root.set_attributes({"score": round(row.score or 0, 6), "passed": row.passed})
    return collected


def _shape(spans: list[Span]) -> list[tuple[object, ...]]:
    names = {s.span_id: s.name for s in spans}
    return sorted(
        (s.name, names.get(s.parent_id or ""), s.start_ns, s.end_ns, sorted(s.attributes.items()), s.status,
         s.status_message, s.kind, s.trace_id)
        for s in spans
    )


def test_compact_trace_comes_back_as_recorded_through_json() -> None:
    row = _row()
    recorded = _record(row)
    stored = json.loads(json.dumps(pack(recorded, row)))
    back = unpack(stored, row)
    assert _shape(back) == _shape(recorded)
    assert len({s.span_id for s in back}) == len(back) and all(len(s.span_id) == 16 for s in back)
    assert len(json.dumps(stored)) < len(json.dumps([s.to_json() for s in recorded])) / 3


def test_compact_trace_keeps_attributes_the_row_disagrees_with() -> None:
    row = _row()
    recorded = _record(row)
    # a row edited after the fact (grades merged) must not rewrite what the spans said at the time
    stored = pack(recorded, row)
    regraded = _row(scores=(ScoreRecord("contains", 0.0, False), row.scores[1]), score=0.1, passed=False)
    back = {s.name: s for s in unpack(stored, regraded) if s.parent_id is not None}
    assert back["evaluator.contains"].attributes["score"] == 0.0  # derived from the row that is read
    assert _shape(unpack(stored, row)) == _shape(recorded)


def test_plain_prompt_rows_stay_under_1_kb_and_export(repo: GitRepo, tmp_path: Path) -> None:
    repo.write("prompts/cake.prompt", TOPIC_PROMPT)
    repo.write("evals/cake.yaml", "prompt: cake\ndataset: cakes.csv\nscorers:\n  - type: contains\n    value: '{{ topic }}'\n")
    repo.write("evals/cakes.csv", "topic\nlemon cake\nplum tart\n")
    repo.commit("cake")
    result = run_cli("eval", "cake", "--json")
    assert result.code == 0, result
    run_id = json.loads(result.out)["run_id"]
    from plg import config

    path = find_run(config.runs_dir(Path.cwd()), run_id)
    lines = path.read_text().splitlines()[1:]
    assert len(lines) == 2 and all(len(line.encode()) <= 1024 for line in lines)
    _, rows = read_run(path)
    traces = [row.trace() for row in rows]
    assert [sorted(s.name for s in t) for t in traces] == [
        ["evaluator.contains", "llm.call", "prompt.render", "workflow.prompt"]
    ] * 2
    call = next(s for s in traces[0] if s.name == "llm.call")
    assert call.kind == "client" and call.attributes["completion_tokens"] > 0
    shown = run_cli("runs", "show", run_id, "--row", "2", "--trace")
    assert shown.code == 0 and "├─ llm.call" in shown.out and "row=2" in shown.out
    out = tmp_path / "otlp.json"
    exported = run_cli("runs", "export", run_id, "--otlp", str(out))
    assert exported.code == 0 and "wrote 8 span(s) in 2 trace(s)" in exported.out


def test_exported_rows_keep_every_field_and_the_full_span_tree(repo: GitRepo, tmp_path: Path) -> None:
    repo.write("prompts/cake.prompt", TOPIC_PROMPT)
    repo.write("evals/cake.yaml", "prompt: cake\ndataset: cakes.csv\nscorers:\n  - type: contains\n    value: '{{ topic }}'\n")
    repo.write("evals/cakes.csv", "topic\nlemon cake\n")
    repo.commit("cake")
    out = tmp_path / "report.json"
    assert run_cli("eval", "cake", "-o", str(out)).code == 0
    (row,) = json.loads(out.read_text())["rows"]
    assert row["error"] is None and row["expected_output"] is None and row["cached"] is False
    assert row["scores"][0]["weight"] == 1.0 and "trace" not in row
    spans = [Span.from_json(s) for s in row["spans"]]
    assert sorted(s.name for s in spans) == ["evaluator.contains", "llm.call", "prompt.render", "workflow.prompt"]


def test_a_row_is_numbered_one_way_and_only_a_datasets_id_is_an_id(repo: GitRepo) -> None:
    """The trace said `row=1 row_id=0` for a dataset without an id column, and the viewer printed the 0
    under the row's number 1 (issue 28): a position is the 1-based row, an id is the dataset's own."""
    from plg import config
    from plg.view.links import Links
    from plg.view.runpages import GridFilters
    from plg.view.site import Site

    repo.write("prompts/topic.prompt", TOPIC_PROMPT)
    repo.write("evals/topic.yaml", "prompt: topic\ndataset: topics.csv\nscorers:\n  - type: contains\n    value: x\n")
    repo.write("evals/topics.csv", "topic\nowls\nbees\n")
    repo.write("evals/named.yaml", "prompt: topic\ndataset: named.csv\nscorers:\n  - type: contains\n    value: x\n")
    repo.write("evals/named.csv", "id,topic\nowl-1,owls\n")
    repo.commit("topic")
    run_id = json.loads(run_cli("eval", "topic", "--json").out)["run_id"]
    named = json.loads(run_cli("eval", "--pipeline", "evals/named.yaml", "--json").out)["run_id"]

    traced = run_cli("runs", "show", run_id, "--row", "1", "--trace").out
    html, _ = Site(repo.path, repo.path / "none.db", config.runs_dir(Path.cwd())).run(
        Links(), run_id, 0, GridFilters()
    )

    assert "row=1" in traced and "row_id" not in traced, traced
    assert '<div class="dim small">0</div>' not in html and '<div class="dim small">1</div>' not in html
    assert "row_id=owl-1" in run_cli("runs", "show", named, "--row", "1", "--trace").out
