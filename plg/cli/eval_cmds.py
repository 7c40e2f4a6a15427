"""Eval commands: eval, batch, scores."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from plg.cli.common import cli, echo_json, echo_table, open_registry
from plg.errors import BadInput, ThresholdFailed

if TYPE_CHECKING:
    from plg.evals.plan import EvalRequest
    from plg.evals.session import RunOptions
    from plg.registry.versions import Registry


@cli.command(name="eval")
@click.argument("spec", metavar="NAME[@REF]", required=False)
@click.option("--pipeline", type=click.Path(dir_okay=False, path_type=Path), help="The pipeline file to run.")
@click.option(
    "--model", "models", multiple=True, help="Model(s) to run instead of the pipeline's; repeat to compare."
)
@click.option("-j", "--concurrency", type=click.IntRange(1, 1024), help="Calls in flight at once.")
@click.option("--repeats", type=click.IntRange(1, 100), help="Run each row this many times.")
@click.option("--no-cache", is_flag=True, help="Call the model even when the response is cached.")
@click.option("--resume", metavar="RUN", help="Continue RUN: finished rows are not called again.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write .json/.jsonl/.csv/.md/.xml.",
)
@click.option("--record", is_flag=True, help="Record the version's score in git notes (refs/notes/plg).")
@click.option("--force", is_flag=True, help="With --record: run even if this exact eval is recorded.")
@click.option("--timeout", type=float, help="Seconds per model call.")
@click.option(
    "--outputs",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Score these outputs (JSONL: id or variables, and output) instead of calling a model.",
)
@click.option(
    "--shard",
    metavar="I/N",
    help="Run only slice I of N (rows chosen by identity) into a partial run; merge with --merge.",
)
@click.option(
    "--merge",
    "merge_runs",
    multiple=True,
    metavar="RUN",
    help="Combine these finished shard runs (ids or files) into one run; repeat for each shard.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option(
    "--plan", "plan_", is_flag=True,
    help="From the recorded run's variance: rows (or repeats) needed to decide --margin (80% power).",
)
@click.option("--margin", type=float, help="With --plan: the max_regression margin to decide, e.g. 0.05.")
@click.option("--confidence", type=click.FloatRange(0.5, 1, min_open=True, max_open=True), help="With --plan (default 0.95).")
@click.pass_context
def eval_cmd(
    ctx: click.Context,
    spec: str | None,
    pipeline: Path | None,
    models: tuple[str, ...],
    concurrency: int | None,
    repeats: int | None,
    no_cache: bool,
    resume: str | None,
    output: Path | None,
    record: bool,
    force: bool,
    timeout: float | None,
    outputs: Path | None,
    shard: str | None,
    merge_runs: tuple[str, ...],
    as_json: bool,
    plan_: bool,
    margin: float | None,
    confidence: float | None,
) -> None:
    """Run a prompt's eval pipeline, score every output and check the threshold (exit 1 below it)."""
    from plg import config as plg_config
    from plg.evals.plan import EvalRequest
    from plg.evals.session import RunOptions
    from plg.evals.shards import parse_shard, resolve_runs

    if plan_ or margin is not None:
        if not (plan_ and margin is not None):
            raise BadInput("--plan and --margin go together: plg eval NAME --plan --margin 0.05")
        _plan(ctx, EvalRequest(spec=spec, pipeline=pipeline, models=models, repeats=repeats), margin, confidence)
        return

    if output is not None:
        from plg.evals.report import check_output

        check_output(output)
    registry = open_registry(ctx)
    request = EvalRequest(
        spec=spec, pipeline=pipeline, models=models, concurrency=concurrency, repeats=repeats, outputs=outputs
    )
    if shard is not None and record:
        raise BadInput("--record with --shard: a shard never records a score; record from the merge (--merge RUN... --record)")
    options = RunOptions(
        use_cache=not no_cache,
        resume=resume,
        record=record,
        force=force,
        timeout=timeout,
        shard=parse_shard(shard) if shard is not None else None,
        merge_runs=tuple(resolve_runs(plg_config.runs_dir(registry.root), merge_runs)),
    )
    run_and_show(registry, request, options, output, as_json)


