"""Only plg's labels are served: a lightweight tag force-pushed at an orphan commit is refused by a
running Client (remote and local), by `plg bundle`, and marked by `plg labels`; a deleted label keeps
serving its last good version. A bundle entry is covered whole, and `plg bundle --check` compares it
with git field by field."""

from __future__ import annotations

import json
import logging
import subprocess
import time
from pathlib import Path

import pytest

from plg import Client
from plg.errors import BadInput
from plg.gate.promotion import promote
from plg.registry.versions import Registry
from plg.runtime.bundle import read_bundle
from tests.conftest import CAKE_V1, GitRepo, git, run_cli

TAG = "refs/tags/prompts/cake@production"
FORGED = CAKE_V1.replace("pastry chef", "UNREVIEWED")


@pytest.fixture
def remote(repo: GitRepo, tmp_path: Path) -> Path:
    repo.write_prompt("cake", CAKE_V1)
    repo.write_prompt("cake", CAKE_V1.replace("pastry chef", "baker"))
    bare = tmp_path / "served.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    repo.git("remote", "add", "origin", str(bare))
    repo.git("push", "-q", "origin", "main")
    promote(Registry(repo.path), "cake@1", "production", gated=False, remote="origin")
    return bare


def _orphan_commit(clone: Path) -> str:
    """A commit no branch holds, carrying an unreviewed prompt."""
    git(clone, "checkout", "-q", "--orphan", "sneaky")
    (clone / "prompts" / "cake.prompt").write_text(FORGED)
    git(clone, "add", "prompts/cake.prompt")
    git(clone, "commit", "-q", "-m", "sneaky")
    sha = git(clone, "rev-parse", "HEAD")
    git(clone, "checkout", "-q", "main")
    git(clone, "branch", "-q", "-D", "sneaky")
    return sha


def _text(client: Client) -> str:
    return client.get_prompt("cake", label="production").file.source


def test_a_forced_lightweight_tag_at_an_orphan_is_never_served(
    remote: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    attacker = tmp_path / "attacker"
    git(tmp_path, "clone", "-q", str(remote), str(attacker))
    with caplog.at_level(logging.WARNING), Client(repo=remote.as_uri(), label_ttl=0.05) as client:
        assert "pastry chef" in _text(client)
        orphan = _orphan_commit(attacker)
        git(attacker, "push", "-q", "--force", "origin", f"{orphan}:{TAG}")
        assert git(remote, "rev-parse", TAG) == orphan
        until = time.monotonic() + 2
        while time.monotonic() < until:
            assert "UNREVIEWED" not in _text(client)
            time.sleep(0.02)
        refused = [r.getMessage() for r in caplog.records if "not plg's label" in r.getMessage()]
        assert len(refused) == 1 and "lightweight" in refused[0], refused
        git(attacker, "push", "-q", "origin", f":{TAG}")
        until = time.monotonic() + 1.5
        while time.monotonic() < until:
            assert "pastry chef" in _text(client)
            time.sleep(0.02)
    assert any("no longer resolves" in r.getMessage() for r in caplog.records)


def test_a_local_checkout_refuses_an_annotated_tag_at_an_orphan(repo: GitRepo, caplog: pytest.LogCaptureFixture) -> None:
    repo.write_prompt("cake", CAKE_V1)
    promote(Registry(repo.path), "cake@1", "production", gated=False)
    with caplog.at_level(logging.WARNING):
        client = Client(repo.path, label_ttl=0)
        assert "pastry chef" in _text(client)
        orphan = _orphan_commit(repo.path)
        repo.git("tag", "-f", "-a", "-m", "looks official", "prompts/cake@production", orphan)
        for _ in range(10):
            assert "pastry chef" in _text(client)
    refused = [r.getMessage() for r in caplog.records if "not plg's label" in r.getMessage()]
    assert len(refused) == 1 and "history" in refused[0], refused
    listed = run_cli("labels", "cake")
    assert listed.code == 0 and "production (not plg's)" in listed.out, listed
    assert json.loads(run_cli("labels", "cake", "--json").out)[0]["plg_label"] is False
    made = run_cli("bundle", "--label", "production")
    assert made.code == 1 and "not plg's label" in made.err, made


def test_plg_labels_shows_a_real_label_as_plgs(repo: GitRepo) -> None:
    repo.write_prompt("cake", CAKE_V1)
    promote(Registry(repo.path), "cake@1", "production", gated=False)
    listed = run_cli("labels", "cake")
    assert listed.code == 0 and "not plg's" not in listed.out
    assert json.loads(run_cli("labels", "cake", "--json").out)[0]["plg_label"] is True


@pytest.mark.parametrize(
    ("field", "value"),
    [("version", 7), ("model", "openai/gpt-4o"), ("params", {"temperature": 2}), ("commit", "0" * 40),
     ("label", "staging")],
)
def test_a_bundle_entry_edited_anywhere_is_refused(repo: GitRepo, field: str, value: object) -> None:
    repo.write_prompt("cake", CAKE_V1)
    promote(Registry(repo.path), "cake@1", "production", gated=False)
    assert run_cli("bundle").code == 0
    path = repo.path / "prompts.lock.json"
    data = json.loads(path.read_text())
    data["prompts"][0][field] = value
    path.write_text(json.dumps(data))
    with pytest.raises(BadInput, match="edited by hand|in a bundle of"):
        read_bundle(path)
    with pytest.raises(BadInput):
        Client(bundle=path)
    checked = run_cli("bundle", "--check")
    assert checked.code == 2 and "cake" in checked.err, checked


def test_bundle_check_compares_every_field_with_git(repo: GitRepo) -> None:
    from plg.runtime.bundle import BundledPrompt, stale_entries, write_bundle

    repo.write_prompt("cake", CAKE_V1)
    promote(Registry(repo.path), "cake@1", "production", gated=False)
    assert run_cli("bundle").code == 0
    path = repo.path / "prompts.lock.json"
    bundle = read_bundle(path)
    entry = bundle.prompts[0]
    edited = BundledPrompt(**{**entry.model_dump(), "version": 5, "digest": ""})
    edited = edited.model_copy(update={"digest": edited.covered()})  # a careful forger recomputes the digest
    write_bundle(bundle.model_copy(update={"prompts": [edited]}), path)
    assert stale_entries(read_bundle(path), Registry(repo.path)) == [
        "cake@production: the bundle's version differ from git's"
    ]
    checked = run_cli("bundle", "--check")
    assert checked.code == 1, checked
