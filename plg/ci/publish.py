"""Where a CI report goes: the job summary, step outputs, annotations on prompt files, one PR comment (or an
artifact when the token cannot write), and the recorded scores pushed as notes on the default branch."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from plg.ci.github import (
    Event,
    GitHubAPI,
    GitHubAPIError,
    annotation,
    append_summary,
    write_outputs,
)
from plg.ci.report import CiReport, load_report, render_markdown
from plg.errors import BadInput

ARTIFACT_DIR = "plg-report"


@dataclass(frozen=True)
class Published:
    lines: tuple[str, ...]
    comment: str | None = None
    artifact: Path | None = None


def annotations(report: CiReport) -> list[str]:
    out = [
        annotation(
            "warning",
            f"{c.path} ({c.change}): {c.what}" + (f": {'; '.join(c.bounds)}" if c.bounds else ""),
            c.path,
            "plg: this change edits what judges it",
        )
        for c in report.judge_changes
    ]
    for prompt in report.prompts:
        where = prompt.file
        if prompt.error is not None:
            out.append(annotation("error", f"{prompt.name}: {prompt.error}", where, "plg: cannot evaluate"))
            continue
        if prompt.not_evaluated:
            out.append(annotation("warning", f"{prompt.name}: {prompt.not_evaluated}", where, "plg: no eval"))
            continue
        if prompt.not_judged is not None:
            out.append(annotation("error", prompt.not_judged, where, "plg: not judged"))
        for check in prompt.thresholds:
            if not check.passed:
                value = "no score" if check.value is None else f"{check.value:.3f}"
                out.append(
                    annotation(
                        "error",
                        f"{prompt.name} ({check.model}): {check.name} {value}, needs {check.bound}",
                        where,
                        "plg: eval threshold failed",
                    )
                )
        if prompt.gate_failed:
            detail = prompt.gate_reason().split(": ", 1)[-1]
            verb = "could not be checked against" if prompt.gate_error is not None else "would not pass"
            out.append(
                annotation(
                    "error" if prompt.gate_enforced else "warning",
                    f"{prompt.name} {verb} the {prompt.gate_label} gate: {detail}",
                    where,
                    f"plg: {prompt.gate_label} gate",
                )
            )
        if prompt.base_judge_failed:
            out.append(
                annotation("error", f"{prompt.name}: {prompt.base_judge_reason()}", where, "plg: the base's judge")
            )
    return out


def outputs(report: CiReport, markdown_path: Path | None) -> dict[str, str]:
    scores: dict[str, dict[str, dict[str, object]]] = {}
    for prompt in report.prompts:
        base = {f.model: f.score for f in prompt.base}
        scores[prompt.name] = {
            f.model: {
                "head": f.score,
                "base": base.get(f.model),
                "delta": None if f.score is None or base.get(f.model) is None else f.score - base[f.model],  # type: ignore[operator]
                # bounds (one-sided 95%): of the head's score, and of Δ paired over the rows both ran on
                "head_interval": f.score_interval,
                "delta_interval": f.delta_interval[1:3] if f.delta_interval else None,
                "paired_rows": int(f.delta_interval[3]) if f.delta_interval else None,
            }
            for f in prompt.head
        }
    values = {
        "passed": "true" if report.passed else "false",
        "changed": json.dumps([p.name for p in report.prompts]),
        "failed": json.dumps([p.name for p in report.prompts if not p.passed]),
        "count": str(len(report.prompts)),
        "scores": json.dumps(scores, sort_keys=True),
    }
    if markdown_path is not None:
        values["report"] = str(markdown_path)
    return values


def view_link() -> str:
    """A pointer to the viewer's static export, which the workflow uploads as an artifact of this run
    (PLG_VIEW_ARTIFACT names it); empty outside Actions or without one."""
    name = os.environ.get("PLG_VIEW_ARTIFACT", "")
    parts = [os.environ.get(k, "") for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", name) or not all(parts):
        return ""
    server, repository, run_id = parts
    if not (re.fullmatch(r"https://[A-Za-z0-9.:-]+", server) and re.fullmatch(r"[\w.-]+/[\w.-]+", repository)
            and run_id.isdigit()):
        return ""
    url = f"{server}/{repository}/actions/runs/{run_id}#artifacts"
    return (
        f"\nBrowse the eval grids and score trends: download the `{name}` artifact of [this run]({url}) "
        "and open `index.html`.\n"
    )


def write_artifact(report: CiReport, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(report.to_json() + "\n", encoding="utf-8")
    (directory / "report.md").write_text(render_markdown(report), encoding="utf-8")
    return directory


def publish(
    report: CiReport,
    event: Event | None,
    *,
    comment: bool = True,
    artifact_dir: Path | None = None,
    api: GitHubAPI | None = None,
) -> Published:
    """Summary, outputs and the PR comment. A comment that cannot be posted falls back to the artifact."""
    markdown = render_markdown(report) + view_link()
    lines: list[str] = []
    directory = artifact_dir or (Path(ARTIFACT_DIR) if event is not None else None)
    if directory is not None:
        write_artifact(report, directory)
    if append_summary(markdown):
        lines.append("wrote the report to the job summary")
    write_outputs(outputs(report, directory / "report.md" if directory else None))
    posted = None
    if comment and event is not None and event.pr_number and event.repository:
        api = api or GitHubAPI.from_env()
        reason = None
        if event.from_fork:
            reason = "a pull request from a fork gets a read-only token"
        elif api is None:
            reason = "no GITHUB_TOKEN"
        else:
            try:
                action, url = api.upsert_comment(event.repository, event.pr_number, markdown)
                posted = url
                lines.append(f"{action} the PR comment {url}")
            except GitHubAPIError as err:
                if err.status not in (401, 403, 404):
                    lines.append(annotation("warning", f"could not post the PR comment: {err.message}"))
                reason = f"the token cannot write to the pull request ({err.message})"
        if reason is not None:
            directory = directory or Path(ARTIFACT_DIR)
            write_artifact(report, directory)
            lines.append(
                f"did not comment on the PR: {reason}; the report is in {directory}/ for the "
                "workflow_run job to post"
            )
    return Published(tuple(lines), posted, directory)


def post_artifact(directory: Path, event: Event | None, api: GitHubAPI | None) -> str:
    """The privileged half of the fork flow: validate the untrusted report, find its PR, post it."""
    report = load_report(directory / "report.json")
    if api is None:
        raise BadInput("posting a report needs GITHUB_TOKEN")
    repository = (event.repository if event else None) or os.environ.get("GITHUB_REPOSITORY")
    if not repository:
        raise BadInput("posting a report needs the repository (GITHUB_REPOSITORY)")
    if report.shard is not None:
        raise BadInput(f"{directory}/report.json is shard {report.shard}'s partial report: merge the shards first")
    commit = report.pr_head_sha
    if commit is None:
        raise BadInput(f"{directory}/report.json is not the report of a pull request: not posted")
    if event is not None and event.head_sha and event.head_sha != commit:
        raise BadInput(
            f"{directory}/report.json is for commit {commit[:12]}, but the run was for "
            f"{event.head_sha[:12]}: not posted"
        )
    number = api.pull_for_commit(repository, commit)
    if number is None:
        return f"no open pull request has head {commit[:12]}; nothing posted"
    trusted = report.model_copy(update={"repository": repository, "pr_number": number})
    action, url = api.upsert_comment(repository, number, render_markdown(trusted))
    return f"{action} the comment on #{number}: {url}"