def run_and_show(
    registry: Registry, request: EvalRequest, options: RunOptions, output: Path | None, as_json: bool
) -> None:
    """Runs (or merges) the eval, prints what `plg eval` prints, and exits 1 below the threshold."""
    from plg.cli.progress import shown_progress
    from plg.evals.report import text_summary, write_output
    from plg.evals.runs import read_run
    from plg.evals.session import run_eval

    with shown_progress():
        outcome = run_eval(registry, request, options)
    if outcome.result is None:
        _print_reused(outcome, as_json)
    else:
        result = outcome.result
        header, rows = read_run(result.path)
        checks = outcome.checks if outcome.not_judged is None else ()  # no FAIL line before "not judged"
        if output:
            write_output(output, header, rows, result.summaries, checks)
        if as_json:
            echo_json(
                {
                    "run_id": result.run_id,
                    "summary": [s.to_json() for s in result.summaries],
                    "thresholds": [c.__dict__ for c in outcome.checks],
                    "recorded": bool(outcome.recorded),
                    "shard": header.shard,
                    "merged_from": list(result.merged_from),
                }
            )
        else:
            click.echo(text_summary(header, result.summaries, checks))
            if result.merged_from:
                click.echo(
                    f"merged {len(result.merged_from)} shards ({result.rows_reused} rows, no model called); "
                    f"run file {result.path}"
                )
            else:
                reused = f", {result.rows_reused} reused" if result.rows_reused else ""
                click.echo(
                    f"{result.rows_run} rows run{reused} in {result.seconds:.1f} s; run file {result.path}"
                )
            if header.shard:
                click.echo(
                    f"shard {header.shard} of the eval: not judged or recorded here; "
                    "merge every shard with `plg runs merge RUN...`"
                )
            if outcome.recorded:
                click.echo(
                    f"recorded in refs/notes/plg on {outcome.recorded[0].prompt}@{outcome.recorded[0].version}"
                )
            if output:
                click.echo(f"wrote {output}")
    outcome.raise_if_not_judged()
    if not outcome.passed:
        raise ThresholdFailed("; ".join(c.describe() for c in outcome.checks if not c.passed))


def _plan(ctx: click.Context, request: EvalRequest, margin: float, confidence: float | None) -> None:
    from plg.cli.progress import shown_progress
    from plg.gate.stats import plan_lines, plan_margin

    registry = open_registry(ctx)
    with shown_progress():
        model, plan = plan_margin(registry, request, margin, confidence)
    for line in plan_lines(request.spec or "eval", model, plan):
        click.echo(line)


