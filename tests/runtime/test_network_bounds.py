"""A remote that accepts connections and never answers: the first load fails within its bound, a client
with a cache clone serves at once, and a refresh that hangs is abandoned while every request stays fast."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from plg import Client
from plg.errors import OutsideFailure
from plg.gate.promotion import promote
from plg.registry.gitstore import clone_bare
from plg.registry.versions import Registry
from plg.runtime.sources import REMOTE_REFSPECS, RemoteSource
from tests.conftest import GitRepo


class SilentServer:
    """Accepts every TCP connection and never sends a byte. With `forward_to` set and `silent` off, it
    passes bytes both ways to that port instead (a working server that can go silent mid-test)."""

    def __init__(self, forward_to: int | None = None) -> None:
        self.forward_to = forward_to
        self.silent = forward_to is None
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            if self.silent or self.forward_to is None:
                self.held.append(conn)
                continue
            upstream = socket.create_connection(("127.0.0.1", self.forward_to))
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def _served(client: Client) -> int:
    return client.run("cake", {"cake_type": "x"}, prompt_release_label="production")["prompt_version"]


def test_first_load_from_a_silent_remote_fails_within_the_bound(
    silent: SilentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLG_GIT_FETCH_TIMEOUT", "1.5")
    url = f"http://127.0.0.1:{silent.port}/prompts.git"
    started = time.monotonic()
    with Client(repo=url) as client, pytest.raises(OutsideFailure, match=r"cannot clone .*no answer .*1.5 s"):
        client.run("cake", {"cake_type": "x"}, prompt_release_label="production")
    assert time.monotonic() - started < 4
    assert silent.accepted >= 1


def test_a_cache_clone_serves_at_once_while_the_remote_is_silent(
    remote: Path, silent: SilentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLG_GIT_TIMEOUT", "30")  # the request must not wait for it, however long it is
    url = f"http://127.0.0.1:{silent.port}/prompts.git"
    cache = RemoteSource(url, None).cache_path  # what an earlier run of this application left behind
    clone_bare(remote.as_uri(), cache, url).fetch_refspecs(remote.as_uri(), REMOTE_REFSPECS)
    started = time.monotonic()
    with Client(repo=url, label_ttl=0.05) as client:
        assert _served(client) == 1
        first = time.monotonic() - started
        for _ in range(20):
            assert _served(client) == 1
        closing = time.monotonic()
    assert first < 1.5, f"the first request waited {first:.2f}s on a silent remote"
    assert time.monotonic() - closing < 2, "closing waited for the hanging refresh"


def test_a_hanging_refresh_is_abandoned_and_requests_stay_fast(
    repo: GitRepo, remote: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLG_GIT_TIMEOUT", "1")
    port = _free_port()
    daemon = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={remote.parent}", "--listen=127.0.0.1",
         f"--port={port}", str(remote.parent)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    proxy = SilentServer(forward_to=port)
    try:
        _wait_listening(port)
        with Client(repo=f"git://127.0.0.1:{proxy.port}/{remote.name}", label_ttl=0.05) as client:
            assert _served(client) == 1
            proxy.silent = True
            hung_at = proxy.accepted
            slowest = 0.0
            until = time.monotonic() + 3.5
            while time.monotonic() < until:
                started = time.monotonic()
                assert _served(client) == 1
                slowest = max(slowest, time.monotonic() - started)
                time.sleep(0.01)
            assert slowest < 0.5, f"a request took {slowest:.2f}s while the refresh hung"
            assert proxy.accepted - hung_at >= 2, "the hanging refresh was never abandoned and retried"
            proxy.silent = False
            promote(Registry(repo.path), "cake@2", "production", gated=False, remote="origin")
            deadline = time.monotonic() + 10
            while _served(client) != 2:
                assert time.monotonic() < deadline, "the refresher never recovered after the remote answered"
                time.sleep(0.05)
    finally:
        proxy.close()
        daemon.terminate()
        daemon.wait(5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("git daemon did not start") from None
            time.sleep(0.05)


def test_git_timeouts_are_settable_in_plg_toml(repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    from plg import config

    repo.write("plg.toml", "git_timeout = 2.5\ngit_fetch_timeout = 40\n")
    bounds = config.git_timeouts(repo.path)
    assert (bounds.ls_remote, bounds.fetch, bounds.connect) == (2.5, 40.0, 3.0)
    monkeypatch.setenv("PLG_GIT_TIMEOUT", "1")
    assert config.git_timeouts(repo.path).ls_remote == 1.0
