"""Registry commands: init, new, list, show, render, log, diff, lint, promote, labels."""

from __future__ import annotations

import json
from pathlib import Path

import click

from plg.cli import views
from plg.cli.common import cli, echo_json, echo_table, open_registry, parse_assignments, repo_path
from plg.errors import BadInput, Refused


def _short(commit: str | None) -> str:
    return commit[:10] if commit else "-"


@cli.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option(
    "--install",
    default=None,
    metavar="REQUIREMENT",
    help="The pip requirement the CI workflows install (default: this plg, pinned to its commit or version; "
    "e.g. 'plg-registry @ git+https://github.com/OWNER/plg@v0.2.0').",
)
@click.option(
    "--shards",
    type=int,
    metavar="N",
    help="Write the CI workflow that splits each eval across a matrix of N runners and merges "
    "(N is also the workflow's `shards` input default).",
)
@click.option(
    "--branch",
    metavar="BRANCH",
    help="The branch the workflows record scores on and move labels from (default: the repository's default).",
)
def init(directory: str, install: str | None, shards: int | None, branch: str | None) -> None:
    """Set up prompts/, evals/, CI workflows and .gitignore in DIRECTORY (a git repository is created if needed)."""
    from plg.ci.scaffold import init_project

    if install is not None and (not install.strip() or "\n" in install or install.lstrip().startswith("-")):
        raise BadInput("--install must be one pip requirement on one line")
    for line in init_project(Path(directory), install.strip() if install else None, shards, branch):
        click.echo(line)


@cli.command()
@click.argument("name")
@click.option("--description", default="A new prompt", help="Description written into the front matter.")
@click.pass_context
def new(ctx: click.Context, name: str, description: str) -> None:
    """Create prompts/NAME.prompt from a starter template."""
    from plg.ci.scaffold import new_prompt

    path = new_prompt(open_registry(ctx), name, description)
    click.echo(f"created {path}")


@cli.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool) -> None:
    """List prompts with their latest version and labels."""
    if as_json:
        from plg.registry.catalog import catalog

        echo_json([e.to_json() for e in catalog(open_registry(ctx))])
        return
    click.echo(views.list_text(open_registry(ctx)), nl=False)


@cli.command()
@click.argument("spec", metavar="NAME[@REF]")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show(ctx: click.Context, spec: str, as_json: bool) -> None:
    """Show one version of a prompt: where it comes from, its model, inputs and template."""
    info = views.show_info(open_registry(ctx), spec)
    if as_json:
        echo_json(info)
        return
    click.echo(views.show_text(info), nl=False)


@cli.command()
@click.argument("spec", metavar="NAME[@REF]")
@click.option("-v", "--var", "pairs", multiple=True, metavar="KEY=VALUE", help="An input variable.")
@click.option("--vars", "vars_file", type=click.Path(dir_okay=False), help="A JSON file of input variables.")
@click.option("--json", "as_json", is_flag=True, help="Print the messages as JSON.")
@click.pass_context
def render(
    ctx: click.Context, spec: str, pairs: tuple[str, ...], vars_file: str | None, as_json: bool
) -> None:
    """Render a prompt version with input variables into chat messages."""
    from plg.registry.versions import split_ref

    variables: dict[str, object] = {}
    if vars_file:
        try:
            loaded = json.loads(Path(vars_file).read_text(encoding="utf-8"))
        except OSError as err:
            raise BadInput(f"--vars {vars_file}: {err.strerror}") from None
        except UnicodeDecodeError as err:
            raise BadInput(f"--vars {vars_file}: not UTF-8 text ({err.reason})") from None
        except ValueError as err:
            raise BadInput(f"--vars {vars_file}: not valid JSON ({err})") from None
        except RecursionError:
            raise BadInput(f"--vars {vars_file}: not valid JSON (nested too deeply)") from None
        if not isinstance(loaded, dict):
            raise BadInput(f"--vars {vars_file}: expected a JSON object of variables")
        variables.update(loaded)
    variables.update(parse_assignments(pairs))
    name, ref = split_ref(spec)
    messages = open_registry(ctx).resolve(name, ref).render(variables)
    if as_json:
        echo_json([m.to_dict() for m in messages])
        return
    for index, message in enumerate(messages):
        if index:
            click.echo("")
        click.echo(f"{message.role}:")
        click.echo(message.content)


