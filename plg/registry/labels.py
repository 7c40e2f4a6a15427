"""Release labels are annotated tags `prompts/<name>@<label>`, moved by compare-and-swap.

Each label's tag message carries the label's whole move history as JSON lines. The history is then part
of the very object the compare-and-swap installs: it cannot drift from the label, and it travels with
every `git push`/`git clone` of the tag without a second ref to keep consistent.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from plg.errors import LabelMoved, NotFound, PlgError, PushRejected, Refused
from plg.registry.gitstore import GitError
from plg.registry.versions import TAG_PREFIX, PromptVersion, Registry, validate_name

HISTORY_MARKER = "--- plg label history v1 ---"


@dataclass(frozen=True)
class LabelMove:
    label: str
    kind: str
    time: str
    who: str
    from_version: int | None
    from_commit: str | None
    to_version: int | None
    to_commit: str
    reason: str = ""
    forced: bool = False
    figures: dict[str, Any] = field(default_factory=dict)
    seq: int = 0
    """The move's place in the label's history (1, 2, ...): moves in the same second keep their order.
    Entries written before it existed read as their position in the history."""
    skipped: tuple[str, ...] = ()
    """For a rollback: the earlier holders it passed over, and why ("v2: forced past its gate")."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> LabelMove:
        data = json.loads(line)
        move = cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        if not isinstance(move.seq, int) or not isinstance(move.skipped, (list, tuple)):
            raise TypeError("seq and skipped must be a number and a list")
        return replace(move, skipped=tuple(str(x) for x in move.skipped))


@dataclass(frozen=True)
class LabelState:
    name: str
    label: str
    tag_object: str
    commit: str
    version: int | None
    history: tuple[LabelMove, ...]
    ref: str = ""


@dataclass(frozen=True)
class PlannedMove:
    """What a promote would do; `execute` makes it so only if the label has not moved since planning."""

    name: str
    label: str
    ref: str
    expected_tag: str | None
    current: LabelState | None
    target: PromptVersion
    remote: str | None = None
    remote_tag: str | None = None


def tag_ref(name: str, label: str) -> str:
    return f"{TAG_PREFIX}{name}@{label}"


def validate_label(registry: Registry, name: str, label: str) -> str:
    validate_name(name)
    return validate_name(label, "label")


def read_history(message: str) -> tuple[LabelMove, ...]:
    _, marker, rest = message.partition(HISTORY_MARKER)
    if not marker:
        return ()
    moves = []
    for line in rest.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                moves.append(LabelMove.from_json(line))
            except (ValueError, TypeError, RecursionError):  # a hostile or damaged line is skipped
                continue
    return tuple(m if m.seq else replace(m, seq=i) for i, m in enumerate(moves, 1))


def label_state(registry: Registry, name: str, label: str) -> LabelState | None:
    ref = registry.label_ref(name, label)
    tag_object = registry.store.ref_value(ref) if ref else None
    if ref is None or tag_object is None:
        return None
    commit = registry.store.ref_value(f"{ref}^{{commit}}") or tag_object
    kind = registry.store.run("cat-file", "-t", tag_object).strip()
    history = read_history(registry.store.tag_message(tag_object)) if kind == "tag" else ()
    return LabelState(
        name=name,
        label=label,
        tag_object=tag_object,
        commit=commit,
        version=registry.version_of_commit(name, commit),
        history=history,
        ref=ref,
    )


def list_labels(registry: Registry, name: str) -> list[LabelState]:
    states = []
    for label in sorted(registry.labels(name)):
        state = label_state(registry, name, label)
        if state is not None:
            states.append(state)
    return states


def plan_move(
    registry: Registry, name: str, label: str, target: PromptVersion, remote: str | None = None
) -> PlannedMove:
    """With `remote`, the move is planned against what the remote holds too: a clone that has not seen
    the remote's last move is refused here, before any gate runs and before anything moves."""
    validate_label(registry, name, label)
    if target.commit is None or target.version is None:
        raise Refused(
            f"{name}: only a committed version can carry a label; commit prompts/{name}.prompt first"
        )
    current = label_state(registry, name, label)
    ref = tag_ref(name, label)
    remote_tag = None
    if remote is not None:
        remote_tag = registry.store.remote_ref(remote, ref)
        local_tag = current.tag_object if current else None
        if remote_tag is not None and remote_tag != local_tag and not (
            local_tag and _descends(registry, local_tag, remote_tag)
        ):
            raise LabelMoved(
                f"{describe_remote(registry, remote, name, label, remote_tag)}, a move this clone has not "
                f"seen (here: {_where(current)}); run `plg fetch {remote}` and promote again; nothing moved"
            )
    return PlannedMove(
        name=name,
        label=label,
        ref=ref,
        expected_tag=current.tag_object if current and current.ref == ref else None,
        current=current,
        target=target,
        remote=remote,
        remote_tag=remote_tag,
    )


