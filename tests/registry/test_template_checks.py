"""Templates that can never render in the sandbox (loading other files, names starting with '_') are refused
when they compile: `plg render` and `plg eval` exit 2 with one line naming the file and line, before any
row runs, and `plg lint` reports them. Before, lint passed them and `plg eval` judged every row an error
(exit 1), as if the prompt had been tried and found wanting."""

from __future__ import annotations

import pytest

from tests.conftest import TOPIC_PIPELINE, TOPIC_PROMPT, GitRepo, commit_topic_eval, run_cli

PIPELINE = TOPIC_PIPELINE

REFUSED = {
    "{{ ''.__class__.__mro__ }}": "'__class__' is not accessible",
    "{{ ''|attr('__class__') }}": "'__class__' is not accessible",
    "{{ topic['__init__'] }}": "'__init__' is not accessible",
    "{% include 'other.prompt' %}": "{% include %} is not available",
    "{% import 'os' as os %}": "{% import %} is not available",
    "{% from 'x' import y %}": "{% from ... import %} is not available",
    "{% extends '/etc/passwd' %}": "{% extends %} is not available",
}


@pytest.mark.parametrize("body", list(REFUSED))
def test_template_that_cannot_render_is_refused_at_compile_time(body: str, repo: GitRepo) -> None:
    commit_topic_eval(repo, PIPELINE, "topic\nowls\nbees\n")
    repo.write("prompts/topic.prompt", TOPIC_PROMPT.replace("Tell me about", body + " Tell me about"))
    expected = f"prompts/topic.prompt, line 7: {REFUSED[body]}"

    rendered = run_cli("render", "topic", "-v", "topic=owls")
    evaluated = run_cli("eval", "topic")
    linted = run_cli("lint", "topic")

    for result in (rendered, evaluated):
        assert result.code == 2, result
        assert result.err.startswith("plg: error: ") and result.err.count("\n") == 1, result
        assert expected in result.err, result
    assert "rows/s" not in evaluated.err, "rows were run with a template that cannot render"
    assert linted.code == 1 and f"prompts/topic.prompt: error: line 7: {REFUSED[body]}" in linted.err, linted


def test_ordinary_attribute_and_item_access_still_render(repo: GitRepo, tmp_path) -> None:  # type: ignore[no-untyped-def]
    repo.write(
        "prompts/topic.prompt",
        TOPIC_PROMPT.replace("{{ topic }}", "{{ topic.upper() }} {{ topic[0] }} {{ meta._id }} {{ meta['_src'] }}"),
    )
    variables = tmp_path / "vars.json"
    variables.write_text('{"topic": "owls", "meta": {"_id": "r7", "_src": "web"}}')

    result = run_cli("render", "topic", "--vars", str(variables))

    assert result.code == 0 and "Tell me about OWLS o r7 web." in result.out, result
