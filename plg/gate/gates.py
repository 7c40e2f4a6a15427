"""Which gate a label move is judged by, read so that no label moves unjudged: a gate that is empty,
a pipeline that does not load, or an `eval:` key naming no file inside the repository is refused
(GateUnusable, exit 2) instead of read as "no gate"."""

from __future__ import annotations

from pathlib import Path

from plg.errors import BadInput, GateUnusable, NoPipeline
from plg.evals.config import LabelGate, load_pipeline, resolve_inside
from plg.evals.plan import prompt_pipeline
from plg.registry.versions import PromptVersion, Registry


def gate_for(
    registry: Registry, candidate: PromptVersion, label: str
) -> tuple[LabelGate | None, Path | None]:
    """The label's gate and the pipeline it comes from; (None, None) only when the prompt has no pipeline
    at all. An `eval:` key that names no readable file inside the repository, a pipeline that does not
    load, or a gate with no check is refused (GateUnusable): it would otherwise move the label unjudged."""
    eval_key = candidate.front.eval
    try:
        path = prompt_pipeline(registry, candidate.name, eval_key)  # through a `git mv`, too
    except NoPipeline:
        if not eval_key:
            return None, None
        path = None
    except BadInput as err:
        raise _unusable(candidate, label, err.message) from None
    if eval_key and path != resolve_inside(registry.root, registry.root, eval_key, "eval"):
        raise _unusable(candidate, label, f"the prompt's `eval: {eval_key}` names no file in the repository")
    assert path is not None
    try:
        gate = load_pipeline(path).config.gate.get(label)
    except BadInput as err:
        raise _unusable(candidate, label, err.message) from None
    if gate is not None and not gate_checks(gate):
        raise _unusable(
            candidate,
            label,
            f"the `{label}` gate in {_shown(registry, path)} has no check "
            "(set min_score, min_pass_rate, max_regression or a backtest bound)",
        )
    return gate, path


def _unusable(candidate: PromptVersion, label: str, problem: str) -> GateUnusable:
    return GateUnusable(
        f"{candidate.name}@{label}: no usable gate: {problem}; nothing moved "
        "(only --force --reason moves it, recorded as forced)"
    )


def gate_checks(gate: LabelGate) -> tuple[str, ...]:
    """The bounds a gate sets; a gate with none would pass anything."""
    bounds = [k for k in ("min_score", "min_pass_rate", "max_regression") if getattr(gate, k) is not None]
    if gate.backtest is not None:
        bounds += [
            f"backtest.{k}"
            for k in ("min_similarity", "max_changed", "min_exact")
            if getattr(gate.backtest, k) is not None
        ]
    return tuple(bounds)


def _shown(registry: Registry, path: Path) -> str:
    try:
        return path.resolve().relative_to(registry.root.resolve()).as_posix()
    except ValueError:
        return str(path)
