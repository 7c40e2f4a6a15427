"""A running client follows label moves pushed to a git remote, and survives the remote going away."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from plg import Client
from plg.gate.promotion import promote
from plg.registry.versions import Registry
from plg.runtime.sources import is_remote, without_password
from tests.conftest import CAKE_V1, GitRepo

TTL = 0.2


def _move_production(repo: GitRepo, spec: str) -> float:
    promote(Registry(repo.path), spec, "production", gated=False, remote="origin")
    return time.monotonic()


def _served(client: Client) -> int:
    return client.run("cake", {"cake_type": "x"}, prompt_release_label="production")["prompt_version"]


def _wait_for(client: Client, version: int, since: float, limit: float) -> float:
    while time.monotonic() - since < limit:
        if _served(client) == version:
            return time.monotonic() - since
        time.sleep(0.01)
    raise AssertionError(f"still serving v{_served(client)} {limit}s after the promote")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def git_daemon(remote: Path) -> Iterator[str]:
    """`git daemon` on 127.0.0.1 serving the remote; stopped after the test."""
    port = _free_port()
    base = remote.parent
    proc = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={base}", "--listen=127.0.0.1",
         f"--port={port}", str(base)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("git daemon did not start") from None
                time.sleep(0.05)
        yield f"git://127.0.0.1:{port}/{remote.name}"
    finally:
        proc.terminate()
        proc.wait(5)


def test_a_pushed_promote_reaches_a_running_client_over_file_url(repo: GitRepo, remote: Path) -> None:
    with Client(repo=remote.as_uri(), label_ttl=TTL) as client:
        assert _served(client) == 1
        since = _move_production(repo, "cake@2")
        took = _wait_for(client, 2, since, TTL + 3)
        assert took < TTL + 3
        since = _move_production(repo, "cake@1")
        _wait_for(client, 1, since, TTL + 3)


def test_a_pushed_promote_reaches_a_running_client_over_git_daemon(repo: GitRepo, git_daemon: str) -> None:
    with Client(repo=git_daemon, label_ttl=TTL) as client:
        assert _served(client) == 1
        assert client.run("cake", {"cake_type": "x"})["prompt_version"] == 2
        since = _move_production(repo, "cake@2")
        _wait_for(client, 2, since, TTL + 3)


def test_new_commits_on_the_remote_move_latest(repo: GitRepo, remote: Path) -> None:
    with Client(repo=remote.as_uri(), label_ttl=TTL) as client:
        assert client.run("cake", {"cake_type": "x"})["prompt_version"] == 2
        repo.write_prompt("cake", CAKE_V1.replace("pastry chef", "cook"))
        repo.git("push", "-q", "origin", "main")
        since = time.monotonic()
        while client.run("cake", {"cake_type": "x"})["prompt_version"] != 3:
            assert time.monotonic() - since < TTL + 3
            time.sleep(0.01)
        assert client.get_prompt("cake", version=1).version == 1


def test_unreachable_remote_keeps_serving_and_warns_once(
    repo: GitRepo, remote: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = remote.as_uri()
    with Client(repo=url, label_ttl=0.05) as client:
        assert _served(client) == 1
        hidden = tmp_path / "hidden.git"
        with caplog.at_level(logging.WARNING, logger="plg.runtime.sources"):
            shutil.move(str(remote), str(hidden))
            time.sleep(0.6)
            for _ in range(20):
                assert _served(client) == 1
        warnings = [r for r in caplog.records if "cannot reach" in r.getMessage()]
        assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
    caplog.clear()
    with (
        caplog.at_level(logging.WARNING, logger="plg.runtime.sources"),
        Client(repo=url, label_ttl=0.05) as restarted,
    ):
        assert _served(restarted) == 1
    assert any("cannot reach" in r.getMessage() for r in caplog.records)
    shutil.move(str(hidden), str(remote))
    with Client(repo=url, label_ttl=TTL) as back:
        since = _move_production(repo, "cake@2")
        _wait_for(back, 2, since, TTL + 3)


def test_first_load_without_remote_or_cache_is_one_clear_error(tmp_path: Path) -> None:
    from plg.errors import OutsideFailure

    with (
        Client(repo=(tmp_path / "nowhere.git").as_uri()) as client,
        pytest.raises(OutsideFailure, match="cannot clone"),
    ):
        client.run("cake", {"cake_type": "x"})


def test_plg_repo_environment_names_the_remote(
    repo: GitRepo, remote: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLG_REPO", remote.as_uri())
    monkeypatch.chdir(remote.parent)
    with Client(label_ttl=TTL) as client:
        assert _served(client) == 1


def test_remote_urls_and_stored_form() -> None:
    assert is_remote("https://example.com/p.git") and is_remote("git@example.com:team/p.git")
    assert is_remote("file:///srv/p.git") and not is_remote("/srv/p") and not is_remote("./p")
    assert without_password("https://bot:ghp_secret@example.com/p.git") == "https://bot@example.com/p.git"
    assert without_password("git@example.com:team/p.git") == "git@example.com:team/p.git"
