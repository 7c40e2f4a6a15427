"""Request-log commands: logs (list), logs show, logs export, logs export-traces, logs copy, logs sync."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from plg.cli.common import cli, echo_json, echo_table, parse_assignments, repo_path

# Counting every match of a common word in millions of rows costs more than listing the newest 50.
COUNT_CAP = 10_000
LOG_HELP = (
    "The log: a SQLite file or a postgresql:// URL (default $PLG_LOG, else `log` in plg.toml or [tool.plg], "
    "else .plg/requests.db)."
)


def filter_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--prompt", help="Only this prompt."),
        click.option("--label", help="Only requests resolved through this label."),
        click.option("--version", type=int, help="Only this prompt version."),
        click.option("--since", help="7d, 12h, 30m, a date or an ISO time."),
        click.option("--until", help="A date or an ISO time (exclusive)."),
        click.option(
            "--tag", "tags", multiple=True, help="Requests carrying this tag (repeat: all of them)."
        ),
        click.option(
            "--meta", "meta", multiple=True, metavar="KEY=VALUE", help="Metadata match (repeat: all)."
        ),
        click.option("--search", help="Words (the last one as a prefix) in inputs, messages or output."),
        click.option("--min-score", type=float, help="Requests with a score of at least this (0-100)."),
        click.option("--log", "log_path", metavar="PATH|URL", help=LOG_HELP),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def build_query(limit: int | None, **kw: Any):  # type: ignore[no-untyped-def]
    from plg.log.query import LogQuery, parse_time

    return LogQuery(
        prompt=kw.get("prompt"),
        label=kw.get("label"),
        version=kw.get("version"),
        since=parse_time(kw["since"]) if kw.get("since") else None,
        until=parse_time(kw["until"], "--until") if kw.get("until") else None,
        tags=tuple(kw.get("tags") or ()),
        meta=parse_assignments(tuple(kw.get("meta") or ()), "--meta"),
        search=kw.get("search"),
        min_score=kw.get("min_score"),
        limit=limit,
    )


def _root(ctx: click.Context) -> Path:
    from plg.registry.gitreads import find_worktree

    root = Path(repo_path(ctx)).resolve()
    return find_worktree(root) or root


def open_log(ctx: click.Context, log_path: str | None):  # type: ignore[no-untyped-def]
    """Reads and copies talk to the database directly; only the SDK writes through a background writer."""
    from plg.log.store import open_log as open_store

    return open_store(log_path, _root(ctx) if not log_path else Path("."))


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _clip(text: str | None, width: int = 48) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


@cli.group(invoke_without_command=True)
@filter_options
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def logs(ctx: click.Context, limit: int, as_json: bool, log_path: str | None, **filters: Any) -> None:
    """List logged requests, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    query = build_query(limit, **filters)
    store = open_log(ctx, log_path)
    records = store.query(query)
    if as_json:
        from plg.log.history import history_line

        echo_json(
            [
                {
                    **history_line(r),
                    "error": r.error,
                    "scores": r.scores,
                    "latency_s": r.latency_s,
                    "cost": r.cost,
                    "trace_id": r.trace_id,
                    "span_id": r.span_id,
                }
                for r in records
            ]
        )
        return
    rows = [
        [
            r.id[:12],
            _when(r.time),
            f"{r.prompt_name or '-'}" + (f"@{r.version}" if r.version else ""),
            r.label or "",
            r.model or "",
            "ERROR" if r.error else _clip(r.output),
            " ".join(f"{k}={v:g}" for k, v in r.scores.items()),
            ",".join(r.tags),
        ]
        for r in records
    ]
    echo_table(rows, ["id", "time (UTC)", "prompt", "label", "model", "output", "scores", "tags"])
    total = store.count(build_query(None, **filters), at_most=COUNT_CAP)
    if total > len(records):
        of = f"more than {COUNT_CAP:,}" if total > COUNT_CAP else str(total)
        click.echo(f"({len(records)} of {of} shown; --limit for more)")


