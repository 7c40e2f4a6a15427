"""plg serve: PromptLayer's REST API over the registry and the request log, for PromptLayer's own SDKs."""

from __future__ import annotations

from pathlib import Path

import click

from plg.cli.common import cli, repo_path
from plg.errors import BadInput


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--repo", "source_repo", metavar="PATH|URL", help="Checkout or git remote to serve (default: -C DIR).")
@click.option("--bundle", type=click.Path(dir_okay=False, path_type=Path), help="Serve a `plg bundle` file instead.")
@click.option("--log", "log_location", metavar="PATH|URL", help="The request log (a file, or postgresql://...).")
@click.option("--api-keys", "keys_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Accepted keys, one a line with its scopes (read, log, publish); adds to PLG_SERVE_API_KEYS.")
@click.option("--label-ttl", type=click.FloatRange(min=0), help="Seconds a label's answer is reused (as for Client).")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, source_repo: str | None, bundle: Path | None,
          log_location: str | None, keys_file: Path | None, label_ttl: float | None) -> None:
    """Answer PromptLayer's SDKs (set their base URL to this server): templates, run's tracking, track.*,
    groups, log_request and traces, over the registry and plg's request log."""
    from plg.promptlayer.access import load_keys

    keys = load_keys(keys_file)
    if bundle is not None and source_repo is not None:
        raise BadInput("give --repo or --bundle, not both")
    try:
        from plg.promptlayer.server import run_server
    except ModuleNotFoundError as err:
        if err.name in ("starlette", "uvicorn"):
            raise BadInput("plg serve needs the view extra: python -m pip install 'plg-registry[view]'") from None
        raise
    from plg.promptlayer.service import open_service

    service = open_service(source_repo or repo_path(ctx), bundle, log_location, label_ttl)
    try:
        run_server(service, keys, host, port)
    finally:
        service.close()