@cli.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def log(ctx: click.Context, name: str, as_json: bool) -> None:
    """List every version of a prompt, newest first, with its labels."""
    if as_json:
        from plg.registry.catalog import version_log

        echo_json([e.to_json() for e in version_log(open_registry(ctx), name)])
        return
    click.echo(views.log_text(open_registry(ctx), name), nl=False)


@cli.command()
@click.argument("a", metavar="NAME@A")
@click.argument("b", metavar="NAME@B", required=False)
@click.pass_context
def diff(ctx: click.Context, a: str, b: str | None) -> None:
    """Show what changed between two versions (B defaults to the working tree)."""
    from plg.registry.catalog import diff_versions

    click.echo(diff_versions(open_registry(ctx), a, b), nl=False)


@cli.command()
@click.argument("names", nargs=-1)
@click.pass_context
def lint(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Check front matter, template syntax and declared vs used variables (exit 1 on an error), and that
    each eval pipeline loads and its python evaluators exist with a usable signature (exit 2 if not)."""
    from plg.evals.lint import lint_prompts

    findings = lint_prompts(repo_path(ctx), list(names))
    for finding in findings:
        click.echo(str(finding), err=finding.severity == "error")
    errors = sum(f.severity == "error" for f in findings)
    warnings = len(findings) - errors
    click.echo(f"{errors} error(s), {warnings} warning(s)")
    broken = sum(f.pipeline for f in findings)
    if broken:
        raise BadInput(f"lint found {broken} problem(s) in eval pipelines that stop them from running")
    if errors:
        raise Refused(f"lint found {errors} error(s)")


@cli.command()
@click.argument("spec", metavar="NAME[@REF]")
@click.option("--label", "-l", required=True, help="The label to move, e.g. production.")
@click.option("--reason", default="", help="Why: recorded in the label history.")
@click.option("--dry-run", is_flag=True, help="Print the gate's decision; move nothing.")
@click.option(
    "--force", is_flag=True, help="Move despite a failed gate (needs --reason; recorded as forced)."
)
@click.option("--push", "remote", metavar="REMOTE", help="Push the moved label to REMOTE (with a lease).")
@click.pass_context
def promote(
    ctx: click.Context, spec: str, label: str, reason: str, dry_run: bool, force: bool, remote: str | None
) -> None:
    """Move LABEL to the version at REF (default: the latest committed) if the label's gate passes."""
    from plg.cli.progress import shown_progress
    from plg.errors import GateFailed
    from plg.gate.promotion import promote as do_promote

    try:
        with shown_progress():
            result = do_promote(
                open_registry(ctx), spec, label, reason=reason, dry_run=dry_run, remote=remote, force=force
            )
    except GateFailed as err:
        for line in getattr(err, "details", ()):
            click.echo(line)
        raise
    for line in result.lines:
        click.echo(line)


@cli.command()
@click.argument("name")
@click.option("--label", "-l", required=True)
@click.option("--reason", default="", help="Why: recorded in the label history.")
@click.option("--push", "remote", metavar="REMOTE", help="Push the moved label to REMOTE (with a lease).")
@click.option("--to", "to", metavar="NAME@N", help="Go back to this earlier holder instead.")
@click.option("--force", is_flag=True, help="With --to: onto a version forced past its gate (needs --reason).")
@click.pass_context
def rollback(
    ctx: click.Context, name: str, label: str, reason: str, remote: str | None, to: str | None, force: bool
) -> None:
    """Move LABEL back to the most recent earlier version that passed its gate."""
    from plg.gate.promotion import rollback as do_rollback

    registry = open_registry(ctx)
    for line in do_rollback(registry, name, label, reason=reason, remote=remote, to=to, force=force).lines:
        click.echo(line)


@cli.command()
@click.argument("spec", metavar="NAME[@REF]")
@click.option(
    "--history", type=click.Path(dir_okay=False, path_type=Path), help="Default: evals/history/NAME.jsonl"
)
@click.option("--against", help="Only history rows answered by this label.")
@click.option("--embedding-model", default="plg/offline-embed", show_default=True)
@click.option(
    "--judge", "judge_model", help="Also ask this judge model whether each answer matches production's."
)
@click.option(
    "-j", "--concurrency", type=click.IntRange(1, 1024),
    help="Calls in flight (default $PLG_CONCURRENCY, else the settings file's, else 8).",
)
@click.option("--model", help="Run the candidate on this model instead of its own.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write .json or .md.")
@click.pass_context
def backtest(
    ctx: click.Context,
    spec: str,
    history: Path | None,
    against: str | None,
    embedding_model: str,
    judge_model: str | None,
    concurrency: int | None,
    model: str | None,
    output: Path | None,
) -> None:
    """Replay real requests through a version and compare with what production answered."""
    from dataclasses import asdict

    from plg.cli.progress import shown_progress
    from plg.evals.report import check_output
    from plg.gate.backtest import render_markdown, render_text
    from plg.gate.decision import run_backtest
    from plg.registry.versions import split_ref

    if output is not None:
        check_output(output, (".json", ".md"))
    registry = open_registry(ctx)
    name, ref = split_ref(spec)
    candidate = registry.resolve(name, ref)  # NAME alone: the working-tree file, as `plg eval NAME` runs
    path = history or registry.root / "evals/history" / f"{name}.jsonl"
    with shown_progress():
        report, reused = run_backtest(
            registry,
            candidate,
            path,
            against=against,
            embedding_model=embedding_model,
            judge_model=judge_model,
            concurrency=concurrency,
            model=model,
        )
    click.echo(render_text(report))
    if reused:
        click.echo("(recorded result reused: no model called)")
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        if output.suffix.lower() == ".json":
            output.write_text(json.dumps(asdict(report), indent=2, default=str))
        else:
            output.write_text(render_markdown(report))
        click.echo(f"wrote {output}")


@cli.command()
@click.argument("name")
@click.option("--history", is_flag=True, help="Show every recorded move of each label.")
@click.option("--push", "remote", metavar="REMOTE", help="Push every label of NAME to REMOTE (with a lease).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def labels(ctx: click.Context, name: str, history: bool, remote: str | None, as_json: bool) -> None:
    """List a prompt's labels (and with --history, every move)."""
    from dataclasses import asdict

    from plg.registry.labels import list_labels, push_label, untrusted_reason

    registry = open_registry(ctx)
    registry.require_exists(name)
    states = list_labels(registry, name)
    if remote:
        for state in states:
            click.echo(f"{name}@{state.label}: {push_label(registry, name, state.label, remote)}")
        return
    if as_json:
        echo_json(
            [
                {
                    "label": s.label,
                    "version": s.version,
                    "commit": s.commit,
                    "plg_label": untrusted_reason(registry, name, s.label) is None,
                    **({"history": [asdict(m) for m in s.history]} if history else {}),
                }
                for s in states
            ]
        )
        return
    if history:
        moves = sorted(((m.time, m.seq, m) for s in states for m in s.history), key=lambda t: t[:2])
        rows = [
            [
                m.time,
                m.label,
                m.kind + (" (forced)" if m.forced else ""),
                f"v{m.from_version}" if m.from_version else "-",
                f"v{m.to_version}" if m.to_version else "-",
                m.who,
                m.reason + (f" (skipped {'; '.join(m.skipped)})" if m.skipped else ""),
            ]
            for _, _, m in reversed(moves)
        ]
        echo_table(rows, ["when", "label", "move", "from", "to", "who", "reason"])
        return
    rows = []
    for s in states:
        problem = untrusted_reason(registry, name, s.label)  # a tag plg did not write is marked, not served
        rows.append([
            s.label + (" (not plg's)" if problem else ""),
            f"v{s.version}" if s.version else "-",
            _short(s.commit),
            s.history[-1].time if s.history else "",
            s.history[-1].who if s.history else problem or "",
        ])
    echo_table(rows, ["label", "version", "commit", "moved", "by"])