def _print_reused(outcome, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import asdict

    if as_json:
        echo_json(
            {
                "reused": [asdict(s) for s in outcome.reused],
                "thresholds": [c.__dict__ for c in outcome.checks],
            }
        )
        return
    first = outcome.reused[0]
    click.echo(
        f"{first.prompt}@{first.version}: this exact eval is recorded (run {first.run_id}); no model called"
    )
    rows = [[s.model, *_with_intervals(s), s.rows, s.errors, s.time] for s in outcome.reused]
    echo_table(rows, ["model", "score", "pass rate", "rows", "errors", "recorded"])
    _placeholder_lines(outcome.reused)
    click.echo("use --force to run again")


def _placeholder_lines(scores) -> None:  # type: ignore[no-untyped-def]
    from plg.llm.offline import PLACEHOLDER_WARNING, placeholder_name

    marked = sorted({placeholder_name(n) for s in scores for n in s.placeholders()})
    if marked:
        click.echo(f"warning: {', '.join(marked)}: {PLACEHOLDER_WARNING}")


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _with_intervals(score) -> list[str]:  # type: ignore[no-untyped-def]
    """Score and pass rate with their bounds from the note's per-row figures (when it keeps them)."""
    from plg.evals.perrow import intervals
    from plg.evals.report import with_interval

    if score.kind != "eval":
        return [_f(score.score), _f(score.pass_rate)]
    on_score, on_pass = score.intervals()
    if on_score is None and on_pass is None:  # a note older than recorded bounds: from its rows
        on_score, on_pass = intervals(score.per_row)
    return [with_interval(score.score, on_score), with_interval(score.pass_rate, on_pass, percent=True)]


@cli.command()
@click.argument("spec", metavar="NAME[@REF]")
@click.option(
    "--dataset", required=True, type=click.Path(dir_okay=False, path_type=Path), help="CSV or JSONL rows."
)
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="OUT.csv or .jsonl"
)
@click.option("--model", "models", multiple=True, help="Model(s); one output column each.")
@click.option(
    "-j", "--concurrency", type=click.IntRange(1, 1024),
    help="Calls in flight (default $PLG_CONCURRENCY, else the settings file's, else 8).",
)
@click.option("--no-cache", is_flag=True)
@click.pass_context
def batch(
    ctx: click.Context,
    spec: str,
    dataset: Path,
    output: Path,
    models: tuple[str, ...],
    concurrency: int | None,
    no_cache: bool,
) -> None:
    """Run a prompt over a dataset with no scorers and write inputs plus outputs."""
    from plg import config as plg_config
    from plg.cli.progress import shown_progress
    from plg.evals.plan import plan_batch
    from plg.evals.report import check_output, write_batch_csv
    from plg.evals.runner import execute
    from plg.evals.runs import new_run_id, read_run
    from plg.evals.session import RunOptions, make_client

    check_output(output, (".csv", ".jsonl"))
    registry = open_registry(ctx)
    concurrency = concurrency or plg_config.concurrency(registry.root) or 8
    spec_ = plan_batch(registry, spec, dataset, models, concurrency)
    client = make_client(registry.root, concurrency, RunOptions(use_cache=not no_cache), None)
    with shown_progress():
        result = execute(spec_, client, plg_config.runs_dir(registry.root), new_run_id(), "batch")
    _, rows = read_run(result.path)
    written = write_batch_csv(output, spec_.models, rows)
    errors = sum(s.errors for s in result.summaries)
    click.echo(f"wrote {written} rows to {output} ({errors} errors) in {result.seconds:.1f} s")


@cli.command()
@click.argument("spec", metavar="NAME[@REF]")
@click.option("--json", "as_json", is_flag=True)
@click.option("--all", "show_all", is_flag=True, help="Include evals of pipelines other than the prompt's own.")
@click.pass_context
def scores(ctx: click.Context, spec: str, as_json: bool, show_all: bool) -> None:
    """Show the recorded scores of a version (default: the latest committed) on its own (gating) pipeline."""
    from dataclasses import asdict

    from plg.registry.scores import own_pipeline, read_scores
    from plg.registry.versions import split_ref

    registry = open_registry(ctx)
    name, ref = split_ref(spec)
    pv = registry.resolve(name, ref) if ref else registry.latest(name)
    names = set(registry.known_as(name))  # scores recorded before a `git mv` are this file's too
    found = [s for s in read_scores(registry.store, pv.commit) if s.prompt in names] if pv.commit else []
    own = own_pipeline(registry.root, name, pv.front.eval, names)
    others = sorted({s.pipeline or "-" for s in found if s.kind == "eval" and s.pipeline != own})
    if not show_all and own is not None:
        found = [s for s in found if s.kind != "eval" or s.pipeline == own]
    if as_json:
        echo_json([asdict(s) for s in found])
        return
    click.echo(f"{pv.ref}: {len(found)} recorded result(s)" + (f" on {own}" if own and not show_all else ""))
    if others and own is not None and not show_all:
        click.echo(f"  also recorded on other pipelines: {', '.join(others)} (plg scores {spec} --all)")
    rows = [
        [
            s.kind,
            s.model,
            *_with_intervals(s),
            s.rows,
            s.errors,
            s.pipeline or "-",
            "pass" if s.passed_threshold else ("FAIL" if s.passed_threshold is False else "-"),
            s.time,
            s.run_id,
        ]
        for s in found
    ]
    echo_table(
        rows,
        ["kind", "model", "score", "pass rate", "rows", "errors", "pipeline", "threshold", "when", "run"],
    )
    from plg.llm.offline import placeholder_name

    for s in found:
        for scorer, figures in ((s.details or {}).get("scorers") or {}).items():
            shown = placeholder_name(scorer) if scorer in s.placeholders() else scorer
            click.echo(
                f"  {s.model} {shown}: mean {_f(figures.get('mean'))}, pass {_f(figures.get('pass_rate'))}, "
                f"errors {figures.get('errors')}"
            )
    _placeholder_lines(found)