@logs.command(name="show")
@click.argument("request_id")
@click.option("--log", "log_path", metavar="PATH|URL", help=LOG_HELP)
@click.option("--json", "as_json", is_flag=True)
@click.option("--trace", is_flag=True, help="Draw the trace the request belongs to, with timings.")
@click.pass_context
def logs_show(ctx: click.Context, request_id: str, log_path: str | None, as_json: bool, trace: bool) -> None:
    """Print one request in full."""
    from dataclasses import asdict

    store = open_log(ctx, log_path)
    record = store.get(request_id)
    if trace:
        _show_trace(store, record, as_json)
        return
    if as_json:
        echo_json(asdict(record))
        return
    click.echo(f"request {record.id}  {_when(record.time)} UTC")
    click.echo(
        f"prompt:   {record.prompt_name or '-'}"
        + (f"@{record.version}" if record.version else "")
        + (f" [{record.label}]" if record.label else "")
        + (f" commit {record.commit[:10]}" if record.commit else "")
    )
    click.echo(f"model:    {record.model}  {json.dumps(record.params) if record.params else ''}".rstrip())
    latency = f"{record.latency_s:.3f} s" if record.latency_s is not None else "-"
    click.echo(
        f"latency:  {latency}  tokens {_dash(record.prompt_tokens)}/{_dash(record.completion_tokens)}  "
        f"cost {_dash(record.cost)}"
    )
    click.echo(f"inputs:   {json.dumps(record.input_variables, ensure_ascii=False)}")
    if record.tags:
        click.echo(f"tags:     {', '.join(record.tags)}")
    if record.metadata:
        click.echo(f"metadata: {json.dumps(record.metadata, ensure_ascii=False)}")
    if record.scores:
        click.echo(f"scores:   {', '.join(f'{k}={v:g}' for k, v in record.scores.items())}")
    if record.trace_id:
        click.echo(f"trace:    {record.trace_id} span {record.span_id} (--trace to draw it)")
    for message in record.messages:
        click.echo(f"\n{message.get('role')}:\n{message.get('content')}")
    if record.error:
        click.echo(f"\nerror:\n{record.error}")
    else:
        click.echo(f"\nassistant (output):\n{record.output}")


def _show_trace(store: Any, record: Any, as_json: bool) -> None:
    from plg.tracing.tree import draw_tree

    spans = store.trace(record.trace_id) if record.trace_id else []
    if as_json:
        echo_json([s.to_json() for s in spans])
        return
    if not spans:
        click.echo(f"request {record.id} was not traced (tracing is on with Client(enable_tracing=True))")
        return
    click.echo(f"trace {record.trace_id}  request {record.id}  {_when(record.time)} UTC")
    click.echo("\n".join(draw_tree(spans, mark=record.span_id)))


@logs.command(name="export-traces")
@filter_options
@click.option("--limit", type=click.IntRange(1), help="At most the traces of this many (newest) requests.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write OTLP/JSON (ExportTraceServiceRequest) to this file.",
)
@click.option("--endpoint", help="Send to this OTLP/HTTP endpoint (protobuf with the otel extra, else JSON).")
@click.pass_context
def logs_export_traces(
    ctx: click.Context,
    limit: int | None,
    output: Path | None,
    endpoint: str | None,
    log_path: str | None,
    **filters: Any,
) -> None:
    """Export the traces that hold matching requests as OpenTelemetry spans."""
    from plg.tracing.otlp import export_spans

    if output is None and endpoint is None:
        raise click.UsageError("give -o FILE.json and/or --endpoint URL")
    spans = open_log(ctx, log_path).traces_of(build_query(limit, **filters))
    for line in export_spans(spans, output, endpoint):
        click.echo(line)


