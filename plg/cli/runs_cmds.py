"""Run commands: runs (list), runs show, runs diff, runs merge, runs export, runs grades export/import."""

from __future__ import annotations

import json
from pathlib import Path

import click

from plg.cli.common import cli, echo_json, echo_table, repo_path
from plg.errors import PlgError


def _runs_dir(ctx: click.Context) -> Path:
    from plg import config as plg_config
    from plg.registry.gitreads import find_worktree

    root = Path(repo_path(ctx)).resolve()
    return plg_config.runs_dir(find_worktree(root) or root)


@cli.group(invoke_without_command=True)
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def runs(ctx: click.Context, limit: int, as_json: bool) -> None:
    """List kept runs, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    from plg.evals.runner import summarize_rows
    from plg.evals.runs import latest_rows, list_runs

    listed = []
    for path in list_runs(_runs_dir(ctx))[:limit]:
        try:
            header, rows = latest_rows(path)
        except PlgError as err:  # one damaged file (a crash, a stray file) must not hide every other run
            click.echo(f"warning: {err.message} (skipped)", err=True)
            continue
        summaries = summarize_rows(header.models, iter(rows.values()))
        listed.append((header, summaries))
    if as_json:
        echo_json([{"run": h.to_json(), "summary": [s.to_json() for s in ss]} for h, ss in listed])
        return
    table = []
    for header, summaries in listed:
        score = " ".join("-" if s.score is None else f"{s.score:.2f}" for s in summaries)
        target = f"{header.prompt or header.name}" + (f"@{header.version}" if header.version else "")
        table.append(
            [
                header.run_id,
                header.kind,
                target,
                ",".join(header.models),
                sum(s.rows for s in summaries),
                score,
                sum(s.errors for s in summaries),
                header.started,
            ]
        )
    echo_table(table, ["run", "kind", "prompt", "models", "rows", "score", "errors", "started"])


@runs.command(name="show")
@click.argument("run_id")
@click.option("--row", type=click.IntRange(1), help="Print row N in full (the number every view shows).")
@click.option("--trace", is_flag=True, help="With --row: draw the row's span tree with timings.")
@click.option("--grid", is_flag=True, help="Every row against every model: outputs cut to fit, verdicts coloured.")
@click.option("--failing", is_flag=True, help="With --grid: only the rows some model did not pass.")
@click.option("--limit", type=click.IntRange(1), help="With --grid: at most N rows.")
@click.pass_context
def runs_show(
    ctx: click.Context, run_id: str, row: int | None, trace: bool, grid: bool, failing: bool, limit: int | None
) -> None:
    """Print a run's summary, its rows side by side (--grid), or one row in full."""
    from plg.evals.report import text_summary
    from plg.evals.runner import summarize_rows
    from plg.evals.runs import find_run, latest_rows

    path = find_run(_runs_dir(ctx), run_id)
    if grid:
        from dataclasses import replace

        from plg.cli.terminal import echo_grid
        from plg.evals.grid import failing as failing_rows
        from plg.evals.grid import run_grid

        if row is not None or trace:
            raise click.UsageError("--grid shows every row; use --row N [--trace] for one")
        whole = run_grid(path)
        selected = failing_rows(whole) if failing else whole
        shown = replace(selected, rows=selected.rows[:limit]) if limit is not None else selected
        echo_grid(shown)
        if len(shown.rows) < len(whole.rows):
            counted = f" ({len(selected.rows)} failing)" if failing else ""
            click.echo(f"{len(shown.rows)} of {len(whole.rows)} rows shown{counted}")
        return
    if failing or limit is not None:
        raise click.UsageError("--failing and --limit go with --grid")
    header, rows = latest_rows(path)
    if row is None:
        if trace:
            raise click.UsageError("--trace needs --row N")
        click.echo(text_summary(header, summarize_rows(header.models, iter(rows.values())), ()))
        return
    matches = [r for r in rows.values() if r.row_index == row - 1]
    if not matches:
        raise click.BadParameter(f"run {header.run_id} has no row {row}", param_hint="--row")
    for record in sorted(matches, key=lambda r: r.key):
        click.echo(f"{record.label} model {record.model} repeat {record.repeat}")
        if trace:
            from plg.tracing.tree import draw_tree

            lines = draw_tree(record.trace())
            click.echo("\n".join(lines) if lines else "(no spans: the run was made before plg kept traces)")
            click.echo("")
            continue
        click.echo(f"inputs: {json.dumps(record.variables, ensure_ascii=False)}")
        for message in record.messages or []:
            click.echo(f"\n{message['role']}:\n{message['content']}")
        click.echo(f"\noutput:\n{record.output}" if record.error is None else f"\nerror:\n{record.error}")
        for score in record.scores:
            value = "pending" if score.pending else ("error" if score.error else f"{score.score:.3f}")
            click.echo(f"  {score.name}: {value} {score.error or score.reason}".rstrip())
        click.echo("")


