"""`plg doctor`: what the repository and its git host still allow. plg puts the release decision in git, so
the host's rules are its access control: a tag ruleset on the production labels, CODEOWNERS on prompts and
pipelines, required reviewers on the `production` environment, and an allowed-signers file for the signed
evidence. Each missing one is one line; nothing is changed.
"""

from __future__ import annotations

import fnmatch
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plg.ci.github import GitHubAPI, GitHubAPIError
from plg.errors import BadInput

CODEOWNERS_PLACES = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")
ALLOWED_SIGNERS = ".github/plg-allowed-signers"
LABEL_TAG = "refs/tags/prompts/support-reply@production"
"""A production label's ref, as a ruleset's ref-name patterns must match it (any prompt's would do)."""
TAG_RULES = ("creation", "update", "deletion")


@dataclass(frozen=True)
class Finding:
    protected: bool
    line: str


def check_local(root: Path) -> list[Finding]:
    return [_codeowners(root), _allowed_signers(root)]


def _codeowners(root: Path) -> Finding:
    found = next((root / p for p in CODEOWNERS_PLACES if (root / p).is_file()), None)
    if found is None:
        return Finding(False, "unprotected: no CODEOWNERS file, so nobody in particular must review prompts/** and evals/**")
    owned = set()
    for raw in found.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = raw.split("#", 1)[0].split()
        if len(parts) < 2:
            continue
        pattern = parts[0].lstrip("/")
        for folder in ("prompts", "evals"):
            if pattern in ("*", "**", f"{folder}", f"{folder}/", f"{folder}/*", f"{folder}/**"):
                owned.add(folder)
    missing = [f"{f}/**" for f in ("prompts", "evals") if f not in owned]
    where = found.relative_to(root).as_posix()
    if missing:
        return Finding(False, f"unprotected: {where} names no owner for {' or '.join(missing)}")
    return Finding(True, f"ok: {where} names owners for prompts/** and evals/**")


def _allowed_signers(root: Path) -> Finding:
    if (root / ALLOWED_SIGNERS).is_file() and (root / ALLOWED_SIGNERS).read_text(errors="replace").strip():
        return Finding(True, f"ok: {ALLOWED_SIGNERS} lists who may sign recorded scores")
    return Finding(
        False, f"unprotected: no {ALLOWED_SIGNERS}, so recorded scores in notes cannot be verified as signed"
    )


def check_github(api: GitHubAPI, repository: str) -> list[Finding]:
    """Reads the repository's rulesets and the `production` environment (each call bounded by the API
    client's timeout); a token that may not read them is said, not guessed around."""
    if "/" not in repository or any(c in repository for c in "?#\n "):
        raise BadInput(f"--repo {repository!r}: give OWNER/NAME")
    base = f"/repos/{urllib.parse.quote(repository, safe='/')}"
    return [_tag_ruleset(api, base), _environment_reviewers(api, base)]


def _tag_ruleset(api: GitHubAPI, base: str) -> Finding:
    try:
        listed = api.request("GET", f"{base}/rulesets?includes_parents=true&per_page=100") or []
    except GitHubAPIError as err:
        if err.status in (403, 404):
            return Finding(False, f"unknown: the token cannot read the repository's rulesets ({err.message})")
        raise
    covered: set[str] = set()
    for summary in listed:
        if not isinstance(summary, dict) or summary.get("target") != "tag":
            continue
        ruleset = api.request("GET", f"{base}/rulesets/{int(summary['id'])}") or {}
        if ruleset.get("enforcement") != "active" or not _matches_label(ruleset):
            continue
        covered |= {r.get("type") for r in ruleset.get("rules") or [] if isinstance(r, dict)}
    missing = [r for r in TAG_RULES if r not in covered]
    if missing:
        return Finding(
            False,
            "unprotected: no active tag ruleset on refs/tags/prompts/*@production restricts "
            f"{', '.join(missing)}: anyone with push access can move a production label",
        )
    return Finding(True, "ok: a tag ruleset restricts creating, updating and deleting production labels")


def _matches_label(ruleset: dict[str, Any]) -> bool:
    names = (ruleset.get("conditions") or {}).get("ref_name") or {}
    include = [str(p) for p in names.get("include") or []]
    exclude = [str(p) for p in names.get("exclude") or []]
    hit = any(p == "~ALL" or fnmatch.fnmatchcase(LABEL_TAG, p) for p in include)
    return hit and not any(fnmatch.fnmatchcase(LABEL_TAG, p) for p in exclude)


def _environment_reviewers(api: GitHubAPI, base: str) -> Finding:
    try:
        environment = api.request("GET", f"{base}/environments/production") or {}
    except GitHubAPIError as err:
        if err.status == 404:
            return Finding(
                False, "unprotected: no `production` environment, so no reviewer approves a label move"
            )
        raise
    rules = environment.get("protection_rules") or []
    reviewers = [
        r for r in rules if isinstance(r, dict) and r.get("type") == "required_reviewers" and r.get("reviewers")
    ]
    if not reviewers:
        return Finding(False, "unprotected: the `production` environment has no required reviewers")
    return Finding(True, "ok: the `production` environment needs a reviewer's approval")