@logs.command(name="export")
@filter_options
@click.option("--limit", type=click.IntRange(1))
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File (default: stdout)."
)
@click.pass_context
def logs_export(
    ctx: click.Context, limit: int | None, output: Path | None, log_path: str | None, **filters: Any
) -> None:
    """Write matching requests as a history dataset (JSONL) for backtests."""
    from plg.log.history import export_history

    store = open_log(ctx, log_path)
    records = store.iter_query(build_query(limit, **filters))
    if output is None:
        result = export_history(records, sys.stdout)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        with output.open("w", encoding="utf-8") as handle:
            result = export_history(records, handle)
    where = f" to {output}" if output else ""
    click.echo(
        f"exported {result.written} request(s){where}; skipped {result.skipped} without an answer", err=True
    )


@logs.command(name="copy")
@click.option("--from", "source", required=True, metavar="PATH|URL", help="The log to read.")
@click.option("--to", "dest", required=True, metavar="PATH|URL", help="The log to add its rows to.")
def logs_copy(source: str, dest: str) -> None:
    """Copy every request and span from one log to another (e.g. .plg/requests.db into PostgreSQL).

    Rows already in the destination (same request id) are left as they are, so an interrupted copy is
    finished by running it again."""
    from plg.log.store import open_log as open_store
    from plg.log.transfer import copy_log

    if Path(source).resolve() == Path(dest).resolve() or source == dest:
        raise click.UsageError("--from and --to name the same log")
    if "://" not in source and not Path(source).is_file():
        raise click.UsageError(f"--from {source}: no such file")
    here = Path(".")
    moved = copy_log(_source_log(source, here, open_store), open_store(dest, here))
    click.echo(f"copied {moved.requests} request(s) and {moved.spans} span(s) to {_shown(dest)}")


@logs.command(name="sync")
@click.option("--log", "log_path", metavar="URL", help="The PostgreSQL log (default $PLG_LOG).")
@click.option(
    "--spill",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The spill file (default $PLG_LOG_SPILL, else .plg/log-spill.db).",
)
@click.pass_context
def logs_sync(ctx: click.Context, log_path: str | None, spill: Path | None) -> None:
    """Move rows that waited in the local spill file while PostgreSQL was unreachable.

    Each batch is deleted from the spill only after PostgreSQL committed it, and a row already there is
    not added twice: running it again, or beside a running application, moves every row exactly once."""
    from plg import config as plg_config
    from plg.log.sqlite_log import SQLiteLogStore
    from plg.log.store import is_database_url
    from plg.log.store import open_log as open_store
    from plg.log.transfer import sync_spill

    root = _root(ctx)
    location = log_path or plg_config.log_location(root)
    if not is_database_url(location):
        raise click.UsageError("give --log postgresql://… (or set PLG_LOG): only a database log has a spill")
    spill = spill or plg_config.spill_path(root)
    if not spill.is_file():
        click.echo(f"nothing to sync: no spill file at {spill}")
        return
    moved = sync_spill(SQLiteLogStore(spill), open_store(location, root))
    click.echo(
        f"moved {moved.requests} request(s) and {moved.spans} span(s) from {spill} to {_shown(location)}"
    )


def _source_log(source: str, here: Path, open_store: Any) -> Any:
    """`--from` must be a log: a file that is not a SQLite database is bad input (exit 2), and it is
    checked before opening, which would otherwise add the log's tables to whatever file it names."""
    from plg.errors import BadInput, LogStorageError

    if "://" not in source:
        try:
            with open(source, "rb") as handle:
                head = handle.read(16)
        except OSError as err:
            raise BadInput(f"--from {source}: {err.strerror}") from None
        if head != b"SQLite format 3\x00":
            raise BadInput(f"--from {source}: not a request log (not a SQLite database)")
    try:
        return open_store(source, here)
    except LogStorageError as err:
        raise BadInput(f"--from {_shown(source)}: not a readable request log ({err.message})") from None


def _shown(location: str) -> str:
    from plg.log.store import safe_url

    return safe_url(location)


def _dash(value: object) -> str:
    """What a figure the provider did not report reads as: '-', never 'None'."""
    return "-" if value is None else str(value)
