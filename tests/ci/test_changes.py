"""Which prompts a change touches: the prompt file, or anything its scores are computed from."""

from __future__ import annotations

import pytest

from plg.ci.changes import changed_prompts
from plg.registry.versions import Registry
from tests.conftest import GitRepo

PROMPT = """---
model: plg/offline
inputs:
  topic: string
{extra}---
Tell me about {{{{ topic }}}}.
"""

PIPELINE = """dataset: datasets/{name}.csv
scorers:
  - type: python
    function: checks/score.py:score
  - type: json
    schema_file: schemas/answer.json
gate:
  production:
    backtest: {{history: evals/history/{name}-prod.jsonl, min_similarity: 0.5}}
"""


@pytest.fixture
def tree(repo: GitRepo) -> GitRepo:
    for name in ("alpha", "team/beta"):
        flat = name.replace("/", "-")
        repo.write(f"prompts/{name}.prompt", PROMPT.format(extra=f"eval: evals/{flat}.yaml\n"))
        repo.write(f"evals/{flat}.yaml", PIPELINE.format(name=flat))
        repo.write(f"evals/datasets/{flat}.csv", "topic\nsea\n")
        repo.write(
            f"evals/history/{flat}-prod.jsonl", '{"input_variables": {"topic": "sea"}, "output": "x"}\n'
        )
    repo.write("evals/checks/score.py", "def score(output, row):\n    return 1.0\n")
    repo.write("evals/schemas/answer.json", "{}\n")
    repo.write("prompts/gamma.prompt", PROMPT.format(extra=""))
    repo.write("docs/notes.md", "hello\n")
    repo.commit("start")
    return repo


def changed(repo: GitRepo, base: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    return {c.name: (c.status, c.paths) for c in changed_prompts(Registry(repo.path), base)}


def test_each_input_of_a_prompt_marks_it_changed(tree: GitRepo) -> None:
    cases = {
        "evals/datasets/alpha.csv": {"alpha"},
        "evals/team-beta.yaml": {"team/beta"},
        "evals/history/team-beta-prod.jsonl": {"team/beta"},
        "evals/checks/score.py": {"alpha", "team/beta"},
        "evals/schemas/answer.json": {"alpha", "team/beta"},
        "docs/notes.md": set(),
    }
    for path, expected in cases.items():
        base = tree.git("rev-parse", "HEAD")
        tree.write(path, (tree.path / path).read_text() + "\n# edited\n")
        tree.commit(f"edit {path}")
        found = changed(tree, base)
        assert set(found) == expected, path
        assert all(status == "inputs" and path in paths for status, paths in found.values())


def test_prompt_files_added_removed_and_renamed(tree: GitRepo) -> None:
    base = tree.git("rev-parse", "HEAD")
    tree.write("prompts/delta.prompt", "A brand new prompt about nothing in particular.\n")
    tree.git("rm", "-q", "prompts/gamma.prompt")
    tree.git("mv", "prompts/alpha.prompt", "prompts/alpha2.prompt")
    tree.commit("reshuffle")
    found = changed(tree, base)
    assert found["delta"][0] == "added"
    assert found["gamma"][0] == "removed"
    assert found["alpha2"] == ("renamed", ("prompts/alpha.prompt", "prompts/alpha2.prompt"))


def test_nothing_changed_is_empty(tree: GitRepo) -> None:
    head = tree.git("rev-parse", "HEAD")
    assert changed(tree, head) == {}