def _where(state: LabelState | None) -> str:
    if state is None:
        return "no such label"
    return f"v{state.version}" if state.version else state.commit[:10]


def describe_remote(registry: Registry, remote: str, name: str, label: str, remote_tag: str | None) -> str:
    """What the remote holds, in versions when its tag object can be read."""
    if remote_tag is None:
        return f"{remote} has no {name}@{label}"
    registry.store.fetch_object(remote, tag_ref(name, label))
    try:
        history = read_history(registry.store.tag_message(remote_tag))
    except GitError:
        history = ()
    if history:
        last = history[-1]
        return (
            f"{remote} holds {name}@{label} at v{last.to_version} ({last.to_commit[:10]}, {last.kind} by "
            f"{last.who} at {last.time})"
        )
    return f"{remote} holds {name}@{label} at tag {remote_tag[:10]}"


def execute_move(
    registry: Registry,
    plan: PlannedMove,
    *,
    kind: str = "promote",
    reason: str = "",
    forced: bool = False,
    figures: dict[str, Any] | None = None,
    skipped: tuple[str, ...] = (),
) -> LabelMove:
    store = registry.store
    current = plan.current
    earlier = current.history if current else ()
    move = LabelMove(
        label=plan.label,
        kind=kind,
        time=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        who=store.identity(),
        from_version=current.version if current else None,
        from_commit=current.commit if current else None,
        to_version=plan.target.version,
        to_commit=plan.target.commit or "",
        reason=reason,
        forced=forced,
        figures=figures or {},
        seq=max((m.seq for m in earlier), default=0) + 1,
        skipped=skipped,
    )
    history = (*earlier, move)
    message = _tag_message(plan, move, history)
    tag_object = store.make_tag(plan.ref, move.to_commit, message)
    if plan.remote is not None:
        _push_first(registry, plan, tag_object)
    store.compare_and_swap(plan.ref, tag_object, plan.expected_tag, f"plg {kind} {plan.name}@{plan.label}")
    return move


def _push_first(registry: Registry, plan: PlannedMove, tag_object: str) -> None:
    """The remote moves before the local tag does: if it refuses, nothing has moved anywhere, so no
    clone ever serves a version its remote never released."""
    assert plan.remote is not None
    try:
        registry.store.push_object_with_lease(plan.remote, tag_object, plan.ref, plan.remote_tag)
    except PushRejected as err:
        try:
            now = registry.store.remote_ref(plan.remote, plan.ref)
        except PushRejected:
            now = plan.remote_tag
        held = describe_remote(registry, plan.remote, plan.name, plan.label, now)
        if now != plan.remote_tag:
            raise LabelMoved(
                f"{plan.name}@{plan.label} moved on {plan.remote} meanwhile: {held}; nothing moved here "
                f"either (still {_where(plan.current)}); run `plg fetch {plan.remote}`"
            ) from None
        raise PushRejected(
            f"{err.message}; {held}; nothing moved here either (still {_where(plan.current)})"
        ) from None


def _tag_message(plan: PlannedMove, move: LabelMove, history: tuple[LabelMove, ...]) -> str:
    source = f"v{move.from_version}" if move.from_version else (move.from_commit or "nothing")[:12]
    lines = [
        f"plg: {plan.name}@{plan.label} -> v{move.to_version} ({move.to_commit[:12]})",
        "",
        f"{move.kind.capitalize()} by {move.who} at {move.time}, from {source}.",
    ]
    if move.reason:
        lines.append(f"Reason: {move.reason}")
    if move.forced:
        lines.append("Forced past a failed gate.")
    if move.skipped:
        lines.append(f"Skipped: {'; '.join(move.skipped)}.")
    lines += ["", HISTORY_MARKER, *(m.to_json() for m in history), ""]
    return "\n".join(lines)


@dataclass(frozen=True)
class Holder:
    commit: str
    version: int | None
    passed: bool
    """Put there by a move that passed its gate (a promote not forced); a rollback keeps the status of
    the move that first put the version there."""


def holders(state: LabelState) -> list[Holder]:
    """The label's holders as a stack, oldest first: a promote pushes its version, a rollback pops back to
    the version it returned to. So rolling back twice walks back (v3 -> v2 -> v1), never forth."""
    stack: list[Holder] = []
    for move in sorted(state.history, key=lambda m: m.seq):
        if move.kind == "rollback":
            found = [i for i, h in enumerate(stack) if h.commit == move.to_commit]
            if found:
                del stack[found[-1] + 1 :]
                continue
        stack.append(Holder(move.to_commit, move.to_version, move.kind == "promote" and not move.forced))
    return stack


