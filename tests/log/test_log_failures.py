"""Logging never fails a request: a full disk (a real small tmpfs), a read-only bind mount and a corrupted
SQLite file under the request log keep every response, spill or count what could not be written, and say
so once; `plg logs` names a corrupted file in one line with the command that saves what is readable."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from plg import Client
from plg.gate.promotion import promote
from plg.log.query import LogQuery
from plg.log.sqlite_log import SQLiteLogStore
from plg.registry.versions import Registry
from tests.conftest import CAKE_V1, GitRepo, run_cli

ON_CI = os.environ.get("CI") == "true"  # read at import: the autouse fixture clears CI for each test


def _need_root() -> None:
    if os.geteuid() != 0:
        if ON_CI:
            pytest.fail("CI must run the disk-failure tests as root (mount needs it)")
        pytest.skip("mounting a tmpfs or a read-only bind mount needs root")


def _mount(target: Path, *options: str) -> None:
    subprocess.run(["mount", *options, str(target)], check=True, capture_output=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 512 KiB tmpfs: a real filesystem that fills up."""
    _need_root()
    disk = tmp_path / "disk"
    disk.mkdir()
    _mount(disk, "-t", "tmpfs", "-o", "size=512k", "tmpfs")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as out, contextlib.suppress(OSError):
        while True:
            out.write(b"x" * 1024)
    return filler


@pytest.fixture
def app(repo: GitRepo) -> GitRepo:
    repo.write_prompt("cake", CAKE_V1)
    promote(Registry(repo.path), "cake@1", "production", gated=False)
    return repo


def _run(client: Client, n: int = 0) -> dict:
    return client.run("cake", {"cake_type": f"lemon {n} " + "x" * 2000}, prompt_release_label="production")


def _warnings(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def test_a_full_disk_keeps_serving_counts_drops_and_says_so_once(
    app: GitRepo, small_disk: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PLG_LOG", str(small_disk / "requests.db"))
    monkeypatch.setenv("PLG_LOG_SPILL", str(small_disk / "spill.db"))  # on the same full disk
    client = Client(app.path)
    assert _run(client)["prompt_version"] == 1
    assert client.log_health().ok
    filler = _fill(small_disk)
    with caplog.at_level(logging.WARNING):
        for n in range(200):
            assert _run(client, n)["prompt_version"] == 1
        health = client.log_health()
        assert not health.ok and health.dropped >= 150, health
        assert "full" in (health.last_error or "")
        assert len(_warnings(caplog, "cannot write the request log")) == 1
        filler.unlink()
        after = _run(client, 999)
    back = _warnings(caplog, "takes writes again")
    assert len(back) == 1 and f"; {health.dropped} row(s) were dropped" in back[0], back
    assert client.log_health().ok and client.log_health().dropped == health.dropped
    assert SQLiteLogStore(small_disk / "requests.db").get(after["request_id"]).output


def test_rows_spill_to_another_disk_and_move_back(
    app: GitRepo, small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLG_LOG", str(small_disk / "requests.db"))
    monkeypatch.setenv("PLG_LOG_SPILL", str(tmp_path / "spill.db"))
    client = Client(app.path)
    _run(client)
    filler = _fill(small_disk)
    ids = [_run(client, n)["request_id"] for n in range(10)]
    health = client.log_health()
    assert health.dropped == 0 and health.spilled >= 8, health
    filler.unlink()
    last = _run(client, 99)["request_id"]
    log = SQLiteLogStore(small_disk / "requests.db")
    for request_id in [*ids, last]:
        assert log.get(request_id).output  # nothing lost: the spilled rows moved back


def test_a_read_only_log_keeps_serving(
    app: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _need_root()
    logs = tmp_path / "logs"
    logs.mkdir()
    writable = Client(app.path, log=logs / "requests.db")
    _run(writable)
    writable.log.close()
    _mount(logs, "--bind", str(logs))
    _mount(logs, "-o", "remount,bind,ro")
    try:
        monkeypatch.setenv("PLG_LOG_SPILL", str(tmp_path / "spill.db"))
        client = Client(app.path, log=logs / "requests.db")
        with caplog.at_level(logging.WARNING):
            for n in range(5):
                assert _run(client, n)["prompt_version"] == 1
        health = client.log_health()
        assert not health.ok and health.spilled == 5 and health.dropped == 0, health
        assert len(_warnings(caplog, "cannot write the request log")) == 1
        assert SQLiteLogStore(tmp_path / "spill.db").count(LogQuery()) == 5
    finally:
        subprocess.run(["umount", "-l", str(logs)], check=False)


def test_a_corrupted_log_keeps_serving_and_plg_logs_names_it(
    app: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "requests.db"
    monkeypatch.setenv("PLG_LOG", str(log))
    monkeypatch.setenv("PLG_LOG_SPILL", str(tmp_path / "spill.db"))
    writer = Client(app.path)
    for n in range(20):
        _run(writer, n)
    writer.log.close()
    log.write_bytes(b"this is no database" * 300)
    (tmp_path / "requests.db-wal").unlink(missing_ok=True)
    (tmp_path / "requests.db-shm").unlink(missing_ok=True)
    client = Client(app.path)
    assert _run(client)["prompt_version"] == 1
    health = client.log_health()
    assert not health.ok and health.spilled == 1, health
    assert "not a readable request log" in (health.last_error or "")
    result = run_cli("logs")
    assert result.code == 3, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and str(log) in lines[0] and ".recover" in lines[0], result.err


def test_postgresql_down_with_no_spill_counts_dropped_rows_once(
    app: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("psycopg")
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the spill's directory should be\n")
    monkeypatch.setenv("PLG_LOG_SPILL", str(blocker / "spill.db"))
    with caplog.at_level(logging.WARNING):
        client = Client(app.path, log="postgresql://plg@127.0.0.1:1/plg")
        for n in range(5):
            assert _run(client, n)["prompt_version"] == 1
        assert client.log.flush(20)
    health = client.log_health()
    assert not health.ok and health.dropped == 5 and health.spilled == 0, health
    assert len(_warnings(caplog, "cannot write the request log")) == 1
    client.log.close()
