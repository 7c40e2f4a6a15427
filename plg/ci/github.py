"""GitHub Actions from the inside: the triggering event, workflow commands, the step summary and outputs,
and the REST API calls that keep one PR comment up to date.

Nothing here decides anything about prompts; `plg.ci.job` does. This module only speaks GitHub's formats, so
it can be tested against recorded event payloads and a loopback server standing in for the API.
"""

from __future__ import annotations

import json
import os
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plg.errors import BadInput, OutsideFailure

COMMENT_MARKER = "<!-- plg-ci-report -->"
MAX_COMMENT_CHARS = 65_000
MAX_SUMMARY_CHARS = 1_000_000  # GitHub refuses a step summary over 1 MiB
_API_TIMEOUT = 20.0


@dataclass(frozen=True)
class Event:
    """What plg needs from `$GITHUB_EVENT_PATH`, whatever event it was."""

    name: str
    repository: str | None
    base_sha: str | None
    head_sha: str | None
    pr_number: int | None
    ref: str | None
    default_branch: str | None
    from_fork: bool
    base_ref: str | None

    @property
    def is_default_branch_push(self) -> bool:
        return (
            self.name == "push"
            and self.default_branch is not None
            and self.ref == f"refs/heads/{self.default_branch}"
        )


def read_event(environ: dict[str, str] | None = None) -> Event | None:
    """The event of the running workflow, or None outside GitHub Actions."""
    env = os.environ if environ is None else environ
    path = env.get("GITHUB_EVENT_PATH")
    name = env.get("GITHUB_EVENT_NAME")
    if not path or not name:
        return None
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise BadInput(f"GITHUB_EVENT_PATH {path}: cannot read the event ({err})") from None
    if not isinstance(payload, dict):
        raise BadInput(f"GITHUB_EVENT_PATH {path}: the event is not a JSON object")
    return parse_event(name, payload, env)


def parse_event(name: str, payload: dict[str, Any], env: dict[str, str] | os._Environ[str]) -> Event:
    repo = payload.get("repository") or {}
    repository = repo.get("full_name") or env.get("GITHUB_REPOSITORY")
    default_branch = repo.get("default_branch")
    if name in ("pull_request", "pull_request_target"):
        pr = payload.get("pull_request") or {}
        base = pr.get("base") or {}
        head = pr.get("head") or {}
        head_repo = (head.get("repo") or {}).get("full_name")
        return Event(
            name=name,
            repository=repository,
            base_sha=base.get("sha"),
            head_sha=head.get("sha"),
            pr_number=pr.get("number") or payload.get("number"),
            ref=env.get("GITHUB_REF"),
            default_branch=default_branch,
            from_fork=bool(head_repo and repository and head_repo != repository),
            base_ref=base.get("ref") or env.get("GITHUB_BASE_REF") or None,
        )
    if name == "push":
        before = payload.get("before")
        return Event(
            name=name,
            repository=repository,
            base_sha=None if not before or set(before) == {"0"} else before,
            head_sha=payload.get("after"),
            pr_number=None,
            ref=payload.get("ref"),
            default_branch=default_branch,
            from_fork=False,
            base_ref=None,
        )
    if name == "workflow_run":
        run = payload.get("workflow_run") or {}
        return Event(
            name=name,
            repository=repository,
            base_sha=None,
            head_sha=run.get("head_sha"),
            pr_number=None,
            ref=run.get("head_branch"),
            default_branch=default_branch,
            from_fork=((run.get("head_repository") or {}).get("full_name") or repository) != repository,
            base_ref=None,
        )
    return Event(
        name=name,
        repository=repository,
        base_sha=None,
        head_sha=env.get("GITHUB_SHA"),
        pr_number=None,
        ref=env.get("GITHUB_REF") or payload.get("ref"),
        default_branch=default_branch,
        from_fork=False,
        base_ref=None,
    )


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(level: str, message: str, file: str | None = None, title: str | None = None) -> str:
    """A workflow command (`::error file=...::message`) that GitHub shows on the file in the PR."""
    props = []
    if file:
        props.append(f"file={escape_property(file)}")
    if title:
        props.append(f"title={escape_property(title)}")
    joined = (" " + ",".join(props)) if props else ""
    return f"::{level}{joined}::{escape_data(message)}"


