"""`plg ci` decides on what is true: the remote's labels, and a base that is really in the clone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.ci.test_job import github_env, printed_report, project, pull_request, write_prompt
from tests.conftest import GitRepo, git, run_cli

__all__ = ["project"]  # the fixture, shared with test_job

GATE = "gate:\n  production:\n    min_score: 0.0\n"


def test_a_pull_request_base_missing_from_the_clone_is_bad_input(
    project: GitRepo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, head = pull_request(project)
    github_env(monkeypatch, tmp_path, "pull_request", base_sha="1" * 40, head_sha=head)
    result = run_cli("ci", "--no-notes", "--no-comment")
    assert result.code == 2, result
    assert "1111111111" in result.err and "not in this clone" in result.err and "fetch-depth: 0" in result.err


def test_ci_fetches_the_remotes_labels_before_deciding(project: GitRepo, tmp_path: Path) -> None:
    write_prompt(project, "cake", "Be helpful.", 0.0, GATE)
    project.commit("cake gets a production gate")
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    project.git("remote", "add", "origin", str(remote))
    project.git("push", "-q", "origin", "main")
    assert run_cli("promote", "cake", "--label", "production", "--push", "origin").code == 0
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(remote), str(other))
    git(other, "fetch", "-q", "origin", "+refs/tags/*:refs/tags/*")
    write_prompt(GitRepo(other), "cake", "Be kind and helpful.", 0.0, GATE)
    GitRepo(other).commit("cake v2")
    git(other, "push", "-q", "origin", "main")
    os.chdir(other)
    assert run_cli("promote", "cake", "--label", "production", "--push", "origin").code == 0
    os.chdir(project.path)
    project.git("pull", "-q", "--no-rebase", "origin", "main")  # the branch, not the stale label tag
    write_prompt(project, "cake", "Be warm and helpful.", 0.0, GATE)
    project.commit("cake v3")
    result = run_cli("ci", "--base", "HEAD^", "--no-notes", "--json")
    assert result.code == 0, result
    (cake,) = printed_report(result.out)["prompts"]
    assert cake["gate_note"] == "holder now: v2"
    assert project.git("rev-parse", "refs/tags/prompts/cake@production") == git(
        other, "rev-parse", "refs/tags/prompts/cake@production"
    )
