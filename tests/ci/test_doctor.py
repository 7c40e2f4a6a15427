"""`plg doctor [--github]`: one line for each thing the repository and its host leave unprotected, read
from the loopback GitHub API's rulesets and environments."""

from __future__ import annotations

import pytest

from tests.conftest import GitRepo, run_cli
from tests.loopback_github import LoopbackGitHub

RULESET = {
    "id": 7,
    "name": "production labels",
    "target": "tag",
    "enforcement": "active",
    "conditions": {"ref_name": {"include": ["refs/tags/prompts/*@production"], "exclude": []}},
    "rules": [{"type": "creation"}, {"type": "update"}, {"type": "deletion"}],
}
REVIEWED = {"protection_rules": [{"type": "required_reviewers", "reviewers": [{"type": "Team"}]}]}


@pytest.fixture
def project(repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/prompts")
    repo.write("prompts/cake.prompt", "---\nmodel: plg/offline\n---\nuser:\nhi\n")
    repo.commit("cake")
    return repo


def test_an_unprotected_repository_gets_one_line_per_gap(project: GitRepo, github_api: LoopbackGitHub) -> None:
    result = run_cli("doctor", "--github")

    assert result.code == 1, result
    lines = result.out.splitlines()
    assert len([line for line in lines if line.startswith("unprotected:")]) == 4, result.out
    assert any("no active tag ruleset on refs/tags/prompts/*@production" in line for line in lines)
    assert any("no CODEOWNERS" in line for line in lines)
    assert any("no `production` environment" in line for line in lines)
    assert any("plg-allowed-signers" in line for line in lines)
    assert {r.path.split("?")[0] for r in github_api.requests} == {
        "/api/v3/repos/acme/prompts/rulesets",
        "/api/v3/repos/acme/prompts/environments/production",
    }


def test_a_protected_repository_passes_and_half_measures_are_named(
    project: GitRepo, github_api: LoopbackGitHub
) -> None:
    project.write(".github/CODEOWNERS", "/prompts/ @acme/prompt-owners\n/evals/** @acme/prompt-owners\n")
    project.write(".github/plg-allowed-signers", "ci@acme namespaces=\"plg\" ssh-ed25519 AAAA\n")
    github_api.rulesets = [RULESET]
    github_api.environments = {"production": REVIEWED}

    ok = run_cli("doctor", "--github")

    assert ok.code == 0, ok
    assert all(line.startswith("ok:") for line in ok.out.splitlines()), ok.out
    github_api.rulesets = [{**RULESET, "rules": [{"type": "deletion"}]}]
    github_api.environments = {"production": {"protection_rules": []}}
    project.write(".github/CODEOWNERS", "/prompts/ @acme/prompt-owners\n")
    half = run_cli("doctor", "--github")
    assert half.code == 1
    assert "restricts creation, update:" in half.out
    assert "has no required reviewers" in half.out
    assert "names no owner for evals/**" in half.out


def test_without_github_only_the_checkout_is_read(project: GitRepo, github_api: LoopbackGitHub) -> None:
    result = run_cli("doctor")

    assert result.code == 1 and "run plg doctor --github" in result.out, result
    assert github_api.requests == []


def test_a_token_the_host_refuses_is_an_outside_failure(project: GitRepo, github_api: LoopbackGitHub) -> None:
    github_api.fail_next = [500, 500, 500]

    result = run_cli("doctor", "--github")

    assert result.code == 3 and "HTTP 500" in result.err, result
