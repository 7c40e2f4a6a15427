"""The settings file (plg.toml or [tool.plg] in pyproject.toml): what it moves, what overrides it, and
how a bad one is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plg import Client
from plg.gate.promotion import promote
from plg.log.query import LogQuery
from plg.log.store import SQLiteLogStore
from plg.registry.versions import Registry
from tests.conftest import CAKE_V1, GitRepo, run_cli
from tests.loopback_llm import LoopbackLLM


@pytest.fixture
def app(repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    """A repository with a committed prompt and none of the test suite's PLG_LOG/PLG_CACHE overrides."""
    for name in ("PLG_LOG", "PLG_CACHE", "PLG_DIR", "PLG_LABEL_TTL", "PLG_JUDGE_MODEL", "PLG_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    repo.write_prompt("cake", CAKE_V1)
    return repo


def logged_ids(path: Path) -> list[str]:
    return [r.id for r in SQLiteLogStore(path).query(LogQuery(limit=None))] if path.exists() else []


def listed_ids(*args: str) -> list[str]:
    result = run_cli("logs", "--json", *args)
    assert result.code == 0, result
    return [r["request_id"] for r in json.loads(result.out)]


@pytest.mark.parametrize(
    ("relpath", "text"),
    [
        ("plg.toml", 'log = "var/requests.db"\n'),
        ("pyproject.toml", '[project]\nname = "app"\n\n[tool.plg]\nlog = "var/requests.db"\n'),
    ],
)
def test_the_settings_file_moves_the_log_for_the_sdk_and_plg_logs(app: GitRepo, relpath: str, text: str) -> None:
    app.write(relpath, text)
    request_id = Client(app.path).run("cake", {"cake_type": "lemon"})["request_id"]
    assert logged_ids(app.path / "var/requests.db") == [request_id]
    assert not (app.path / ".plg/requests.db").exists()
    assert listed_ids() == [request_id]


@pytest.mark.parametrize("existing", [False, True])
def test_a_log_inside_the_repository_is_ignored_by_git(app: GitRepo, existing: bool) -> None:
    """`log = "var/requests.db"` had put every request's inputs and outputs one `git add .` from a commit."""
    app.write("plg.toml", 'log = "var/requests.db"\n')
    app.commit("settings")
    if existing:
        app.write("var/notes.txt", "kept\n")
        app.commit("a folder the project already has")

    Client(app.path).run("cake", {"cake_type": "lemon"})

    assert (app.path / "var/requests.db").exists()
    status = app.git("status", "--porcelain", "--untracked-files=all")
    assert "requests.db" not in status, status
    in_var = [line for line in status.splitlines() if line[3:].startswith("var/")]
    assert in_var == (["?? var/.gitignore"] if existing else []), status
    assert app.git("check-ignore", "var/requests.db", "var/requests.db-wal").split() == [
        "var/requests.db", "var/requests.db-wal"
    ]


def test_the_environment_overrides_the_file_and_a_flag_overrides_both(
    app: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.write("plg.toml", 'log = "var/requests.db"\n')
    from_file = Client(app.path).run("cake", {"cake_type": "lemon"})["request_id"]
    elsewhere = tmp_path / "env-log.db"
    monkeypatch.setenv("PLG_LOG", str(elsewhere))
    from_env = Client(app.path).run("cake", {"cake_type": "plum"})["request_id"]
    assert logged_ids(elsewhere) == [from_env]
    assert logged_ids(app.path / "var/requests.db") == [from_file]
    assert listed_ids() == [from_env]
    assert listed_ids("--log", str(app.path / "var/requests.db")) == [from_file]


def test_an_edited_settings_file_is_read_again(app: GitRepo) -> None:
    app.write("plg.toml", 'log = "a.db"\n')
    first = Client(app.path).run("cake", {"cake_type": "lemon"})["request_id"]
    assert listed_ids() == [first]
    app.write("plg.toml", 'log = "var/second.db"\n')
    assert listed_ids() == []
    second = Client(app.path).run("cake", {"cake_type": "plum"})["request_id"]
    assert logged_ids(app.path / "var/second.db") == [second] and listed_ids() == [second]


def test_an_absolute_log_path_may_leave_the_repository_but_a_relative_one_may_not(
    app: GitRepo, tmp_path: Path
) -> None:
    outside = tmp_path / "shared" / "requests.db"
    app.write("plg.toml", f'log = "{outside}"\n')
    request_id = Client(app.path).run("cake", {"cake_type": "lemon"})["request_id"]
    assert logged_ids(outside) == [request_id]
    app.write("plg.toml", 'log = "../escape.db"\n')
    bad = run_cli("logs")
    assert bad.code == 2 and "log = '../escape.db' leads outside the repository" in bad.err, bad


@pytest.mark.parametrize(
    ("relpath", "text", "fragment"),
    [
        ("plg.toml", 'logg = "x.db"\n', "plg.toml: unknown key 'logg'"),
        ("pyproject.toml", '[tool.plg]\nlabel-ttl = 3\n', "pyproject.toml: unknown key 'tool.plg.label-ttl'"),
        ("plg.toml", "log = \n", "plg.toml: not valid TOML"),
        ("plg.toml", "a = " + "[" * 100_000 + "]" * 100_000 + "\n", "plg.toml: not valid TOML (nested too deeply)"),
        ("plg.toml", 'concurrency = "many"\n', "plg.toml: concurrency: input should be a valid integer"),
        ("plg.toml", "label_ttl = -1\n", "plg.toml: label_ttl: input should be greater than or equal to 0"),
    ],
)
def test_a_bad_settings_file_is_one_line_exit_2(app: GitRepo, relpath: str, text: str, fragment: str) -> None:
    app.write(relpath, text)
    result = run_cli("logs")
    lines = result.err.strip().splitlines()
    assert result.code == 2 and len(lines) == 1 and fragment in lines[0], result


def test_both_settings_files_at_once_are_refused(app: GitRepo) -> None:
    app.write("plg.toml", 'log = "a.db"\n')
    app.write("pyproject.toml", '[tool.plg]\nlog = "b.db"\n')
    result = run_cli("logs")
    assert result.code == 2 and "both hold plg settings: keep one of them" in result.err, result
    app.write("pyproject.toml", '[project]\nname = "app"\n')  # a pyproject without [tool.plg] is fine
    assert run_cli("logs").code == 0


def test_label_ttl_from_the_file_and_from_the_environment(app: GitRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    app.write_prompt("cake", CAKE_V1.replace("pastry chef", "baker"))
    registry = Registry(app.path)
    promote(registry, "cake@1", "staging", gated=False)
    app.write("plg.toml", "label_ttl = 3600\n")
    slow = Client(app.path)
    assert slow.run("cake", {"cake_type": "x"}, prompt_release_label="staging")["prompt_version"] == 1
    monkeypatch.setenv("PLG_LABEL_TTL", "0")
    quick = Client(app.path)
    assert quick.run("cake", {"cake_type": "x"}, prompt_release_label="staging")["prompt_version"] == 1
    promote(registry, "cake@2", "staging", gated=False)
    assert slow.run("cake", {"cake_type": "x"}, prompt_release_label="staging")["prompt_version"] == 1
    assert quick.run("cake", {"cake_type": "x"}, prompt_release_label="staging")["prompt_version"] == 2


PIPELINE = """prompt: cake
dataset: datasets/cakes.csv
scorers:
  - type: llm_judge
    name: sections
    criteria: [Has Overview, Ingredients and Instructions sections]
"""


def test_judge_model_concurrency_and_cache_from_the_file(app: GitRepo, llm_server: LoopbackLLM) -> None:
    app.write("evals/cake.yaml", PIPELINE)
    app.write("evals/datasets/cakes.csv", "cake_type\nlemon\nplum\ncarrot\nfig\n")
    app.write(
        "plg.toml",
        'judge_model = "openai/fake-model"\nconcurrency = 1\ncache = "var/cache.db"\n',
    )
    app.commit("eval")
    llm_server.latency = 0.05
    result = run_cli("eval", "cake")
    assert result.code == 0, result
    judged = [r for r in llm_server.requests if "grading an AI response" in json.dumps(r)]
    assert len(judged) == 4 and all(r["model"] == "fake-model" for r in judged)
    assert "placeholder" not in result.out
    assert llm_server.max_in_flight == 1
    assert (app.path / "var/cache.db").is_file()
