"""What every command shares: the root group, the registry it opens, table and JSON output."""

from __future__ import annotations

import importlib
import json
from typing import Any

import click

from plg.cli.commands import COMMAND_MODULES
from plg.errors import BadInput


class LazyGroup(click.Group):
    """The root group imports a command's module only when that command runs (or help lists them all):
    a registry command starts without loading the eval, CI, log and viewer layers."""

    lazy = {name: module for module, names in COMMAND_MODULES.items() for name in names}

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            importlib.import_module(self.lazy[cmd_name])
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(self.lazy))


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.option("-C", "--repo", "repo", default=".", metavar="DIR", help="Run as if started in DIR.")
@click.version_option(package_name="plg")
@click.pass_context
def cli(ctx: click.Context, debug: bool, repo: str) -> None:
    """plg: a Git-native prompt registry with a CI/CD gate."""
    ctx.obj = {"repo": repo, "debug": debug}


def repo_path(ctx: click.Context) -> str:
    root = ctx.find_root()
    return str((root.obj or {}).get("repo", "."))


def open_registry(ctx: click.Context):  # type: ignore[no-untyped-def]
    from plg.registry.versions import Registry

    return Registry(repo_path(ctx))


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False, default=str))


def echo_table(rows: list[list[Any]], headers: list[str]) -> None:
    from plg.cli.table import simple_table

    if not rows:
        click.echo("(none)")
        return
    click.echo(simple_table(rows, headers))


def parse_assignments(pairs: tuple[str, ...], flag: str = "-v") -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BadInput(f"{flag} {pair!r}: expected key=value")
        values[key] = value
    return values
