"""`plg promote` and `plg rollback`: resolve the candidate, pass the label's gate, move the label by
compare-and-swap, record the move with the gate's figures."""

from __future__ import annotations

from dataclasses import dataclass

from plg.errors import BadInput, GateFailed, NotFound, Refused
from plg.registry.labels import execute_move, label_state, plan_move, push_label
from plg.registry.versions import PromptVersion, Registry, split_ref


@dataclass(frozen=True)
class PromoteResult:
    moved: bool
    lines: tuple[str, ...]
    decision: object | None = None


def resolve_candidate(registry: Registry, spec: str) -> PromptVersion:
    name, ref = split_ref(spec)
    if ref is not None:
        return registry.resolve(name, ref)
    path = registry.prompt_path(name)
    if registry.store.is_dirty(path):
        registry.require_exists(name)
        raise Refused(
            f"{path} has uncommitted changes: commit them first, or name a committed version ({name}@N)"
        )
    return registry.latest(name)


def decision_table(decision) -> list[str]:  # type: ignore[no-untyped-def]
    from tabulate import tabulate

    if not decision.checks:
        return []
    headers = ["check", "figure", "bound", "result"]
    with_detail = any(c.detail for c in decision.checks)
    rows = [
        [
            c.name,
            _figure(c),
            c.bound,
            _result(c),
            *([c.detail] if with_detail else []),
        ]
        for c in decision.checks
    ]
    table = tabulate(
        rows, headers=[*headers, *(["detail"] if with_detail else [])], tablefmt="simple", disable_numparse=True
    ).splitlines()
    line = decision.model_line()
    warning = decision.placeholder_line()
    table += [warning] if warning else []
    table += decision.inconclusive_lines() if hasattr(decision, "inconclusive_lines") else []
    return [f"{decision.label} gate for {decision.candidate.ref}: {line}", *table] if line else table


def _figure(check) -> str:  # type: ignore[no-untyped-def]
    """`0.712` for a point check; `-0.020 [-0.210, +0.170]` with the bounds a statistical check used."""
    if check.value is None:
        return "-"
    interval = getattr(check, "interval", None)
    if not interval:
        return f"{check.value:.3f}"
    sign = "+" if check.name == "no regression" else ""
    lo, hi = interval
    return f"{check.value:{sign}.3f} [{lo:{sign}.3f}, {hi:{sign}.3f}]"


def _result(check) -> str:  # type: ignore[no-untyped-def]
    outcome = getattr(check, "outcome", None)
    if outcome == "inconclusive":
        return "inconclusive (let through)" if check.passed else "INCONCLUSIVE"
    return "pass" if check.passed else "FAIL"


