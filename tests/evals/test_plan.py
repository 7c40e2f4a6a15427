"""An eval that cannot judge anything is refused before any row runs: a pipeline with no scorers (before:
exit 0 with nothing scored, or a threshold failing on '-') and an empty prompt (before: every row sent to
the model with no message, then judged, exit 1)."""

from __future__ import annotations

from tests.conftest import GitRepo, commit_topic_eval, run_cli

PIPELINE = """prompt: topic
dataset: topics.csv
scorers: []
"""


def test_a_pipeline_with_no_scorers_is_bad_input(repo: GitRepo) -> None:
    commit_topic_eval(repo, PIPELINE, "topic\nowls\n")

    evaluated = run_cli("eval", "topic")
    by_path = run_cli("eval", "topic", "--pipeline", "evals/topic.yaml")
    linted = run_cli("lint")

    for result in (evaluated, by_path):
        assert result.code == 2, result
        assert result.err.startswith("plg: error: ") and result.err.count("\n") == 1, result
        assert "evals/topic.yaml: no scorers" in result.err and "rows/s" not in result.err
    assert linted.code == 2 and "evals/topic.yaml: error: no scorers" in linted.err, linted


def test_an_empty_prompt_sends_nothing(repo: GitRepo, tmp_path) -> None:  # type: ignore[no-untyped-def]
    commit_topic_eval(repo, PIPELINE.replace("scorers: []", "scorers: [{type: contains, value: x}]"), "topic\nowls\n")
    repo.write("prompts/topic.prompt", "---\nmodel: plg/offline\n---\n")

    evaluated = run_cli("eval", "topic")
    batched = run_cli("batch", "topic", "--dataset", "evals/topics.csv", "-o", str(tmp_path / "out.csv"))

    for result in (evaluated, batched):
        assert result.code == 2, result
        assert result.err == "plg: error: prompts/topic.prompt: the template is empty: there is no message to send\n"


def test_an_empty_model_name_is_bad_input(repo: GitRepo) -> None:
    """Before: `--model ''` ran every row against a model named '' and judged them (exit 1)."""
    commit_topic_eval(repo, PIPELINE.replace("scorers: []", "scorers: [{type: contains, value: x}]"), "topic\nowls\n")

    for name in ("", "gpt 4o"):
        result = run_cli("eval", "topic", "--model", name)
        assert result.code == 2, result
        assert result.err == f"plg: error: --model {name!r} is not a model name (one word, such as gpt-4o-mini or plg/offline)\n"
