"""`plg promote`: resolve the candidate, refuse unsafe moves, move the label by compare-and-swap."""

from __future__ import annotations

from dataclasses import dataclass

from plg.errors import Refused
from plg.labels import execute_move, plan_move, push_label
from plg.registry import Registry, split_ref


@dataclass(frozen=True)
class PromoteResult:
    moved: bool
    lines: tuple[str, ...]


def resolve_candidate(registry: Registry, spec: str):  # type: ignore[no-untyped-def]
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


def promote(
    registry: Registry,
    spec: str,
    label: str,
    *,
    reason: str = "",
    dry_run: bool = False,
    remote: str | None = None,
) -> PromoteResult:
    candidate = resolve_candidate(registry, spec)
    plan = plan_move(registry, candidate.name, label, candidate)
    target = f"{candidate.name}@{label}"
    current = plan.current
    if current and current.commit == candidate.commit:
        return PromoteResult(False, (f"{target} already points at v{candidate.version}; nothing to do",))
    source = (
        f"v{current.version}"
        if current and current.version
        else ("nothing" if not current else current.commit[:10])
    )
    if dry_run:
        return PromoteResult(False, (f"would move {target}: {source} -> v{candidate.version} (dry run)",))
    execute_move(registry, plan, reason=reason)
    lines = [f"moved {target}: {source} -> v{candidate.version} ({(candidate.commit or '')[:10]})"]
    if remote:
        lines.append(f"{target} on {remote}: {push_label(registry, candidate.name, label, remote)}")
    return PromoteResult(True, tuple(lines))
