"""Settings, arguments and an environment that plg cannot use end in one line naming the thing, exit 2 for
bad input and 3 for the environment (never "internal error"), and no secret of a URL is ever printed."""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from plg import Client
from plg.gate.promotion import promote
from plg.redact import mask_url
from plg.registry.versions import Registry
from tests.conftest import CAKE_V1, TOPIC_PIPELINE, GitRepo, commit_topic_eval, run_cli

SECRETS = ("pw0rdSecret", "qsSecret1", "sslSecret2", "/keys/client.key")
PG_URL = "postgresql://bob:pw0rdSecret@127.0.0.1:1/db?password=qsSecret1&sslpassword=sslSecret2&sslkey=/keys/client.key"


def _one_line(result, code: int, *names: str) -> None:  # type: ignore[no-untyped-def]
    lines = [line for line in result.err.strip().splitlines() if not line.startswith("eval ")]  # progress
    assert result.code == code, result
    assert len(lines) == 1 and "internal error" not in lines[0], result.err
    for name in names:
        assert name in lines[0], result.err


@pytest.fixture
def app(repo: GitRepo) -> GitRepo:
    repo.write_prompt("cake", CAKE_V1)
    promote(Registry(repo.path), "cake@1", "production", gated=False)
    return repo


@pytest.mark.parametrize("key", ["log", "cache"])
def test_a_setting_naming_a_directory_is_bad_input(app: GitRepo, monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    monkeypatch.delenv("PLG_LOG")
    monkeypatch.delenv("PLG_CACHE")
    (app.path / "somewhere").mkdir()
    app.write("plg.toml", f'{key} = "somewhere"\n')
    command = ("logs",) if key == "log" else ("eval", "topic")
    if key == "cache":
        commit_topic_eval(app, TOPIC_PIPELINE, "topic\ncats\n")
    _one_line(run_cli(*command), 2, "plg.toml", "somewhere", "is a directory")


def test_an_unclosed_ipv6_url_is_bad_input(app: GitRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLG_LOG", "postgresql://bob:pw0rdSecret@[::1")
    result = run_cli("logs")
    _one_line(result, 2, "not a valid URL")
    assert "pw0rdSecret" not in result.err


def test_a_since_before_the_year_one_is_bad_input(app: GitRepo) -> None:
    _one_line(run_cli("logs", "--since", "99999999d"), 2, "--since", "99999999d")


def test_a_five_thousand_digit_version_is_bad_input(app: GitRepo) -> None:
    _one_line(run_cli("show", "cake@" + "9" * 5000), 2, "no such version")


def test_logs_copy_from_a_file_that_is_no_log_is_bad_input(app: GitRepo, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n" * 100)
    _one_line(run_cli("logs", "copy", "--from", str(notes), "--to", str(tmp_path / "new.db")), 2, str(notes))
    assert notes.read_text() == "hello\n" * 100 and not (tmp_path / "new.db").exists()


def test_eval_record_under_a_file_size_limit_is_one_line_exit_3(app: GitRepo) -> None:
    commit_topic_eval(app, TOPIC_PIPELINE, "topic\ncats\ndogs\n")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    proc = subprocess.run(
        [sys.executable, "-c", "from plg.cli import main; main()", "eval", "topic", "--record"],
        cwd=app.path, preexec_fn=limit, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 3, proc.stderr
    assert len(lines) == 1 and "internal error" not in lines[0] and "/" in lines[0], proc.stderr
    notes = subprocess.run(["git", "notes", "--ref=plg", "list"], cwd=app.path, capture_output=True, text=True)
    assert notes.stdout.strip() == "", "a score was recorded from an eval that could not finish"


# -- secrets in URLs ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:pw@h:5/db?password=s1&sslmode=require&sslpassword=s2&sslkey=/k",
         "postgresql://u@h:5/db?password=[REDACTED]&sslmode=require&sslpassword=[REDACTED]&sslkey=[REDACTED]"),
        ("https://bot:ghp_secret@example.com/p.git", "https://bot@example.com/p.git"),
        ("https://:tok@example.com/p.git?token=t", "https://example.com/p.git?token=[REDACTED]"),
        ("postgresql://u:pw@[::1", "postgresql://u@[::1"),
        ("git@example.com:team/p.git", "git@example.com:team/p.git"),
        ("/srv/logs/requests.db", "/srv/logs/requests.db"),
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_the_cli_never_prints_a_log_urls_secrets(app: GitRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLG_LOG", PG_URL)
    result = run_cli("logs")
    assert result.code in (2, 3) and "127.0.0.1" in result.err, result
    assert not any(secret in result.err for secret in SECRETS), result.err


def test_the_sdk_warning_never_shows_a_log_urls_secrets(
    app: GitRepo, caplog: pytest.LogCaptureFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("psycopg")
    monkeypatch.setenv("PLG_LOG_SPILL", str(tmp_path / "spill.db"))
    with caplog.at_level(logging.WARNING):
        client = Client(app.path, log=PG_URL)
        client.run("cake", {"cake_type": "x"}, prompt_release_label="production")
        client.log.flush(10)
        client.log.close()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "127.0.0.1" in text, text
    assert not any(secret in text for secret in SECRETS), text


def test_a_followed_remotes_secrets_are_not_in_its_error(tmp_path: Path) -> None:
    from plg.errors import OutsideFailure

    url = f"https://bot:pw0rdSecret@127.0.0.1:1/{tmp_path.name}.git?token=qsSecret1"
    with Client(repo=url) as client, pytest.raises(OutsideFailure) as caught:
        client.run("cake", {"cake_type": "x"})
    assert "127.0.0.1" in caught.value.message
    assert not any(secret in caught.value.message for secret in SECRETS), caught.value.message


def test_a_clean_autocrlf_checkout_is_committed_to_eval_record(app: GitRepo, tmp_path: Path) -> None:
    commit_topic_eval(app, TOPIC_PIPELINE, "topic\ncats\ndogs\n")
    clone = tmp_path / "crlf"
    subprocess.run(["git", "-c", "core.autocrlf=true", "clone", "-q", str(app.path), str(clone)], check=True)
    subprocess.run(["git", "config", "core.autocrlf", "true"], cwd=clone, check=True)
    assert b"\r\n" in (clone / "prompts" / "topic.prompt").read_bytes()  # the filter really rewrote it
    assert subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True).stdout == ""
    old = Path.cwd()
    os.chdir(clone)
    try:
        result = run_cli("eval", "topic", "--record")
    finally:
        os.chdir(old)
    assert result.code == 0 and "uncommitted" not in result.err, result
    notes = subprocess.run(["git", "notes", "--ref=plg", "list"], cwd=clone, capture_output=True, text=True)
    assert notes.stdout.strip(), "the score of a clean checkout was not recorded"


ON_CI = os.environ.get("CI") == "true"  # read at import: the autouse fixture clears CI for each test


def _need_root() -> None:
    if os.geteuid() != 0:
        if ON_CI:
            pytest.fail("CI must run the disk-failure tests as root (mount needs it)")
        pytest.skip("mounting a tmpfs or a read-only bind mount needs root")


def _in(path: Path, *args: str):  # type: ignore[no-untyped-def]
    old = Path.cwd()
    os.chdir(path)
    try:
        return run_cli(*args)
    finally:
        os.chdir(old)


def test_eval_record_on_a_read_only_checkout_is_exit_3_and_records_nothing(
    app: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _need_root()
    commit_topic_eval(app, TOPIC_PIPELINE, "topic\ncats\ndogs\n")
    monkeypatch.setenv("PLG_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("PLG_RUNS", str(tmp_path / "state" / "runs"))
    subprocess.run(["mount", "--bind", str(app.path), str(app.path)], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", str(app.path)], check=True)
    try:
        result = _in(app.path, "eval", "topic", "--record")
    finally:
        subprocess.run(["umount", "-l", str(app.path)], check=False)
    _one_line(result, 3, str(app.path), "Read-only")
    notes = subprocess.run(["git", "notes", "--ref=plg", "list"], cwd=app.path, capture_output=True, text=True)
    assert notes.stdout.strip() == ""


def test_eval_with_its_state_on_a_full_disk_is_exit_3(
    app: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _need_root()
    commit_topic_eval(app, TOPIC_PIPELINE, "topic\ncats\ndogs\n")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], check=True)
    try:
        with (disk / "filler").open("wb", buffering=0) as out, contextlib.suppress(OSError):
            while True:
                out.write(b"x" * 1024)
        for key, value in (("PLG_DIR", disk / "state"), ("PLG_CACHE", disk / "state" / "cache.db"),
                           ("PLG_RUNS", disk / "state" / "runs")):
            monkeypatch.setenv(key, str(value))
        result = _in(app.path, "eval", "topic", "--record")
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
    _one_line(result, 3, str(disk))
