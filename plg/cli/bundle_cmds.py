"""`plg bundle`: freeze every prompt's version at a label into one file, or check that file is current."""

from __future__ import annotations

from pathlib import Path

import click

from plg.cli.common import cli, open_registry
from plg.errors import Refused


@cli.command()
@click.option("--label", "-l", default=None, help="The label to bundle (default production; with --check: the bundle's).")
@click.option("--output", "-o", default="prompts.lock.json", show_default=True, type=click.Path(dir_okay=False))
@click.option("--check", is_flag=True, help="Exit 1 when the bundle no longer matches the labels.")
@click.pass_context
def bundle(ctx: click.Context, label: str | None, output: str, check: bool) -> None:
    """Write every prompt's version at LABEL (content, version, commit, model, params) to one file that
    `Client(bundle=...)` serves without git."""
    from plg.registry.versions import validate_name
    from plg.runtime.bundle import build_bundle, read_bundle, stale_entries, write_bundle

    if label is not None:
        validate_name(label, "label")
    registry = open_registry(ctx)
    path = Path(output)
    if check:
        shipped = read_bundle(path)
        problems = stale_entries(shipped, registry, label)
        for line in problems:
            click.echo(line)
        if problems:
            raise Refused(f"{path} is stale: run plg bundle --label {shipped.label} -o {path}")
        click.echo(f"{path} is current ({len(shipped.prompts)} prompt(s) at {shipped.label})")
        return
    made = build_bundle(registry, label or "production")
    write_bundle(made, path)
    for entry in made.prompts:
        click.echo(f"{entry.name}@{entry.label} -> v{entry.version} ({entry.commit[:10]})")
    click.echo(f"wrote {path} ({len(made.prompts)} prompt(s))")
