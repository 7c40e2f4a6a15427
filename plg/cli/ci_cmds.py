"""CI commands: `plg ci` (evaluate what changed, report, comment, gate) and `plg notes fetch/push`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from plg.cli.common import cli, echo_table, open_registry
from plg.errors import BadInput, GateFailed, NotJudged, PlgError, ThresholdFailed


@cli.command()
@click.option("--base", metavar="REV", help="Compare with REV (default: from the GitHub event, else HEAD^).")
@click.option("--all", "every_prompt", is_flag=True, help="Evaluate every prompt, changed or not.")
@click.option(
    "--gate",
    "gate_label",
    default="production",
    show_default=True,
    metavar="LABEL",
    help="Report this label's promotion gate for each changed prompt.",
)
@click.option("--no-gate", is_flag=True, help="Skip the backtest and the gate.")
@click.option(
    "--strict-gate", is_flag=True, help="Exit 1 when a changed prompt would fail the gate (the default)."
)
@click.option(
    "--gate-warn-only",
    is_flag=True,
    help="Report a failed gate as a warning instead of failing the check.",
)
@click.option("--require-eval", is_flag=True, help="Exit 1 when a changed prompt has no eval pipeline.")
@click.option("--model", "models", multiple=True, help="Model(s) to run instead of each pipeline's.")
@click.option("--no-cache", is_flag=True, help="Call models even when a response is cached.")
@click.option("--no-comment", is_flag=True, help="Do not post or update the PR comment.")
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write report.json and report.md here (default in GitHub Actions: plg-report/).",
)
@click.option(
    "--remote", default="origin", show_default=True, help="Where notes are fetched from and pushed to."
)
@click.option(
    "--notes/--no-notes",
    "sync_notes",
    default=None,
    help="Fetch recorded scores first and, on a default-branch push, push the new ones "
    "(default: on in GitHub Actions).",
)
@click.option(
    "--post-artifact",
    type=click.Path(file_okay=False, path_type=Path),
    help="Only post the report in DIR to its pull request (the workflow_run job for forks).",
)
@click.option(
    "--shard",
    metavar="I/N",
    help="Evaluate only slice I of N of each eval's rows (one runner of a job matrix): write the partial "
    "report and shard runs to --report-dir; no comment, gate or notes push.",
)
@click.option(
    "--merge-shards",
    "merge_shards",
    multiple=True,
    type=click.Path(path_type=Path),
    metavar="DIR",
    help="Merge the shard runs under DIR (every runner's --report-dir) and report, comment and record "
    "as a whole `plg ci` would; repeat for several directories.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def ci(
    ctx: click.Context,
    base: str | None,
    every_prompt: bool,
    gate_label: str,
    no_gate: bool,
    strict_gate: bool,
    gate_warn_only: bool,
    require_eval: bool,
    models: tuple[str, ...],
    no_cache: bool,
    no_comment: bool,
    report_dir: Path | None,
    remote: str,
    sync_notes: bool | None,
    post_artifact: Path | None,
    shard: str | None,
    merge_shards: tuple[Path, ...],
    as_json: bool,
) -> None:
    """Evaluate the prompts a push or pull request changed, beside the base; exit 1 if one fails its
    threshold or the gate (--gate-warn-only: the gate only warns), 3 if one could not be judged."""
    from plg.ci.github import GitHubAPI, annotation, read_event
    from plg.ci.job import CiOptions, run_ci
    from plg.ci.publish import ARTIFACT_DIR, annotations, publish, write_artifact
    from plg.ci.publish import post_artifact as do_post
    from plg.evals.shards import parse_shard
    from plg.registry.scores import NOTES_REF

    if shard is not None and merge_shards:
        raise BadInput("--shard runs one slice; --merge-shards combines them in a final job: give one")
    for directory in merge_shards:
        if not directory.is_dir():
            raise BadInput(f"--merge-shards {directory}: not a directory (give each shard's --report-dir)")
    slice_ = parse_shard(shard) if shard is not None else None
    shard_dir = (report_dir or Path(ARTIFACT_DIR)) if slice_ is not None else None
    event = read_event()
    if post_artifact is not None:
        click.echo(do_post(post_artifact, event, GitHubAPI.from_env()))
        return
    registry = open_registry(ctx)
    store = registry.store
    if sync_notes is None:
        sync_notes = event is not None
    if store.has_remote(remote):
        from plg.registry.labels import fetch_labels

        try:
            moved = fetch_labels(registry, remote)
            click.echo(f"fetched labels from {remote}" + (f": {', '.join(moved)}" if moved else ""), err=True)
        except PlgError as err:
            click.echo(annotation("warning", f"labels not fetched, the gate uses local ones: {err.message}"))
    if sync_notes:
        try:
            fetched = store.fetch_notes(remote, NOTES_REF)
            click.echo(
                f"fetched recorded scores from {remote}"
                if fetched
                else f"{remote} has no recorded scores yet"
            )
        except PlgError as err:
            click.echo(annotation("warning", f"recorded scores not fetched: {err.message}"))
    options = CiOptions(
        base=base,
        every_prompt=every_prompt,
        gate_label=None if no_gate else gate_label,
        models=models,
        use_cache=not no_cache,
        backtest=not no_gate,
        require_eval=require_eval,
        shard=slice_,
        shard_runs_to=shard_dir / "runs" if shard_dir is not None else None,
        shard_dirs=merge_shards,
        enforce_gate=not gate_warn_only,
    )
    if strict_gate and gate_warn_only:
        raise BadInput("--strict-gate and --gate-warn-only contradict each other: give one")
    if slice_ is not None:
        options = replace(options, gate_label=None, backtest=False)
    from plg.cli.progress import shown_progress

    with shown_progress():
        report, chosen = run_ci(
            registry,
            event,
            options,
            on_prompt=lambda p: click.echo(f"evaluating {p.name} ({p.status})", err=True),
        )
    if shard_dir is not None:
        write_artifact(report, shard_dir)
        if as_json:
            click.echo(report.to_json())
        else:
            _print_text(report, chosen.how)
        click.echo(
            f"shard {slice_}: partial figures, not judged; wrote the report and shard runs to {shard_dir}/ "
            "for `plg ci --merge-shards`"
        )
        return
    published = publish(report, event, comment=not no_comment, artifact_dir=report_dir)
    if as_json:
        click.echo(report.to_json())
    else:
        _print_text(report, chosen.how)
    for line in annotations(report):
        click.echo(line)
    for line in published.lines:
        click.echo(line)
    if sync_notes and event is not None and event.is_default_branch_push:
        store.push_notes(remote, NOTES_REF)
        click.echo(f"pushed recorded scores ({NOTES_REF}) to {remote}")
    unjudged = [p for p in report.prompts if p.not_judged is not None and p.error is None]
    failed = [p for p in report.prompts if not p.passed and p not in unjudged]
    if failed:
        why = "; ".join(f"{p.name}: {p.failure()}" for p in failed)
        gate_only = all(p.error is None and all(c.passed for c in p.thresholds) for p in failed)
        error = GateFailed if gate_only else ThresholdFailed
        raise error(f"{len(failed)} changed prompt(s) failed: {', '.join(p.name for p in failed)} ({why})")
    if unjudged:
        raise NotJudged("; ".join(p.not_judged or "" for p in unjudged))


def _print_text(report, how: str) -> None:  # type: ignore[no-untyped-def]
    base = report.base_sha[:10] if report.base_sha else "none"
    click.echo(f"base {base} ({how}); {len(report.prompts)} changed, {report.unchanged} unchanged")
    rows = []
    for prompt in report.prompts:
        if prompt.error is not None or not prompt.head:
            rows.append(
                [prompt.name, prompt.status, "", "", "", "", prompt.error or prompt.not_evaluated or ""]
            )
            continue
        base_by_model = {f.model: f for f in prompt.base}
        for fig in prompt.head:
            before = base_by_model.get(fig.model)
            failed = [c for c in prompt.thresholds if c.model == fig.model and not c.passed]
            rows.append(
                [
                    prompt.name,
                    prompt.status,
                    fig.model,
                    _f(before.score if before else None),
                    _f(fig.score) + (" (recorded)" if fig.reused else ""),
                    "FAIL" if failed else "pass",
                    ""
                    if prompt.gate_passed is None and not prompt.gate_failed
                    else f"{prompt.gate_label} gate: " + ("FAIL" if prompt.gate_failed else "pass"),
                ]
            )
    echo_table(rows, ["prompt", "change", "model", "base", "head", "threshold", "gate / note"])
    marked = sorted({f"{p.name} {n}" for p in report.prompts for f in p.head for n in f.placeholder})
    if marked:
        from plg.llm.offline import PLACEHOLDER_LABEL, PLACEHOLDER_WARNING

        click.echo(f"warning: {PLACEHOLDER_LABEL} judge in {', '.join(marked)}: {PLACEHOLDER_WARNING}")


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@cli.command(name="fetch")
@click.argument("remote", default="origin")
@click.pass_context
def fetch_cmd(ctx: click.Context, remote: str) -> None:
    """Fetch REMOTE's labels (replacing stale local ones, history included) and recorded scores."""
    from plg.registry.labels import fetch_labels
    from plg.registry.scores import NOTES_REF

    registry = open_registry(ctx)
    moved = fetch_labels(registry, remote)
    for line in moved:
        click.echo(line)
    click.echo(f"labels from {remote}: {len(moved)} changed" if moved else f"labels up to date with {remote}")
    fetched = registry.store.fetch_notes(remote, NOTES_REF)
    click.echo(f"merged {NOTES_REF} from {remote}" if fetched else f"{remote} has no {NOTES_REF}")


@cli.group()
def notes() -> None:
    """Share recorded scores (refs/notes/plg): git does not fetch or push notes by itself."""


@notes.command(name="fetch")
@click.argument("remote", default="origin")
@click.pass_context
def notes_fetch(ctx: click.Context, remote: str) -> None:
    """Fetch REMOTE's recorded scores and merge them into yours."""
    from plg.registry.scores import NOTES_REF

    fetched = open_registry(ctx).store.fetch_notes(remote, NOTES_REF)
    click.echo(f"merged {NOTES_REF} from {remote}" if fetched else f"{remote} has no {NOTES_REF}")


@notes.command(name="push")
@click.argument("remote", default="origin")
@click.pass_context
def notes_push(ctx: click.Context, remote: str) -> None:
    """Push your recorded scores to REMOTE, merging what others pushed meanwhile."""
    from plg.registry.scores import NOTES_REF

    open_registry(ctx).store.push_notes(remote, NOTES_REF)
    click.echo(f"pushed {NOTES_REF} to {remote}")


__all__ = ["ci", "fetch_cmd", "notes"]