@runs.command(name="diff")
@click.argument("run_a")
@click.argument("run_b")
@click.option("--all", "show_all", is_flag=True, help="List every row, not only the ones that changed.")
@click.option("--full", is_flag=True, help="Print every changed output's word diff whole, not shortened.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def runs_diff(ctx: click.Context, run_a: str, run_b: str, show_all: bool, full: bool, as_json: bool) -> None:
    """Compare two runs row by row: score deltas, rows that flipped pass/fail, and a word diff of each
    changed output (`[-removed-]` / `{+added+}`; red and green on a terminal)."""
    from plg.cli.terminal import echo_word_diff
    from plg.evals.compare import DIFF_CHARS, DIFFS_SHOWN, diff_runs, marked, shorten
    from plg.evals.runs import find_run

    runs_dir = _runs_dir(ctx)
    diff = diff_runs(find_run(runs_dir, run_a), find_run(runs_dir, run_b))
    flipped = [r for r in diff.rows if r.flipped]
    changed = [r for r in diff.rows if r.output_changed]
    if as_json:
        echo_json(
            {
                "a": diff.a.run_id,
                "b": diff.b.run_id,
                "mean_delta": diff.mean_delta,
                "paired": len(diff.rows),
                "changed_outputs": len(changed),
                "flipped": len(flipped),
                "only_in_a": diff.only_in_a,
                "only_in_b": diff.only_in_b,
                "rows": [
                    {
                        **r.__dict__,
                        "delta": r.delta,
                        "word_diff": marked(r.word_diff()) if r.output_changed else None,
                    }
                    for r in diff.rows
                ],
            }
        )
        return
    mean = "-" if diff.mean_delta is None else f"{diff.mean_delta:+.3f}"
    click.echo(
        f"{diff.a.run_id} -> {diff.b.run_id}: {len(diff.rows)} rows paired, mean score delta {mean}, "
        f"{len(changed)} outputs changed, {len(flipped)} flipped"
    )
    shown = (
        diff.rows if show_all else [r for r in diff.rows if r.flipped or r.output_changed or (r.delta or 0)]
    )
    table = [
        [
            r.row,
            r.row_id,
            "-" if r.score_a is None else f"{r.score_a:.2f}",
            "-" if r.score_b is None else f"{r.score_b:.2f}",
            "-" if r.delta is None else f"{r.delta:+.2f}",
            "yes" if r.output_changed else "",
            r.flipped or "",
        ]
        for r in shown
    ]
    echo_table(table, ["row", "id", "score A", "score B", "delta", "output changed", "flipped"])
    changed_shown = [r for r in shown if r.output_changed]
    for r in changed_shown if full else changed_shown[:DIFFS_SHOWN]:
        model = r.model_a if r.model_a == r.model_b else f"{r.model_a} -> {r.model_b}"
        click.echo(f"\nrow {r.row}" + (f" (id {r.row_id})" if r.row_id else "") + f" {model}:")
        echo_word_diff(shorten(r.word_diff(), None if full else DIFF_CHARS))
    if not full and len(changed_shown) > DIFFS_SHOWN:
        click.echo(f"\n{len(changed_shown) - DIFFS_SHOWN} more changed output(s); --full prints every one")
    if diff.only_in_a or diff.only_in_b:
        click.echo(f"unpaired rows: {diff.only_in_a} only in A, {diff.only_in_b} only in B")


@runs.command(name="merge")
@click.argument("run_ids", nargs=-1, required=True, metavar="RUN...")
@click.option("--record", is_flag=True, help="Record the merged score in git notes (refs/notes/plg).")
@click.option("--force", is_flag=True, help="With --record: merge even if this exact eval is recorded.")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write .json/.jsonl/.csv/.md/.xml."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def runs_merge(
    ctx: click.Context, run_ids: tuple[str, ...], record: bool, force: bool, output: Path | None, as_json: bool
) -> None:
    """Combine the shard runs of one eval (`plg eval --shard I/N`) into the run the whole eval would make.

    Refuses shards of different evals, a shard given twice, a missing or unfinished shard. The merged
    run is judged against the threshold (exit 1 below it) and, with --record, recorded once."""
    from plg.cli.common import open_registry
    from plg.cli.eval_cmds import run_and_show
    from plg.evals.plan import EvalRequest
    from plg.evals.session import RunOptions
    from plg.evals.shards import read_shard, request_fields, resolve_runs

    registry = open_registry(ctx)
    paths = tuple(resolve_runs(_runs_dir(ctx), run_ids))
    request = EvalRequest(**request_fields(read_shard(paths[0]).header, registry.root))
    options = RunOptions(record=record, force=force, merge_runs=paths)
    run_and_show(registry, request, options, output, as_json)


