from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from plg.errors import InvalidName, LabelMoved, Refused
from plg.gate.promotion import promote
from plg.registry.labels import execute_move, label_state, list_labels, plan_move, push_label
from plg.registry.versions import Registry
from tests.conftest import GitRepo, git


def three_versions(repo: GitRepo) -> list[str]:
    return [repo.write_prompt("cake", f"Cake take {n} for {{{{ who }}}}") for n in (1, 2, 3)]


def test_promote_creates_annotated_tag_with_who_when_why(repo: GitRepo) -> None:
    commits = three_versions(repo)
    registry = Registry(repo.path)
    promote(registry, "cake@2", "stable", reason="judge score up")
    assert repo.git("cat-file", "-t", "prompts/cake@stable") == "tag"
    assert repo.git("rev-parse", "prompts/cake@stable^{commit}") == commits[1]
    message = repo.git("cat-file", "-p", "prompts/cake@stable")
    assert "tagger Ada Tester <ada@example.com>" in message
    assert "Reason: judge score up" in message
    assert registry.get("cake", label="stable").version == 2


def test_history_records_every_move(repo: GitRepo) -> None:
    three_versions(repo)
    registry = Registry(repo.path)
    promote(registry, "cake@1", "stable")
    promote(registry, "cake@3", "stable", reason="ship it")
    promote(registry, "cake@2", "staging")
    (production, staging) = list_labels(registry, "cake")
    assert production.label == "stable" and production.version == 3
    moves = [(m.from_version, m.to_version, m.reason, m.who) for m in production.history]
    assert moves == [
        (None, 1, "", "Ada Tester <ada@example.com>"),
        (1, 3, "ship it", "Ada Tester <ada@example.com>"),
    ]
    assert [m.to_version for m in staging.history] == [2]


def test_default_target_is_latest_committed_and_dirty_file_is_refused(repo: GitRepo) -> None:
    commits = three_versions(repo)
    registry = Registry(repo.path)
    promote(registry, "cake", "stable")
    assert label_state(registry, "cake", "stable").commit == commits[2]  # type: ignore[union-attr]
    repo.write("prompts/cake.prompt", "uncommitted edit")
    with pytest.raises(Refused, match="uncommitted changes: commit them first"):
        promote(Registry(repo.path), "cake", "staging")
    promote(Registry(repo.path), "cake@2", "staging")  # an explicit committed ref is fine


def test_dry_run_moves_nothing(repo: GitRepo) -> None:
    three_versions(repo)
    result = promote(Registry(repo.path), "cake@2", "stable", dry_run=True)
    assert not result.moved and "would move" in result.lines[0]
    assert label_state(Registry(repo.path), "cake", "stable") is None


def test_compare_and_swap_loses_no_update(repo: GitRepo) -> None:
    three_versions(repo)
    registry = Registry(repo.path)
    promote(registry, "cake@1", "stable")
    slow = plan_move(registry, "cake", "stable", registry.get("cake", version=2))
    fast = plan_move(registry, "cake", "stable", registry.get("cake", version=3))
    execute_move(registry, fast)
    with pytest.raises(LabelMoved, match="moved while this command ran"):
        execute_move(registry, slow)
    state = label_state(Registry(repo.path), "cake", "stable")
    assert state is not None and state.version == 3
    assert [m.to_version for m in state.history] == [1, 3]


def test_concurrent_promote_processes_record_every_winner(repo: GitRepo) -> None:
    three_versions(repo)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "plg.cli", "promote", f"cake@{n}", "--label", "stable"],
            cwd=repo.path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in (1, 2, 3, 1, 2, 3)
    ]
    results = [(p.wait(), p.communicate()) for p in procs]
    codes = [code for code, _ in results]
    assert set(codes) <= {0, 1}, results
    for code, (_, err) in results:
        if code == 1:
            assert "moved while this command ran" in err
    state = label_state(Registry(repo.path), "cake", "stable")
    assert state is not None
    moved = [r for r in results if r[0] == 0 and "moved" in r[1][0]]
    assert len(state.history) == len(moved) >= 1


@pytest.mark.parametrize(
    "label", ["12", "v3", "HEAD", "../../config", "a..b", "bad label", "x\ny", "-rf", "a@{1}"]
)
def test_bad_label_names_are_refused(repo: GitRepo, label: str) -> None:
    three_versions(repo)
    with pytest.raises(InvalidName):
        promote(Registry(repo.path), "cake@1", label)
    assert repo.git("tag") == ""


def test_label_history_survives_push_and_clone(repo: GitRepo, tmp_path: Path) -> None:
    three_versions(repo)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    repo.git("remote", "add", "origin", str(remote))
    repo.git("push", "-q", "origin", "main")
    promote(Registry(repo.path), "cake@1", "stable", remote="origin")
    promote(Registry(repo.path), "cake@2", "stable", reason="better", remote="origin")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(remote), str(clone))
    state = label_state(Registry(clone), "cake", "stable")
    assert state is not None and state.version == 2
    assert [(m.to_version, m.reason) for m in state.history] == [(1, ""), (2, "better")]


def test_push_refuses_when_remote_label_moved(repo: GitRepo, tmp_path: Path) -> None:
    three_versions(repo)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    repo.git("remote", "add", "origin", str(remote))
    repo.git("push", "-q", "origin", "main")
    promote(Registry(repo.path), "cake@1", "stable", remote="origin")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(remote), str(other))
    promote(Registry(other), "cake@3", "stable", remote="origin")
    promote(Registry(repo.path), "cake@2", "stable")  # local move on a stale view
    with pytest.raises(Refused, match="has not seen"):
        push_label(Registry(repo.path), "cake", "stable", "origin")
    assert git(other, "ls-remote", str(remote), "refs/tags/prompts/cake@stable").split()[0] == git(
        other, "rev-parse", "prompts/cake@stable"
    )


def test_a_label_or_note_nested_too_deeply_is_skipped_not_a_crash(repo: GitRepo, tmp_path: Path) -> None:
    """Tags and notes arrive from remotes (`plg fetch`). Before: a history line or a note nested 100,000 deep
    made `plg labels --history`, `plg scores` and `plg log` an internal error (RecursionError)."""
    from tests.conftest import run_cli

    commits = three_versions(repo)
    assert run_cli("promote", "cake@1", "--label", "staging").code == 0
    deep = "[" * 100_000 + "]" * 100_000
    message = tmp_path / "message"
    message.write_text(f"plg: cake@qa\n\n--- plg label history v1 ---\n{{\"label\": {deep}}}\n")
    git(repo.path, "tag", "-a", "-F", str(message), "prompts/cake@qa", commits[1])
    note = tmp_path / "note"
    note.write_text(f'{{"identity": {deep}}}\n')
    git(repo.path, "notes", "--ref=plg", "add", "-F", str(note), commits[2])

    history = run_cli("labels", "cake", "--history")
    scores = run_cli("scores", "cake@3")
    log = run_cli("log", "cake")

    assert history.code == 0 and "staging" in history.out, history
    assert scores.code == 0, scores
    assert log.code == 0 and "qa" in log.out, log
