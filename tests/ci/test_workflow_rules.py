"""The host's rules are plg's access control: `plg init` writes workflows for the repository's own default
branch, moves labels only from it inside the `production` environment, and signs recorded scores only in
the protected `plg-evidence` environment; zizmor's auditor persona finds nothing to warn about."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import git, run_cli

ROOT = Path(__file__).resolve().parents[2]


def _init(tmp_path: Path, branch: str, *args: str) -> Path:
    target = tmp_path / "repo"
    target.mkdir()
    git(target, "init", "-q", "-b", branch)
    result = run_cli("init", str(target), "--install", "plg-registry==0.1.0", *args)
    assert result.code == 0, result
    return target / ".github" / "workflows"


def _flow(path: Path) -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(path.read_text())


def test_init_on_master_records_on_master_and_moves_labels_only_from_it(tmp_path: Path) -> None:
    """Before: `push: branches: [main]`, so a master repository never recorded a score on merge."""
    workflows = _init(tmp_path, "master")

    ci = _flow(workflows / "plg.yml")
    assert ci[True]["push"]["branches"] == ["master"]
    record = ci["jobs"]["record"]
    assert record["environment"] == "plg-evidence" and "refs/heads/master" in record["if"]
    signing = [s for s in record["steps"] if "PLG_SIGNING_KEY" in s.get("env", {})]
    assert signing and signing[0]["env"]["PLG_SIGNING_KEY"] == "${{ secrets.PLG_SIGNING_KEY }}"
    promote = _flow(workflows / "plg-promote.yml")["jobs"]
    assert promote["promote"]["environment"] == "production"
    assert promote["promote"]["if"] == "github.ref == 'refs/heads/master'"
    refuse = promote["wrong-branch"]
    assert refuse["if"] == "github.ref != 'refs/heads/master'" and "exit 1" in refuse["steps"][0]["run"]


def test_branch_flag_wins_and_a_bad_name_is_refused(tmp_path: Path) -> None:
    workflows = _init(tmp_path, "master", "--branch", "trunk", "--shards", "2")
    assert _flow(workflows / "plg.yml")[True]["push"]["branches"] == ["trunk"]
    assert "refs/heads/trunk" in _flow(workflows / "plg-promote.yml")["jobs"]["promote"]["if"]
    bad = run_cli("init", str(tmp_path / "other"), "--branch", "main]\non: push")
    assert bad.code == 2 and "--branch" in bad.err
    assert not (tmp_path / "other").exists()


def test_the_auditor_persona_finds_no_secret_outside_an_environment(tmp_path: Path) -> None:
    zizmor = shutil.which("zizmor")
    if zizmor is None:
        pytest.skip("zizmor is not installed (pip install -e '.[test]' installs it)")
    files = [
        *sorted((ROOT / ".github" / "workflows").glob("*.yml")),
        *sorted(_init(tmp_path, "master").glob("*.yml")),
    ]
    shards = tmp_path / "sharded"
    shards.mkdir()
    git(shards, "init", "-q", "-b", "trunk")
    assert run_cli("init", str(shards), "--shards", "3", "--install", "plg-registry==0.1.0").code == 0
    files += sorted((shards / ".github" / "workflows").glob("*.yml"))
    proc = subprocess.run(
        [zizmor, "--offline", "--persona", "auditor", "--min-severity", "medium", "--format", "plain", *map(str, files)],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert "secrets-outside-env" not in proc.stdout + proc.stderr, proc.stdout
    assert proc.returncode == 0, proc.stdout + proc.stderr