@runs.command(name="export")
@click.argument("run_id")
@click.option(
    "--otlp",
    "otlp_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the rows' span trees as OTLP/JSON (ExportTraceServiceRequest) to this file.",
)
@click.option(
    "--endpoint", help="Send them to this OTLP/HTTP endpoint (protobuf with the otel extra, else JSON)."
)
@click.pass_context
def runs_export(ctx: click.Context, run_id: str, otlp_file: Path | None, endpoint: str | None) -> None:
    """Export a run's traces as OpenTelemetry spans: one trace per row."""
    from plg.evals.runs import find_run, latest_rows
    from plg.tracing.otlp import export_spans

    if otlp_file is None and endpoint is None:
        raise click.UsageError("give --otlp FILE.json and/or --endpoint URL")
    header, rows = latest_rows(find_run(_runs_dir(ctx), run_id))
    spans = [span for record in rows.values() for span in record.trace()]
    resource = {"plg.run_id": header.run_id, "plg.run.kind": header.kind}
    for line in export_spans(spans, otlp_file, endpoint, resource):
        click.echo(line)


@runs.group(name="grades")
def grades() -> None:
    """Human grading: export a sheet, import the grades into the run."""


@grades.command(name="export")
@click.argument("run_id")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def grades_export(ctx: click.Context, run_id: str, output: Path) -> None:
    """Write a CSV with one line per row awaiting a human grade."""
    from plg.evals.grading import export_sheet
    from plg.evals.runs import find_run

    path = find_run(_runs_dir(ctx), run_id)
    count = export_sheet(path, output)
    if not count:
        click.echo(f"run {path.stem}: no grade is pending; nothing to export")
        return
    click.echo(
        f"wrote {count} row(s) to grade to {output}; fill the 'grade' column and run "
        f"`plg runs grades import {path.stem} {output} --record`"
    )


@grades.command(name="import")
@click.argument("run_id")
@click.argument("sheet", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--record", is_flag=True, help="Once every row is graded, record the run's score in git notes.")
@click.pass_context
def grades_import(ctx: click.Context, run_id: str, sheet: Path, record: bool) -> None:
    """Merge a filled grading sheet into the run; once every row is graded, finish the run: judge it
    against the threshold (exit 1 below it) and, with --record, record it."""
    from plg.evals.config import HumanConfig, load_pipeline
    from plg.evals.grading import import_sheet, pending_grades
    from plg.evals.runs import find_run, read_run
    from plg.registry.gitreads import find_worktree

    path = find_run(_runs_dir(ctx), run_id)
    header, _ = read_run(path)
    root = Path(repo_path(ctx)).resolve()
    root = find_worktree(root) or root
    scales: dict[str, tuple[float, float]] = {}
    if header.pipeline:
        loaded = load_pipeline(root / header.pipeline)
        names = list(header.scorers)
        for name, config in zip(names, loaded.config.scorers, strict=False):
            if isinstance(config, HumanConfig):
                scales[name] = config.scale
    count = import_sheet(path, sheet, scales)
    click.echo(f"merged {count} grade(s) into run {header.run_id}")
    left = pending_grades(path)
    if left:
        click.echo(
            f"{left} grade(s) still pending: fill them in and run `plg runs grades import {header.run_id} "
            f"SHEET{' --record' if record else ''}` again (`plg runs grades export {header.run_id} -o SHEET` "
            "writes the ones left)"
        )
        return
    _finish_graded_run(ctx, header, record)


def _finish_graded_run(ctx: click.Context, header, record: bool) -> None:  # type: ignore[no-untyped-def]
    """Every row graded: the run is finished as `plg eval NAME --resume RUN` would (no model called)."""
    from plg.cli.common import open_registry
    from plg.cli.eval_cmds import run_and_show
    from plg.evals.plan import EvalRequest
    from plg.evals.session import RunOptions
    from plg.evals.shards import request_fields

    if header.kind == "custom":
        click.echo(
            f"every row is graded; finish it with `plg eval ... --outputs FILE --resume {header.run_id}`"
        )
        return
    registry = open_registry(ctx)
    request = EvalRequest(**request_fields(header, registry.root))
    target = request.spec or f"--pipeline {header.pipeline}"
    flags = f"--resume {header.run_id}{' --record' if record else ''}"
    click.echo(f"every row is graded; finishing run {header.run_id} (`plg eval {target} {flags}`):")
    run_and_show(registry, request, RunOptions(resume=header.run_id, record=record), None, False)
    if not record:
        click.echo("add --record to record this score in git notes")
