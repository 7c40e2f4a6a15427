"""`plg serve` started as a user starts it (the real CLI, a subprocess on a free 127.0.0.1 port), for the
tests that point PromptLayer's own SDKs at it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

KEY = "pl_test_key_all_scopes_0123456789"
ON_CI = os.environ.get("CI") == "true"  # read at import: the autouse fixture clears CI for each test


def promptlayer_sdk() -> Any:
    """PromptLayer's own Python SDK (the `test` extra). Missing on CI is a failure, elsewhere a skip."""
    try:
        import promptlayer
    except ImportError:
        if ON_CI:
            raise
        pytest.skip("PromptLayer's SDK is not installed (pip install -e '.[test]')", allow_module_level=True)
    return promptlayer
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    def __init__(self, proc: subprocess.Popen[str], port: int, log: Path | str) -> None:
        self.proc = proc
        self.port = port
        self.log = log
        self.base_url = f"http://127.0.0.1:{port}"

    def store(self):  # type: ignore[no-untyped-def]
        from plg.log.sqlite_log import SQLiteLogStore

        return SQLiteLogStore(self.log)


@contextmanager
def plg_serve(*args: str, log: Path | str, keys: str = KEY, cwd: Path | None = None,
              env: dict[str, str] | None = None) -> Iterator[Served]:
    port = free_port()
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "PLG_SERVE_API_KEYS": keys, **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "plg.cli", "serve", "--port", str(port), "--log", str(log), *args],
        cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 30
    try:
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"plg serve exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError("plg serve did not start listening within 30 s") from None
                time.sleep(0.05)
        yield Served(proc, port, log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
