"""The gate decides on committed files only, and a python scorer's identity covers what it loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from plg.ci.changes import changed_prompts
from plg.evals.pycheck import scorer_dependencies
from plg.registry.versions import Registry
from tests.conftest import CAKE_V1, GitRepo, run_cli

PIPELINE = """prompt: cake
dataset: datasets/cakes.csv
scorers:
  - type: python
    function: checks.py:score
  - type: contains
    value: "{{{{ cake_type }}}}"
gate:
  production: {{min_score: {bar}}}
"""

CHECKS = """import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
sys.modules.pop("rules", None)
import rules  # noqa: E402


def score(output, row):
    return rules.SCORE
"""


@pytest.fixture
def gated(repo: GitRepo) -> GitRepo:
    """A cake prompt whose gate fails as committed: the python scorer gives 0 and the bar is 0.9."""
    repo.write("prompts/cake.prompt", CAKE_V1)
    repo.write("evals/cake.yaml", PIPELINE.format(bar=0.9))
    repo.write("evals/checks.py", CHECKS)
    repo.write("evals/rules.py", "SCORE = 0.0\n")
    repo.write("evals/datasets/cakes.csv", "cake_type\nlemon\ncarrot\n")
    repo.commit("cake with a strict gate")
    return repo


def promote() -> object:
    return run_cli("promote", "cake", "--label", "production")


@pytest.mark.parametrize(
    ("path", "softened"),
    [
        ("evals/cake.yaml", PIPELINE.format(bar=0.0)),
        ("evals/rules.py", "SCORE = 1.0\n"),
        ("evals/checks.py", "def score(output, row):\n    return 1.0\n"),
    ],
)
def test_an_uncommitted_softening_is_refused_and_named(gated: GitRepo, path: str, softened: str) -> None:
    gated.write(path, softened)
    for args in (("--dry-run",), ()):
        result = run_cli("promote", "cake", "--label", "production", *args)
        assert result.code == 2, result
        assert path in result.err and "not committed" in result.err
    assert "production" not in gated.git("tag", "--list")
    gated.git("add", path)  # staged is not committed either
    assert promote().code == 2


def test_an_uncommitted_dataset_is_refused(gated: GitRepo) -> None:
    gated.write("evals/rules.py", "SCORE = 1.0\n")
    gated.write("evals/cake.yaml", PIPELINE.format(bar=0.9).replace("cakes.csv", "easy.csv"))
    gated.commit("a pass, on a new dataset")
    gated.write("evals/datasets/easy.csv", "cake_type\nlemon\n")  # untracked, and read
    result = promote()
    assert result.code == 2 and "evals/datasets/easy.csv" in result.err, result
    gated.commit("the dataset too")
    assert promote().code == 0


def test_a_change_to_what_the_scorer_imports_is_a_new_identity(gated: GitRepo) -> None:
    gated.write("evals/rules.py", "SCORE = 1.0\n")
    gated.commit("lenient rules")
    recorded = run_cli("eval", "cake", "--record")
    assert recorded.code == 0, recorded
    base = gated.git("rev-parse", "HEAD")
    gated.write("evals/rules.py", "SCORE = 0.0\n")
    gated.commit("strict rules again")
    result = promote()
    assert result.code == 1, result  # judged again under the strict rules, not the recorded pass reused
    changed = changed_prompts(Registry(gated.path), base)
    assert [c.name for c in changed] == ["cake"] and "evals/rules.py" in changed[0].paths


def test_scorer_dependencies_follow_imports_through_the_repository(tmp_path: Path) -> None:
    (tmp_path / "evals").mkdir()
    (tmp_path / "lib" / "deep").mkdir(parents=True)
    (tmp_path / "evals" / "checks.py").write_text("from lib import rules\nimport json\n")
    (tmp_path / "evals" / "words.txt").write_text("data the scorer opens\n")
    (tmp_path / "lib" / "__init__.py").write_text("")
    (tmp_path / "lib" / "rules.py").write_text("from .deep import more\n")
    (tmp_path / "lib" / "deep" / "__init__.py").write_text("")
    (tmp_path / "lib" / "deep" / "more.py").write_text("X = 1\n")
    (tmp_path / "lib" / "unused.py").write_text("")
    found = {p.relative_to(tmp_path).as_posix() for p in scorer_dependencies(tmp_path / "evals/checks.py", tmp_path)}
    assert found == {"evals/words.txt", "lib/__init__.py", "lib/rules.py", "lib/deep/__init__.py", "lib/deep/more.py"}


def test_an_ignored_file_the_gate_reads_is_not_committed_either(gated: GitRepo) -> None:
    gated.write(".gitignore", "evals/datasets/local.csv\n")
    gated.write("evals/cake.yaml", PIPELINE.format(bar=0.0).replace("cakes.csv", "local.csv"))
    gated.commit("a dataset nobody can review")
    gated.write("evals/datasets/local.csv", "cake_type\nlemon\n")
    result = promote()
    assert result.code == 2 and "evals/datasets/local.csv" in result.err, result
