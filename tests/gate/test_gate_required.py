"""No gate, no move: a gated label whose gate is empty, unreadable or outside the repository is refused
(exit 2, naming the problem); only `--force --reason` moves it, and the move is recorded as forced."""

from __future__ import annotations

from pathlib import Path

from plg.registry.labels import label_state
from plg.registry.versions import Registry
from tests.conftest import GitRepo, run_cli
from tests.gate.test_gate import PROMPT

PIPELINE = """prompt: cake
dataset: datasets/cakes.csv
scorers:
  - type: contains
    value: "{{ cake_type }}"
"""


def _repo(repo: GitRepo, gate: str, eval_key: str = "") -> GitRepo:
    repo.write("evals/datasets/cakes.csv", "cake_type\nlemon\n")
    repo.write("evals/cake.yaml", PIPELINE + gate)
    text = PROMPT.format(quality="GOOD")
    if eval_key:
        text = text.replace("---\n", f"---\neval: {eval_key}\n", 1)
    repo.write_prompt("cake", text)
    return repo


def test_an_empty_production_gate_is_refused_and_only_force_moves_it(repo: GitRepo) -> None:
    _repo(repo, "gate:\n  production: {}\n")

    result = run_cli("promote", "cake", "--label", "production")

    assert result.code == 2, result
    assert "production` gate in evals/cake.yaml has no check" in result.err
    assert repo.git("tag") == ""
    forced = run_cli("promote", "cake", "--label", "production", "--force", "--reason", "bootstrapping")
    assert forced.code == 0, forced
    move = label_state(Registry(repo.path), "cake", "production").history[-1]  # type: ignore[union-attr]
    assert move.forced and move.reason == "bootstrapping"


def test_an_empty_staging_gate_is_refused_too(repo: GitRepo) -> None:
    _repo(repo, "gate:\n  staging: {max_error_rate: 0.1}\n")

    result = run_cli("promote", "cake", "--label", "staging")

    assert result.code == 2 and "has no check" in result.err, result
    assert repo.git("tag") == ""


def test_an_eval_key_outside_the_repository_does_not_move_a_gated_label(repo: GitRepo, tmp_path: Path) -> None:
    """Before: the outside path's error was swallowed and staging moved with no gate at all."""
    (tmp_path / "soft.yaml").write_text(
        PIPELINE.replace("datasets/", "repo/evals/datasets/") + "gate:\n  staging: {min_score: 0.9}\n"
    )
    _repo(repo, "gate:\n  staging: {min_score: 0.9}\n", eval_key="../soft.yaml")

    result = run_cli("promote", "cake", "--label", "staging")

    assert result.code == 2, result
    assert "outside the repository" in result.err and len(result.err.strip().splitlines()) == 1, result
    assert repo.git("tag") == ""


def test_an_eval_key_naming_a_missing_file_is_refused(repo: GitRepo) -> None:
    _repo(repo, "gate:\n  staging: {min_score: 0.0}\n", eval_key="evals/gone.yaml")

    result = run_cli("promote", "cake", "--label", "staging")

    assert result.code == 2 and "eval: evals/gone.yaml" in result.err, result
    assert repo.git("tag") == ""

