"""plg view: the local web viewer, or its static export."""

from __future__ import annotations

from pathlib import Path

import click

from plg.cli.common import cli, repo_path
from plg.errors import BadInput


@cli.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8700, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option("--open", "open_browser", is_flag=True, help="Open the viewer in a browser.")
@click.option(
    "--export",
    "export_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the pages as static HTML to DIR instead of serving them.",
)
@click.option("--log", "log_path", type=click.Path(dir_okay=False, path_type=Path), help="The request log.")
@click.pass_context
def view(
    ctx: click.Context, port: int, host: str, open_browser: bool, export_dir: Path | None, log_path: Path | None
) -> None:
    """Browse prompts, score trends, eval runs and the request log in a browser."""
    if export_dir is not None:
        from plg.view.export import export_site
        from plg.view.site import Site

        result = export_site(Site.open(repo_path(ctx), log_path), export_dir)
        click.echo(f"wrote {result.pages} page(s) to {result.directory}/ (open index.html)")
        for line in result.skipped:
            click.echo(f"  not exported: {line}", err=True)
        return
    try:
        from plg.view.app import serve
    except ModuleNotFoundError as err:
        if err.name in ("starlette", "uvicorn"):
            raise BadInput(
                "plg view needs the view extra: python -m pip install 'plg-registry[view]'"
            ) from None
        raise
    serve(repo_path(ctx), host=host, port=port, open_browser=open_browser, log_path=log_path)
