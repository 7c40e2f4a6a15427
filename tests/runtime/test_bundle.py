"""`plg bundle` freezes the labels into a file; `Client(bundle=...)` serves it with no git on the machine."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from plg import Client
from plg.errors import BadInput, NotFound
from plg.gate.promotion import promote
from plg.log.store import SQLiteLogStore
from plg.registry.versions import Registry
from tests.conftest import CAKE_V1, GitRepo, run_cli

GREETING = """---
model: plg/offline
inputs:
  who: string
---
user:
Say hello to {{ who }}.
"""


@pytest.fixture
def labelled(repo: GitRepo) -> GitRepo:
    repo.write_prompt("cake", CAKE_V1)
    repo.write_prompt("cake", CAKE_V1.replace("pastry chef", "baker"))
    repo.write_prompt("greeting", GREETING)
    repo.write_prompt("draft", GREETING.replace("hello", "bye"))
    promote(Registry(repo.path), "cake@1", "production", gated=False)
    promote(Registry(repo.path), "greeting@1", "production", gated=False)
    promote(Registry(repo.path), "cake@2", "staging", gated=False)
    return repo


def test_bundle_writes_every_prompt_at_the_label(labelled: GitRepo) -> None:
    result = run_cli("bundle", "-o", "prompts.lock.json")
    assert result.code == 0, result
    data = json.loads((labelled.path / "prompts.lock.json").read_text())
    assert data["label"] == "production"
    by_name = {p["name"]: p for p in data["prompts"]}
    assert set(by_name) == {"cake", "greeting"}
    cake = by_name["cake"]
    assert cake["version"] == 1 and cake["label"] == "production" and cake["model"] == "plg/offline"
    assert cake["commit"] == labelled.git("rev-parse", "prompts/cake@production^{commit}")
    assert "pastry chef" in cake["content"] and cake["params"] == {}
    staging = run_cli("bundle", "--label", "staging", "-o", "staging.json")
    assert staging.code == 0
    assert [p["version"] for p in json.loads((labelled.path / "staging.json").read_text())["prompts"]] == [2]


def test_client_serves_a_bundle_with_no_git_binary(
    labelled: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_cli("bundle", "-o", str(tmp_path / "prompts.lock.json")).code == 0
    app = tmp_path / "app"
    app.mkdir()
    shutil.copy(tmp_path / "prompts.lock.json", app / "prompts.lock.json")
    shutil.rmtree(labelled.path)
    empty = tmp_path / "no-git-here"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.chdir(app)
    assert shutil.which("git") is None
    client = Client(bundle="prompts.lock.json")
    response = client.run("cake", {"cake_type": "lemon"}, prompt_release_label="production")
    assert response["prompt_version"] == 1 and response["prompt_label"] == "production"
    assert "lemon" in response["prompt_blueprint"]["prompt_template"]["messages"][-1]["content"]
    logged = SQLiteLogStore(Path(os.environ["PLG_LOG"])).get(response["request_id"])
    assert logged.messages[0]["content"] == "You are a pastry chef." and logged.version == 1
    assert client.run("greeting", {"who": "Ada"})["prompt_version"] == 1
    with pytest.raises(NotFound, match="holds 'production'"):
        client.run("cake", {"cake_type": "x"}, prompt_release_label="staging")
    with pytest.raises(NotFound, match="holds cake@1 only"):
        client.run("cake", {"cake_type": "x"}, prompt_version=2)
    with pytest.raises(NotFound, match="it holds: cake, greeting"):
        client.run("draft", {"who": "x"})


def test_bundle_check_fails_when_a_label_moved(labelled: GitRepo) -> None:
    assert run_cli("bundle").code == 0
    current = run_cli("bundle", "--check")
    assert current.code == 0 and "is current" in current.out
    promote(Registry(labelled.path), "cake@2", "production", gated=False)
    stale = run_cli("bundle", "--check")
    assert stale.code == 1
    assert "cake@production is v2 now, v1 in the bundle" in stale.out
    promote(Registry(labelled.path), "draft@1", "production", gated=False)
    assert "draft@production is missing from the bundle" in run_cli("bundle", "--check").out
    assert run_cli("bundle").code == 0 and run_cli("bundle", "--check").code == 0


def test_bad_bundles_are_one_clear_line(labelled: GitRepo, tmp_path: Path) -> None:
    missing = run_cli("bundle", "--check", "-o", "nope.json")
    assert missing.code == 2 and "nope.json: cannot read the bundle" in missing.err
    assert run_cli("bundle").code == 0
    path = labelled.path / "prompts.lock.json"
    data = json.loads(path.read_text())
    data["prompts"][0]["content"] = data["prompts"][0]["content"].replace("pastry chef", "pirate")
    path.write_text(json.dumps(data))
    with pytest.raises(BadInput, match="does not match its blob id"):
        Client(bundle=path)
    data["extra"] = 1
    path.write_text(json.dumps(data))
    with pytest.raises(BadInput, match="not a plg bundle: extra"):
        Client(bundle=path)
    nothing = run_cli("bundle", "--label", "canary")
    assert nothing.code == 2 and "no prompt has the label 'canary'" in nothing.err


def test_a_bundle_nested_too_deeply_is_one_line(labelled: GitRepo) -> None:
    (labelled.path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    result = run_cli("bundle", "--check", "-o", "deep.json")
    assert result.code == 2 and result.err.count("\n") == 1, result
    assert "deep.json: not a plg bundle: JSON nested too deeply" in result.err