def promote(
    registry: Registry,
    spec: str,
    label: str,
    *,
    reason: str = "",
    dry_run: bool = False,
    remote: str | None = None,
    force: bool = False,
    gated: bool = True,
) -> PromoteResult:
    from plg.gate.decision import decide, record_decision

    candidate = resolve_candidate(registry, spec)
    if gated:
        from plg.gate.inputs import require_committed_inputs

        require_committed_inputs(registry, candidate, label, with_prompt=split_ref(spec)[1] is None)
    plan = plan_move(registry, candidate.name, label, candidate, remote=None if dry_run else remote)
    target = f"{candidate.name}@{label}"
    current = plan.current
    if current and current.commit == candidate.commit:
        lines = [f"{target} already points at v{candidate.version}; nothing to do"]
        if plan.remote is not None and plan.remote_tag != current.tag_object:
            lines.append(f"{target} on {remote}: {push_label(registry, candidate.name, label, plan.remote)}")
        return PromoteResult(False, tuple(lines))
    source = (
        f"v{current.version}"
        if current and current.version
        else ("nothing" if not current else current.commit[:10])
    )
    if force and not reason:
        raise Refused("--force needs --reason: say why the gate is overridden")
    decision = None
    gate_missing = False
    lines: list[str] = []
    if gated:
        holder = registry.get(candidate.name, label=label) if current is not None else None
        try:
            decision = decide(registry, candidate, label, holder, record=not dry_run)
        except Refused:
            if not force:
                raise
            gate_missing = True
        if decision is not None:
            lines += decision_table(decision)
            if decision.gated and not dry_run:
                record_decision(registry, decision, force, reason)
    passed = (decision is None or decision.passed) and not gate_missing
    verdict = (
        "" if decision is None or not decision.gated else (" (gate passed)" if passed else " (gate FAILED)")
    )
    if dry_run:  # nothing written (no tag, no note), and the exit status the real promote would have
        lines.append(f"would move {target}: {source} -> v{candidate.version}{verdict} (dry run)")
        if passed or force:
            return PromoteResult(False, tuple(lines), decision)
    if decision is not None and not decision.passed and not force:
        failed = ", ".join(c.name for c in decision.checks if not c.passed)  # type: ignore[union-attr]
        error = GateFailed(f"{target}: gate failed ({failed}); nothing moved" + (" (dry run)" if dry_run else ""))
        error.details = tuple(lines)  # type: ignore[attr-defined]
        raise error
    if not passed and not force:
        raise Refused(f"{target}: not moved")
    figures = decision.figures() if decision is not None else {}
    execute_move(registry, plan, reason=reason, forced=force and not passed, figures=figures)
    forced = " FORCED past a failed gate" if force and not passed else ""
    lines.append(
        f"moved {target}: {source} -> v{candidate.version} ({(candidate.commit or '')[:10]}){verdict}{forced}"
    )
    if remote:
        lines.append(f"{target} on {remote}: moved too (pushed before the local label moved)")
    return PromoteResult(True, tuple(lines), decision)


def rollback(
    registry: Registry,
    name: str,
    label: str,
    reason: str = "",
    remote: str | None = None,
    *,
    to: str | None = None,
    force: bool = False,
) -> PromoteResult:
    """Back to the most recent earlier holder that passed its gate (never the current one, never a version
    forced past its gate); `to` names an earlier holder instead, and one that never passed needs `force`
    and a reason. Recorded as a rollback, with what it skipped; no gate runs."""
    from plg.registry.labels import rollback_target

    state = label_state(registry, name, label)
    if state is None:
        registry.require_exists(name)
        raise NotFound(f"{name}@{label}: no such label to roll back{registry._label_hint(name)}")
    if force and to is None:
        raise BadInput("--force goes with --to NAME@N: name the version the label goes back to")
    if force and not reason:
        raise Refused("--force needs --reason: say why the label goes back to a version that never passed")
    skipped: tuple[str, ...] = ()
    forced = False
    if to is not None:
        wanted_name, ref = split_ref(to)
        if wanted_name != name or ref is None:
            raise BadInput(f"--to {to}: name a version of {name}, as {name}@N")
        target = registry.resolve(name, ref)
        held = [m for m in state.history if m.to_commit == target.commit]
        if target.commit == state.commit:
            raise Refused(f"{name}@{label} already points at v{target.version}; nothing to do")
        if not held:
            raise Refused(
                f"{name}@{label} never held v{target.version}: rollback returns to an earlier holder "
                f"(move it with `plg promote {name}@{target.version} --label {label}`)"
            )
        if not any(m.kind == "promote" and not m.forced for m in held):
            if not force:
                raise Refused(
                    f"{name}@{label}: v{target.version} was forced past its gate and never passed it; "
                    "rolling back onto it needs --force --reason"
                )
            forced = True
    else:
        holder, skipped = rollback_target(state)
        target = registry.at_commit(name, holder.commit)
    assert target.commit is not None
    plan = plan_move(registry, name, label, target, remote=remote)
    execute_move(
        registry,
        plan,
        kind="rollback",
        reason=reason or f"rollback from v{state.version}",
        forced=forced,
        skipped=skipped,
    )
    passed_over = f"; skipped {'; '.join(skipped)}" if skipped else ""
    lines = [
        f"rolled back {name}@{label}: v{state.version} -> v{target.version} ({target.commit[:10]})"
        f"{' FORCED onto a version that never passed its gate' if forced else ''}{passed_over}"
    ]
    if remote:
        lines.append(f"{name}@{label} on {remote}: moved too (pushed before the local label moved)")
    return PromoteResult(True, tuple(lines))
