"""The workflows this repository runs and the ones `plg init` writes: actionlint-clean and least-privilege."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


def workflow_files(tmp_path: Path) -> list[Path]:
    target = tmp_path / "fresh"
    assert run_cli("init", str(target), "--install", "plg==0.1.0").code == 0
    assert (target / ".github" / "plg-requirements.txt").read_text().splitlines()[-1] == "plg==0.1.0"
    written = sorted((target / ".github" / "workflows").glob("*.yml"))
    assert [p.name for p in written] == ["plg-comment.yml", "plg-promote.yml", "plg.yml"]
    return sorted((ROOT / ".github" / "workflows").glob("*.yml")) + written


def test_actionlint_accepts_every_workflow(tmp_path: Path) -> None:
    actionlint = shutil.which("actionlint")
    if actionlint is None:
        pytest.skip("actionlint is not installed (pip install -e '.[test]' installs it on Linux)")
    files = workflow_files(tmp_path)
    proc = subprocess.run(
        [actionlint, "-shellcheck=", "-pyflakes=", *map(str, files)], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_workflows_are_least_privilege_and_pinned(tmp_path: Path) -> None:
    for path in workflow_files(tmp_path):
        text = path.read_text()
        flow = yaml.safe_load(text)
        triggers = flow[True]  # YAML 1.1 reads the key `on` as True
        assert flow["permissions"] == {}, path
        assert "pull_request_target" not in triggers, path
        for name, job in flow["jobs"].items():
            assert "permissions" in job, f"{path}: job {name} must say what it needs"
            for step in job["steps"]:
                uses = step.get("uses")
                if uses and not uses.startswith("./"):
                    assert PINNED.match(uses), f"{path}: {uses} is not pinned to a commit"
                pr_job = job.get("if", "").endswith("'pull_request'")
                if uses and uses.startswith("actions/checkout") and pr_job:
                    assert step["with"]["persist-credentials"] is False, path
                    assert step["with"]["fetch-depth"] == 0, path
                assert "${{ github.event." not in (step.get("run") or ""), (
                    f"{path}: event text inlined in run"
                )
                assert "${{ inputs." not in (step.get("run") or ""), f"{path}: input inlined in run"


def test_pull_request_jobs_cannot_write_contents_and_only_push_jobs_can(tmp_path: Path) -> None:
    for path in workflow_files(tmp_path):
        flow = yaml.safe_load(path.read_text())
        for job in flow["jobs"].values():
            writes = {k for k, v in job["permissions"].items() if v == "write"}
            condition = job.get("if", "")
            if "'pull_request'" in condition:
                assert writes <= {"pull-requests"}, path
            if "contents" in writes:
                assert "'push'" in condition or "workflow_dispatch" in flow[True], path


def test_composite_action_passes_inputs_through_env() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    assert {"command", "python-version", "openai-api-key", "anthropic-api-key"} <= set(action["inputs"])
    for step in action["runs"]["steps"]:
        assert "${{ inputs." not in (step.get("run") or "")
        if "uses" in step:
            assert PINNED.match(step["uses"])
