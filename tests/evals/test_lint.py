"""`plg lint` on a prompt whose front matter is broken: the problem is said once, as the prompt's error
(exit 1), not a second time as a pipeline that cannot run (exit 2)."""

from __future__ import annotations

import pytest

from tests.conftest import GitRepo, run_cli


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("---\ninputs: [a\n---\nhi", "malformed front matter"),
        ("---\n- a\n- b\n---\nhi", "front matter must be a mapping of keys, got list"),
        ("---\nmodel: [1]\n---\nhi", "front-matter key 'model'"),
        ("---\nmodel: plg/offline\nhi", "front matter opened with '---' is never closed"),
    ],
)
def test_broken_front_matter_is_reported_once_as_the_prompts_error(text: str, problem: str, repo: GitRepo) -> None:
    repo.write("prompts/topic.prompt", text)

    result = run_cli("lint")

    assert result.code == 1, result
    assert result.err.count(problem) == 1, result
    assert "eval pipelines" not in result.err
    assert result.err.strip().splitlines()[-1] == "plg: error: lint found 1 error(s)"


def test_every_problem_of_one_prompt_is_reported(repo: GitRepo) -> None:
    """An unknown front-matter key does not hide the undeclared variable below it (issue 28)."""
    repo.write("prompts/topic.prompt", "---\nmodle: gpt-4o\ninputs: [topic]\n---\nWrite about {{ topic }} for {{ reader }}")

    result = run_cli("lint")

    assert result.code == 1, result
    assert "unknown front-matter key 'modle'" in result.err, result
    assert "variable 'reader' is used but not declared in inputs" in result.err, result
    assert result.err.strip().splitlines()[-1] == "plg: error: lint found 2 error(s)"
