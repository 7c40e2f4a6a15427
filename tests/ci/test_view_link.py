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
