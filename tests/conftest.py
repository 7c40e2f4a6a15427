"""Shared fixtures: a real git repository per test, plg state kept inside tmp_path, the loopback LLM server."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pg_server import PgServer

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Ada Tester",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada Tester",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@pytest.fixture(autouse=True)
def plg_state_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep every plg path (cache, log, runs) and git's global config inside the test's tmp_path."""
    state = tmp_path / "_plg_state"
    monkeypatch.setenv("PLG_DIR", str(state))
    monkeypatch.setenv("PLG_CACHE", str(state / "cache.db"))
    monkeypatch.setenv("PLG_LOG", str(state / "requests.db"))
    monkeypatch.setenv("PLG_RUNS", str(state / "runs"))
    home = tmp_path / "_home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    for key in ("GITHUB_ACTIONS", "GITHUB_EVENT_PATH", "GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT", "CI"):
        monkeypatch.delenv(key, raising=False)
    return state


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    out = subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True)
    return out.stdout.strip()


class GitRepo:
    """A real repository on disk with helpers that read like the steps a user takes."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def git(self, *args: str) -> str:
        return git(self.path, *args)

    def write(self, relpath: str, text: str) -> Path:
        target = self.path / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        return target

    def commit(self, message: str = "change", *paths: str) -> str:
        self.git("add", "-A", *paths)
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    def write_prompt(self, name: str, text: str, message: str | None = None) -> str:
        self.write(f"prompts/{name}.prompt", text)
        return self.commit(message or f"edit {name}")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GitRepo]:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    monkeypatch.chdir(path)
    yield GitRepo(path)


class CliResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code = code
        self.out = out
        self.err = err

    def __repr__(self) -> str:
        return f"CliResult(code={self.code}, out={self.out!r}, err={self.err!r})"


def run_cli(*args: str, stdin: str | None = None) -> CliResult:
    """The real entry point (`plg.cli.main`, exit-code mapping included), in-process with captured output."""
    from click.testing import CliRunner

    from plg.cli import main

    runner = CliRunner()
    with runner.isolation(input=stdin) as (out, err, _):
        try:
            main(list(args))
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        return CliResult(code, out.getvalue().decode(), err.getvalue().decode())


@pytest.fixture
def plg():  # type: ignore[no-untyped-def]
    return run_cli


CAKE_V1 = """---
description: Cake recipes
model: plg/offline
inputs:
  cake_type: string
  serving_size: {type: integer, default: 8}
---
system:
You are a pastry chef.

user:
Write a recipe for a {{ cake_type }} cake for {{ serving_size }} people.
"""

TOPIC_PROMPT = """---
model: plg/offline
inputs:
  topic: string
---
user:
Tell me about {{ topic }}.
"""
"""One input, one user message: the prompt the run, grid, diff and grading tests evaluate."""


TOPIC_PIPELINE = """prompt: topic
dataset: topics.csv
scorers:
  - type: contains
    value: "{{ topic }}"
threshold: {min_score: 0.5}
"""
"""The topic prompt's pipeline: one `contains` scorer and a bar, for tests about what happens around a run."""


def commit_topic_eval(repo: GitRepo, pipeline: str, topics_csv: str) -> GitRepo:
    """The topic prompt committed with `pipeline` (evals/topic.yaml) and its dataset (evals/topics.csv)."""
    repo.write("prompts/topic.prompt", TOPIC_PROMPT)
    repo.write("evals/topic.yaml", pipeline)
    repo.write("evals/topics.csv", topics_csv)
    repo.commit("topic")
    return repo

CAKE_SERVED = CAKE_V1.replace("model: plg/offline", "model: openai/fake-model")
"""The cake prompt served on the loopback model: what `plg eval` scores by default."""

@pytest.fixture
def cake_eval(repo: GitRepo) -> GitRepo:
    """The cake prompt committed with the issue's example pipeline and a dataset."""
    from tests.evals.test_engine import ISSUE_PIPELINE, write_cakes

    repo.write("prompts/cake.prompt", CAKE_SERVED)
    repo.write("evals/cake.yaml", ISSUE_PIPELINE)
    write_cakes(repo)
    repo.commit("cake with eval")
    return repo


class SigningKey:
    """A throwaway OpenSSH ed25519 key: its private key file and its line for an allowed-signers file."""

    def __init__(self, path: Path, principal: str) -> None:
        self.path = path
        self.allowed = f"{principal} {path.with_name(path.name + '.pub').read_text().strip()}\n"


@pytest.fixture
def remote(repo: GitRepo, tmp_path: Path) -> Path:
    """The team's remote: a bare repository holding cake v1, v2 and production -> v1."""
    from plg.gate.promotion import promote
    from plg.registry.versions import Registry

    repo.write_prompt("cake", CAKE_V1)
    repo.write_prompt("cake", CAKE_V1.replace("pastry chef", "baker"))
    bare = tmp_path / "served" / "prompts.git"
    bare.parent.mkdir()
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    repo.git("remote", "add", "origin", str(bare))
    promote(Registry(repo.path), "cake@1", "production", gated=False, remote="origin")
    repo.git("push", "-q", "origin", "main")
    return bare


@pytest.fixture
def signing_key(tmp_path: Path) -> SigningKey:
    path = tmp_path / "_keys" / "plg-ci"
    path.parent.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ci", "-f", str(path)], check=True)
    return SigningKey(path, "ci@plg")


# Read at import: the autouse fixture above removes CI from each test's environment.
ON_CI = os.environ.get("CI") == "true"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A real PostgreSQL server in a temporary directory for the session. On CI a missing server or
    driver fails the tests that need it; elsewhere they are skipped with the reason."""
    from tests.pg_server import missing_reason

    reason = missing_reason()
    if reason is None:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            reason = "psycopg is not installed (pip install -e '.[postgres]')"
    if reason is not None:
        if ON_CI:
            pytest.fail(f"PostgreSQL tests cannot run on CI: {reason}")
        pytest.skip(reason)
    server = PgServer()
    yield server
    server.close()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A fresh, empty database on the session's server."""
    return pg_server.new_database()


from tests.loopback_github import github_api  # noqa: E402, F401  (fixture)
from tests.loopback_llm import llm_server  # noqa: E402, F401  (fixture)
