"""A private repository: CI keeps no credentials in the checkout, so plg hands the job's token to git itself,
for the commands that talk to the CI's own server and nothing else."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.conftest import CAKE_V1, GitRepo, git, run_cli
from tests.loopback_git_http import TOKEN, PrivateGitServer, private_git  # noqa: F401  (fixture)


def _basic() -> str:
    return base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()


def _with_notes(repo: GitRepo, url: str) -> str:
    """Push main and a recorded score note to the private server, as the push job on main would."""
    repo.write_prompt("cake", CAKE_V1)
    head = repo.git("rev-parse", "HEAD")
    repo.git("notes", "--ref=plg", "add", "-m", '{"prompt":"cake","score":0.9}', head)
    repo.git("remote", "add", "origin", url)
    header = f"http.{url.rsplit('/', 1)[0]}/.extraheader=AUTHORIZATION: basic {_basic()}"
    repo.git("-c", header, "push", "-q", "origin", "main", "refs/notes/plg")
    return head


def test_notes_fetch_from_a_private_repository_uses_the_job_token_and_keeps_it_out_of_the_checkout(
    repo: GitRepo, private_git: PrivateGitServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    _, url = private_git.bare("private.git")
    head = _with_notes(repo, url)
    clone = tmp_path / "clone"
    git(tmp_path, "-c", f"http.extraheader=AUTHORIZATION: basic {_basic()}", "clone", "-q", url, str(clone))
    monkeypatch.chdir(clone)

    without = run_cli("notes", "fetch", "origin")
    assert without.code == 3, without
    assert len(without.err.strip().splitlines()) == 1 and "origin" in without.err

    monkeypatch.setenv("GITHUB_SERVER_URL", private_git.url)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    fetched = run_cli("notes", "fetch", "origin")
    assert fetched.code == 0, fetched
    assert "cake" in git(clone, "notes", "--ref=plg", "show", head)
    assert TOKEN not in (clone / ".git" / "config").read_text()
    assert TOKEN not in fetched.out + fetched.err


def test_the_token_goes_to_the_ci_server_only(
    repo: GitRepo, private_git: PrivateGitServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    _, url = private_git.bare("private.git")
    _with_notes(repo, url)
    clone = tmp_path / "clone"
    git(tmp_path, "-c", f"http.extraheader=AUTHORIZATION: basic {_basic()}", "clone", "-q", url, str(clone))
    monkeypatch.chdir(clone)
    private_git.authorizations.clear()

    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.example")
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    result = run_cli("notes", "fetch", "origin")
    assert result.code == 3, result
    assert private_git.authorizations and not any(private_git.authorizations)


def test_notes_push_to_a_private_repository_with_the_token(
    repo: GitRepo, private_git: PrivateGitServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    bare, url = private_git.bare("private.git")
    head = _with_notes(repo, url)
    repo.git("notes", "--ref=plg", "add", "-f", "-m", '{"prompt":"cake","score":0.95}', head)
    monkeypatch.setenv("GITHUB_SERVER_URL", private_git.url)
    monkeypatch.setenv("PLG_GIT_TOKEN", TOKEN)
    pushed = run_cli("notes", "push", "origin")
    assert pushed.code == 0, pushed
    assert "0.95" in git(tmp_path, "--git-dir", str(bare), "notes", "--ref=plg", "show", head)
