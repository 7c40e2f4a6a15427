"""plg doctor: one line for each thing the repository and its git host leave unprotected."""

from __future__ import annotations

import os

import click

from plg.cli.common import cli, open_registry
from plg.errors import BadInput, Refused


@cli.command()
@click.option("--github", "check_github", is_flag=True, help="Also read the repository's rulesets and environments.")
@click.option("--repo", "repository", metavar="OWNER/NAME", help="Default: $GITHUB_REPOSITORY.")
@click.pass_context
def doctor(ctx: click.Context, check_github: bool, repository: str | None) -> None:
    """Say what still lets a label move, or a prompt or pipeline change, without the review plg assumes
    (exit 1 when something is unprotected)."""
    from plg.ci import doctor as checks
    from plg.ci.github import GitHubAPI

    registry = open_registry(ctx)
    findings = checks.check_local(registry.root)
    if check_github:
        repository = repository or os.environ.get("GITHUB_REPOSITORY")
        if not repository:
            raise BadInput("plg doctor --github needs the repository: --repo OWNER/NAME or $GITHUB_REPOSITORY")
        api = GitHubAPI.from_env()
        if api is None:
            raise BadInput("plg doctor --github needs GITHUB_TOKEN (a token that may read the repository's settings)")
        findings += checks.check_github(api, repository)
    for finding in findings:
        click.echo(finding.line)
    if not check_github:
        click.echo("not checked: the host's rulesets and environments (run plg doctor --github)")
    unprotected = [f for f in findings if not f.protected]
    if unprotected:
        raise Refused(f"{len(unprotected)} thing(s) unprotected")