def rollback_target(state: LabelState) -> tuple[Holder, tuple[str, ...]]:
    """The most recent earlier holder that passed its gate and is not the current version, and the
    holders passed over on the way (forced ones)."""
    if not state.history:
        raise NotFound(f"{state.name}@{state.label} has no recorded history to roll back")
    skipped: list[str] = []
    seen = {state.commit}
    for holder in reversed(holders(state)):
        if holder.commit in seen:
            continue
        seen.add(holder.commit)
        if holder.passed:
            return holder, tuple(skipped)
        skipped.append(f"{_held(holder)}: forced past its gate")
    if skipped:
        raise Refused(
            f"{state.name}@{state.label}: no earlier version passed its gate (skipped {'; '.join(skipped)}); "
            "name one with --to NAME@N --force --reason"
        )
    raise NotFound(f"{state.name}@{state.label} has no earlier version to roll back to")


def _held(holder: Holder) -> str:
    return f"v{holder.version}" if holder.version else holder.commit[:10]


def push_label(registry: Registry, name: str, label: str, remote: str) -> str:
    """Push with an explicit lease: the remote tag must still be what it was before our last move."""
    state = label_state(registry, name, label)
    if state is None:
        raise NotFound(f"{name}@{label}: no such label to push")
    ref = state.ref or tag_ref(name, label)
    remote_value = registry.store.remote_ref(remote, ref)
    if remote_value == state.tag_object:
        return "up to date"
    if remote_value is not None and not _descends(registry, state.tag_object, remote_value):
        raise LabelMoved(
            f"{describe_remote(registry, remote, name, label, remote_value)}, a move this clone has not "
            f"seen; run `plg fetch {remote}` and promote again"
        )
    registry.store.push_with_lease(remote, ref, remote_value)
    return "pushed"


def _descends(registry: Registry, local_tag: str, remote_tag: str) -> bool:
    """A local label state descends from the remote one when the remote's last move is in our history."""
    try:
        message = registry.store.tag_message(remote_tag)
    except GitError:  # the remote tag object may not be in this clone at all
        return False
    remote_history = read_history(message)
    local_history = read_history(registry.store.tag_message(local_tag))
    return bool(remote_history) and local_history[: len(remote_history)] == remote_history


def fetch_labels(registry: Registry, remote: str) -> list[str]:
    """Bring every label and its history from `remote`, replacing stale local tags (a plain `git fetch`
    keeps them); one line per label that changed."""
    changed = registry.store.fetch_tags(remote, TAG_PREFIX)
    lines = []
    for ref, (old, new) in changed.items():
        name, _, label = ref.removeprefix(TAG_PREFIX).rpartition("@")
        before = _version_of_tag(registry, name, old)
        after = _version_of_tag(registry, name, new)
        lines.append(f"{name}@{label}: {before} -> {after}")
    return lines


def _version_of_tag(registry: Registry, name: str, tag: str | None) -> str:
    if tag is None:
        return "nothing"
    try:
        commit = registry.store.resolve_commit(tag)
        version = registry.version_of_commit(name, commit)
    except PlgError:
        return tag[:10]
    return f"v{version}" if version else commit[:10]


def untrusted_reason(registry: Registry, name: str, label: str) -> str | None:
    """Why `name@label` is not a label plg wrote, or None when it is (or when there is no such label:
    resolving it says that). A label is an annotated tag whose message carries plg's history, whose
    newest move names the commit the tag points at, and whose commit is reachable from a branch (the one
    it was promoted on). A lightweight tag, a tag at a commit no branch holds (an orphan pushed past
    review) or a history that does not parse is refused by every reader that serves a label: the SDK
    (local, remote, bundle), `plg bundle`, and `plg labels` marks it."""
    ref = registry.label_ref(name, label)
    tag_object = registry.store.ref_value(ref) if ref else None
    if ref is None or tag_object is None:
        return None
    if registry.store.run("cat-file", "-t", tag_object).strip() != "tag":
        return "a lightweight tag, not one plg wrote (plg's labels are annotated tags carrying their history)"
    history = read_history(registry.store.tag_message(tag_object))
    if not history:
        return "its message carries no plg label history"
    commit = registry.store.ref_value(f"{ref}^{{commit}}")
    if commit is None:
        return "it does not point at a commit"
    if history[-1].to_commit != commit:
        return f"its history's last move is to {history[-1].to_commit[:12]}, but it points at {commit[:12]}"
    holders = registry.store.run(
        "for-each-ref", "--count=1", "--format=%(refname)", f"--contains={commit}", "refs/heads/", "refs/remotes/"
    ).strip()
    if not holders:
        return f"it points at {commit[:12]}, a commit no branch holds"
    return None
