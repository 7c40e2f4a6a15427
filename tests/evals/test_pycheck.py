"""`plg lint` checks each pipeline's python evaluators without importing them: the file is inside the
repository, parses, defines the function at top level, and the function can take plg's call."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import TOPIC_PROMPT, GitRepo, run_cli


def _pipeline(function: str) -> str:
    return f"prompt: topic\ndataset: topics.csv\nscorers:\n  - type: python\n    name: judge\n    function: {function}\n"


@pytest.fixture
def topics(repo: GitRepo, tmp_path: Path) -> GitRepo:
    repo.write("prompts/topic.prompt", TOPIC_PROMPT)
    repo.write("evals/topics.csv", "topic\nowls\n")
    # importing this file would leave a mark: lint must never run it
    marker = tmp_path / "imported"
    repo.write(
        "evals/checks.py",
        f"open({str(marker)!r}, 'w').close()\n\n"
        "def good(output, row):\n    return row['topic'] in output\n\n"
        "def swapped(row, output, extra):\n    return True\n\n"
        "def flexible(output, *rest, strict=False, **options):\n    return 1.0\n\n"
        "def keyword_only(output, row, *, mode):\n    return 1.0\n\n"
        "async def one(output):\n    return 1.0\n\n"
        "def guessed(row, output):\n    return True\n",
    )
    repo.write("evals/broken.py", "def good(output, row)\n    return True\n")
    return repo


@pytest.mark.parametrize(
    ("function", "problem"),
    [
        ("checks.py:swapped", "needs 3 positional arguments (row, output, extra); plg calls it with (output, row)"),
        ("checks.py:missing", "no top-level function 'missing'"),
        ("checks.py:keyword_only", "keyword-only parameter 'mode' has no default"),
        ("checks.py:one", "takes (output); plg calls it with two arguments (output, row)"),
        ("nowhere.py:good", "file not found"),
        ("broken.py:good", "does not parse: line 1"),
        ("../../outside.py:good", "outside the repository"),
    ],
)
def test_lint_refuses_an_evaluator_plg_cannot_call(
    topics: GitRepo, tmp_path: Path, function: str, problem: str
) -> None:
    (tmp_path / "outside.py").write_text("def good(output, row):\n    return True\n")
    topics.write("evals/topic.yaml", _pipeline(function))
    result = run_cli("lint")
    assert result.code == 2, result
    line = next(line for line in result.err.splitlines() if problem in line)
    assert line.startswith("evals/topic.yaml: error: scorer 'judge'"), line
    assert function.rpartition(":")[2] in line
    assert not (tmp_path / "imported").exists()


@pytest.mark.parametrize("function", ["checks.py:good", "checks.py:flexible"])
def test_lint_passes_a_compatible_evaluator(topics: GitRepo, tmp_path: Path, function: str) -> None:
    topics.write("evals/topic.yaml", _pipeline(function))
    result = run_cli("lint")
    assert result.code == 0, result
    assert "0 error(s), 0 warning(s)" in result.out
    assert not (tmp_path / "imported").exists()


def test_lint_warns_of_arguments_that_look_swapped(topics: GitRepo) -> None:
    topics.write("evals/topic.yaml", _pipeline("checks.py:guessed"))
    result = run_cli("lint", "topic")
    assert result.code == 0, result
    assert "scorer 'judge' (checks.py:guessed): parameters (row, output) look swapped" in result.out


def test_lint_checks_pipelines_no_prompt_owns(topics: GitRepo) -> None:
    topics.write("evals/topic.yaml", _pipeline("checks.py:good"))
    topics.write("evals/spare.yaml", "dataset: topics.csv\nscorers:\n  - {type: python, function: 'checks.py:swapped'}\n")
    result = run_cli("lint")
    assert result.code == 2
    assert "evals/spare.yaml: error: scorer 'python' (checks.py:swapped): needs 3 positional" in result.err
    assert "evals/topic.yaml" not in result.err
