"""The workflows this repository runs and the ones `plg init` writes: actionlint-clean and least-privilege."""

from __future__ import annotations

import os
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
    requirement = "plg-registry @ git+https://github.com/OWNER/plg@v0.1.0"
    assert run_cli("init", str(target), "--install", requirement).code == 0
    assert (target / ".github" / "plg-requirements.txt").read_text().splitlines()[-1] == requirement
    written = sorted((target / ".github" / "workflows").glob("*.yml"))
    assert [p.name for p in written] == ["plg-comment.yml", "plg-promote.yml", "plg.yml"]
    return sorted((ROOT / ".github" / "workflows").glob("*.yml")) + written + [sharded_workflow(tmp_path)]


def sharded_workflow(tmp_path: Path) -> Path:
    target = tmp_path / "sharded"
    assert run_cli("init", str(target), "--shards", "4", "--install", "plg-registry==0.1.0").code == 0
    return target / ".github" / "workflows" / "plg.yml"


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed: the test extra installs it")
        pytest.skip(f"{name} is not installed (pip install -e '.[test]' installs it)")
    return found


def test_actionlint_accepts_every_workflow(tmp_path: Path) -> None:
    actionlint = _tool("actionlint")
    files = workflow_files(tmp_path)
    proc = subprocess.run(
        [actionlint, "-shellcheck=", "-pyflakes=", *map(str, files)], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_finds_nothing_of_medium_or_high_severity(tmp_path: Path) -> None:
    zizmor = _tool("zizmor")
    files = [*workflow_files(tmp_path), ROOT / "action.yml"]
    proc = subprocess.run(
        [zizmor, "--offline", "--min-severity", "medium", "--format", "plain", *map(str, files)],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout + proc.stderr


def test_the_token_reaches_only_steps_that_talk_to_the_remote(tmp_path: Path) -> None:
    """Checkouts keep no credentials; a step gets the token only to fetch, push or comment."""
    for path in workflow_files(tmp_path):
        for name, job in yaml.safe_load(path.read_text())["jobs"].items():
            for step in job["steps"]:
                if step.get("uses", "").startswith("actions/checkout"):
                    assert step["with"]["persist-credentials"] is False, f"{path}: {name}"
                env = step.get("env", {})
                if "GITHUB_TOKEN" in env:
                    run = step.get("run", "")
                    assert any(w in run for w in ("fetch", "push", "plg ci", "plg promote")), f"{path}: {step}"


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


def test_the_sharded_workflow_runs_a_matrix_sized_by_its_input_then_one_merge(tmp_path: Path) -> None:
    flow = yaml.safe_load(sharded_workflow(tmp_path).read_text())
    assert flow[True]["workflow_dispatch"]["inputs"]["shards"]["default"] == 4
    plan = flow["jobs"]["plan"]["steps"][0]
    assert plan["env"]["SHARDS"] == "${{ inputs.shards || vars.PLG_SHARDS || '4' }}"
    matrix = flow["jobs"]["shard"]["strategy"]["matrix"]["shard"]
    assert matrix == "${{ fromJSON(needs.plan.outputs.matrix) }}"
    shard_runs = [s.get("run", "") for s in flow["jobs"]["shard"]["steps"]]
    assert 'plg ci --shard "$SHARD/$SHARDS" --report-dir plg-shard' in shard_runs
    assert flow["jobs"]["shard"]["permissions"] == {"contents": "read"}
    for final in ("report", "record"):
        job = flow["jobs"][final]
        assert job["needs"] == ["plan", "shard"]
        assert any("plg ci" in s.get("run", "") and "--merge-shards shards" in s["run"] for s in job["steps"])
    bash = shutil.which("bash")
    assert bash is not None
    for shards, ok in (("3", True), ("0", False), ("257", False), ("2; rm -rf /", False)):
        out = tmp_path / f"out-{len(shards)}-{ok}"
        proc = subprocess.run(
            [bash, "-c", plan["run"]], env={"SHARDS": shards, "GITHUB_OUTPUT": str(out), "PATH": os.environ["PATH"]},
            capture_output=True, text=True,
        )
        assert (proc.returncode == 0) is ok, proc
        if ok:
            assert out.read_text().splitlines() == ["count=3", "matrix=[1,2,3]"]
    assert run_cli("init", str(tmp_path / "bad"), "--shards", "0").code == 2