def append_summary(markdown: str, environ: dict[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    path = env.get("GITHUB_STEP_SUMMARY")
    if not path:
        return False
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(clip(markdown, MAX_SUMMARY_CHARS).rstrip("\n") + "\n")
    return True


def write_outputs(values: dict[str, str], environ: dict[str, str] | None = None) -> bool:
    """Step outputs, multi-line values in heredoc form with a delimiter the value cannot contain."""
    env = os.environ if environ is None else environ
    path = env.get("GITHUB_OUTPUT")
    if not path:
        return False
    with open(path, "a", encoding="utf-8") as handle:
        for key, value in values.items():
            if "\n" in value:
                delimiter = f"plg_{secrets.token_hex(8)}"
                handle.write(f"{key}<<{delimiter}\n{value}\n{delimiter}\n")
            else:
                handle.write(f"{key}={value}\n")
    return True


class GitHubAPIError(OutsideFailure):
    def __init__(self, message: str, status: int | None) -> None:
        super().__init__(message)
        self.status = status


class GitHubAPI:
    """The few REST calls plg makes, over urllib: no client library to install for four endpoints."""

    def __init__(self, token: str, api_url: str = "https://api.github.com", retries: int = 2) -> None:
        self.token = token
        self.api_url = api_url.rstrip("/")
        self.retries = retries

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> GitHubAPI | None:
        env = os.environ if environ is None else environ
        token = env.get("GITHUB_TOKEN") or env.get("GH_TOKEN")
        if not token:
            return None
        return cls(token, env.get("GITHUB_API_URL") or "https://api.github.com")

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = path if path.startswith("http") else f"{self.api_url}{path}"
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(url, data=data, method=method)
            req.add_header("Authorization", f"Bearer {self.token}")
            req.add_header("Accept", "application/vnd.github+json")
            req.add_header("X-GitHub-Api-Version", "2022-11-28")
            req.add_header("User-Agent", "plg-ci")
            if data is not None:
                req.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(req, timeout=_API_TIMEOUT) as resp:
                    raw = resp.read()
                    return json.loads(raw) if raw else None
            except urllib.error.HTTPError as err:
                if err.code >= 500 and attempt < self.retries:
                    time.sleep(0.5 * (attempt + 1))
                    continue
                raise GitHubAPIError(f"GitHub API {method} {path}: HTTP {err.code}", err.code) from None
            except (urllib.error.URLError, TimeoutError, OSError) as err:
                if attempt < self.retries:
                    time.sleep(0.5 * (attempt + 1))
                    continue
                reason = getattr(err, "reason", err)
                raise GitHubAPIError(f"GitHub API {method} {path}: {reason}", None) from None
        raise AssertionError("unreachable")

    def find_comment(self, repository: str, number: int, marker: str = COMMENT_MARKER) -> int | None:
        page = 1
        while page <= 30:
            comments = self.request(
                "GET", f"/repos/{repository}/issues/{number}/comments?per_page=100&page={page}"
            )
            if not comments:
                return None
            for comment in comments:
                if marker in (comment.get("body") or ""):
                    return int(comment["id"])
            if len(comments) < 100:
                return None
            page += 1
        return None

    def upsert_comment(self, repository: str, number: int, body: str) -> tuple[str, str]:
        """Update plg's earlier comment in place, or create it: one comment per PR, never a pile."""
        if COMMENT_MARKER not in body:
            body = f"{COMMENT_MARKER}\n{body}"
        body = clip(body, MAX_COMMENT_CHARS)
        existing = self.find_comment(repository, number)
        if existing is not None:
            reply = self.request("PATCH", f"/repos/{repository}/issues/comments/{existing}", {"body": body})
            return "updated", str((reply or {}).get("html_url", existing))
        reply = self.request("POST", f"/repos/{repository}/issues/{number}/comments", {"body": body})
        return "created", str((reply or {}).get("html_url", ""))

    def pull_for_commit(self, repository: str, head_sha: str) -> int | None:
        """The open PR whose head is this commit, found from the base repository's side (fork PRs included)."""
        page = 1
        while page <= 10:
            pulls = self.request("GET", f"/repos/{repository}/pulls?state=open&per_page=100&page={page}")
            if not pulls:
                return None
            for pull in pulls:
                if (pull.get("head") or {}).get("sha") == head_sha:
                    return int(pull["number"])
            if len(pulls) < 100:
                return None
            page += 1
        return None


def clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 80].rstrip() + "\n\n… (report cut to fit GitHub's size limit)\n"
