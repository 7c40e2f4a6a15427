"""The PR comment and job summary point to the viewer's static export uploaded as an artifact of the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from plg.ci.publish import publish
from plg.ci.report import CiReport

RUN = {
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "acme/prompts",
    "GITHUB_RUN_ID": "4242",
}


def _summary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str]) -> str:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "out"))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    publish(CiReport(event="pull_request", head_sha="a" * 40), None, comment=False)
    return summary.read_text()


def test_the_report_links_to_the_viewer_artifact(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    text = _summary(monkeypatch, tmp_path, {**RUN, "PLG_VIEW_ARTIFACT": "plg-view"})
    assert "download the `plg-view` artifact of [this run](https://github.com/acme/prompts/actions/runs/4242#artifacts)" in text


@pytest.mark.parametrize(
    "env",
    [
        RUN,  # no artifact named: nothing to link to
        {**RUN, "PLG_VIEW_ARTIFACT": "x](https://evil.example)"},
        {**RUN, "PLG_VIEW_ARTIFACT": "plg-view", "GITHUB_SERVER_URL": "javascript:alert(1)//"},
    ],
)
def test_no_link_without_a_plain_artifact_name_and_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str]
) -> None:
    monkeypatch.delenv("PLG_VIEW_ARTIFACT", raising=False)
    text = _summary(monkeypatch, tmp_path, env)
    assert "artifact of [this run]" not in text and "evil" not in text and "javascript" not in text


def test_the_generated_export_step_runs_on_plg_without_the_view_extra(tmp_path: Path) -> None:
    """The workflow installs plg without `[view]`: its export step must not need the web server's packages,
    and what it writes is the artifact the comment links to (index.html and this run's grid)."""
    import re
    import subprocess
    import sys

    import yaml

    from tests.conftest import git, run_cli

    project = tmp_path / "project"
    assert run_cli("init", str(project)).code == 0
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "plg init")
    flow = yaml.safe_load((project / ".github/workflows/plg.yml").read_text())
    steps = flow["jobs"]["evaluate"]["steps"]
    [export] = [s["run"] for s in steps if "plg view --export" in s.get("run", "")]
    [upload] = [s["with"] for s in steps if s.get("with", {}).get("name") == "plg-view"]
    [evaluate] = [s for s in steps if s.get("run") == "plg ci"]
    assert evaluate["env"]["PLG_VIEW_ARTIFACT"] == upload["name"]
    directory = export.split()[-1]
    assert upload["path"].rstrip("/") == directory

    ci = run_cli("-C", str(project), "ci", "--all", "--no-comment", "--no-notes", "--report-dir", str(tmp_path / "r"))
    assert ci.code == 0, ci
    blocked = "import sys; sys.modules.update(starlette=None, uvicorn=None); from plg.cli import main; main()"
    argv = export.split()[1:]  # `plg view --export DIR`, run by this Python with the web stack unimportable
    proc = subprocess.run([sys.executable, "-c", blocked, *argv], cwd=project, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    site = project / directory
    grids = list((site / "run").glob("*.html"))
    assert (site / "index.html").is_file() and grids
    assert re.search(r"support-reply", grids[0].read_text())


def test_the_sharded_workflow_exports_the_merged_run_the_comment_links_to(tmp_path: Path) -> None:
    """The shards' rows are merged into one run in the report job: that job exports the viewer after the
    merge and uploads it under the name the comment links to (before, only the unsharded workflow did)."""
    import yaml

    from tests.conftest import run_cli

    project = tmp_path / "sharded"
    assert run_cli("init", str(project), "--shards", "2", "--install", "plg-registry==0.1.0").code == 0
    steps = yaml.safe_load((project / ".github/workflows/plg.yml").read_text())["jobs"]["report"]["steps"]
    [merge] = [s for s in steps if s.get("run", "").startswith("plg ci --merge-shards")]
    [export] = [s for s in steps if "plg view --export" in s.get("run", "")]
    [upload] = [s for s in steps if s.get("with", {}).get("name") == "plg-view"]
    assert merge["env"]["PLG_VIEW_ARTIFACT"] == upload["with"]["name"]
    assert upload["with"]["path"].rstrip("/") == export["run"].split()[-1]
    assert steps.index(merge) < steps.index(export) < steps.index(upload)
    assert export.get("if") == upload.get("if") == "always()"  # a failing gate is when the grid matters most
