"""GitHub's formats: event payloads, workflow commands, step outputs, and the comment API over loopback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plg.ci.github import COMMENT_MARKER, GitHubAPI, annotation, parse_event, read_event, write_outputs
from tests.loopback_github import TOKEN, LoopbackGitHub

FIXTURES = Path(__file__).parent.parent / "fixtures" / "github"
BASE = "a" * 40
HEAD = "b" * 40


def load(name: str, **values: str) -> dict:  # type: ignore[type-arg]
    text = (FIXTURES / f"{name}.json").read_text()
    defaults = {
        "@BASE_SHA@": BASE,
        "@HEAD_SHA@": HEAD,
        "@BEFORE_SHA@": BASE,
        "@HEAD_OWNER@": "acme",
        "@HEAD_IS_FORK@": "false",
        "@REF@": "refs/heads/main",
    }
    defaults.update(values)
    for key, value in defaults.items():
        text = text.replace(key, value)
    return json.loads(text)


def test_pull_request_event_gives_base_head_number_and_fork() -> None:
    event = parse_event("pull_request", load("pull_request"), {})
    assert (event.base_sha, event.head_sha, event.pr_number) == (BASE, HEAD, 42)
    assert event.repository == "acme/prompts" and not event.from_fork and event.base_ref == "main"
    fork = parse_event("pull_request", load("pull_request", **{"@HEAD_OWNER@": "mallory"}), {})
    assert fork.from_fork


def test_push_event_knows_the_default_branch_and_a_new_branch_has_no_base() -> None:
    main = parse_event("push", load("push"), {})
    assert main.is_default_branch_push and main.base_sha == BASE and main.head_sha == HEAD
    branch = parse_event("push", load("push", **{"@REF@": "refs/heads/topic", "@BEFORE_SHA@": "0" * 40}), {})
    assert not branch.is_default_branch_push and branch.base_sha is None


def test_dispatch_and_workflow_run_events(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(load("workflow_dispatch")))
    event = read_event(
        {"GITHUB_EVENT_PATH": str(path), "GITHUB_EVENT_NAME": "workflow_dispatch", "GITHUB_SHA": HEAD}
    )
    assert event is not None and event.name == "workflow_dispatch" and event.head_sha == HEAD
    assert event.pr_number is None and event.base_sha is None
    run = parse_event("workflow_run", load("workflow_run"), {})
    assert run.head_sha == HEAD and run.from_fork and run.repository == "acme/prompts"
    assert read_event({}) is None
    path.write_text("not json")
    with pytest.raises(Exception, match="cannot read the event"):
        read_event({"GITHUB_EVENT_PATH": str(path), "GITHUB_EVENT_NAME": "push"})


def test_annotations_escape_what_would_break_the_command() -> None:
    line = annotation("error", "50% of rows\nfailed", "prompts/a,b.prompt", "plg: gate")
    assert line == "::error file=prompts/a%2Cb.prompt,title=plg%3A gate::50%25 of rows%0Afailed"


def test_outputs_use_a_heredoc_for_multiline_values(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_outputs({"passed": "true", "report": "line one\nline two"}, {"GITHUB_OUTPUT": str(out)})
    lines = out.read_text().splitlines()
    assert lines[0] == "passed=true"
    assert lines[1].startswith("report<<plg_") and lines[2:4] == ["line one", "line two"]
    assert lines[4] == lines[1].split("<<")[1]


def test_comment_is_found_past_the_first_page_and_updated(github_api: LoopbackGitHub) -> None:
    github_api.comments[5] = [{"id": i, "body": f"chatter {i}"} for i in range(1, 131)]
    github_api.comments[5][117]["body"] = f"{COMMENT_MARKER}\nold report"
    api = GitHubAPI(TOKEN, github_api.url)
    action, _ = api.upsert_comment("acme/prompts", 5, "new report")
    assert action == "updated"
    assert github_api.comments[5][117]["body"] == f"{COMMENT_MARKER}\nnew report"
    assert [r.method for r in github_api.writes()] == ["PATCH"]
    assert sum(1 for r in github_api.requests if r.method == "GET") == 2


def test_server_errors_are_retried_and_bad_credentials_are_not(github_api: LoopbackGitHub) -> None:
    api = GitHubAPI(TOKEN, github_api.url)
    github_api.fail_next = [502]
    assert api.upsert_comment("acme/prompts", 9, "report")[0] == "created"
    with pytest.raises(Exception, match="HTTP 401") as info:
        GitHubAPI("wrong", github_api.url).upsert_comment("acme/prompts", 9, "report")
    assert TOKEN not in str(info.value) and "wrong" not in str(info.value)
    assert len(github_api.comments[9]) == 1
