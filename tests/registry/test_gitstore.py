"""The git layer's sharing of notes: concurrent pushes merge instead of losing scores."""

from __future__ import annotations

from pathlib import Path

import pytest

from plg.errors import PushRejected
from plg.registry.gitstore import GitStore
from tests.conftest import GitRepo, git

NOTES = "refs/notes/plg"


def test_concurrent_notes_pushes_merge_and_keep_both(repo: GitRepo, tmp_path: Path) -> None:
    first = repo.commit("one")
    second = repo.commit("two")
    remote = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    repo.git("push", "-q", str(remote), "main")
    clones = []
    for name in ("a", "b"):
        git(tmp_path, "clone", "-q", str(remote), str(tmp_path / name))
        clones.append(GitStore(tmp_path / name))
    a, b = clones
    a.write_note(NOTES, first, '{"identity":"x","from":"a"}\n')
    b.write_note(NOTES, second, '{"identity":"y","from":"b"}\n')
    b.write_note(NOTES, first, '{"identity":"z","from":"b"}\n')
    a.push_notes(str(remote), NOTES)
    b.push_notes(str(remote), NOTES)  # rejected at first ("fetch first"), then merged and pushed

    check = GitStore(tmp_path / "a")
    assert check.fetch_notes(str(remote), NOTES)
    note_first = check.read_note(NOTES, first) or ""
    assert '"from":"a"' in note_first and '"from":"b"' in note_first
    assert '"from":"b"' in (check.read_note(NOTES, second) or "")


def test_fetching_notes_a_remote_lacks_is_not_an_error_but_a_bad_remote_is(
    repo: GitRepo, tmp_path: Path
) -> None:
    repo.commit("one")
    remote = tmp_path / "empty.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    store = GitStore(repo.path)
    assert store.fetch_notes(str(remote), NOTES) is False
    with pytest.raises(PushRejected, match="cannot fetch"):
        store.fetch_notes(str(tmp_path / "nowhere"), NOTES)


def test_changed_paths_report_renames_with_both_sides(repo: GitRepo) -> None:
    repo.write("a.txt", "some text that is long enough to be a rename\n")
    base = repo.commit("a")
    repo.git("mv", "a.txt", "b.txt")
    repo.write("c.txt", "new\n")
    repo.commit("move")
    changes = {(c.status, c.path, c.old_path) for c in GitStore(repo.path).changed_paths(base)}
    assert changes == {("R", "b.txt", "a.txt"), ("A", "c.txt", None)}


def test_notes_are_written_on_a_runner_with_no_git_identity(
    repo: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit = repo.commit("one")
    for key in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    repo.git("config", "user.useConfigOnly", "true")  # what makes a fresh runner refuse to guess
    store = GitStore(repo.path)
    store.write_note(NOTES, commit, '{"identity":"x"}\n')
    assert store.read_note(NOTES, commit) == '{"identity":"x"}\n'
    author = repo.git("log", "-1", "--format=%an <%ae>", NOTES)
    assert author.startswith("github-actions[bot] <")
