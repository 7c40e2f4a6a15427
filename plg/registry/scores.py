"""Version scores as git notes (`refs/notes/plg`) on the version's commit.

A note holds one JSON line per eval identity (prompt blob, dataset, pipeline, model), so a commit can
carry scores from several pipelines and models, and the same identity is never evaluated twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

from plg.registry.gitreads import NOTES, NOTES_REF
from plg.registry.gitstore import GitStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any


@dataclass(frozen=True)
class RecordedScore:
    """One eval, backtest or gate figure recorded in git notes for an exact version: `identity` names
    what was measured (prompt blob, data, pipeline, model), so an unchanged one is reused, not rerun."""

    identity: str
    prompt: str
    version: int | None
    blob: str
    model: str
    score: float | None
    pass_rate: float | None
    rows: int
    errors: int
    datasets: tuple[str, ...]
    dataset_hashes: tuple[str, ...]
    pipeline: str | None
    pipeline_hash: str | None
    run_id: str
    time: str
    passed_threshold: bool | None = None
    kind: str = "eval"
    details: dict[str, Any] | None = None
    # Per-row figures, keyed by row identity (`evals.shards.row_identity`): one [score, passed] pair per
    # repeat, None where the row was not judged. The gate pairs candidate and holder rows by these keys.
    per_row: dict[str, list[list[Any]]] | None = None
    # An SSH signature (`ssh-keygen -Y sign -n plg-evidence`, armored) over `payload()`, and who signed.
    signature: str | None = None
    signer: str | None = None

    def scorer_errors(self) -> dict[str, int]:
        scorers = (self.details or {}).get("scorers") or {}
        return {
            name: int((figures or {}).get("errors") or 0)
            for name, figures in scorers.items()
            if isinstance(figures, dict)
        }

    def placeholders(self) -> tuple[str, ...]:
        """Scorers whose recorded figures came from the offline stand-in judge, not a judgement."""
        scorers = (self.details or {}).get("scorers") or {}
        return tuple(
            name for name, figures in scorers.items() if isinstance(figures, dict) and figures.get("placeholder")
        )

    def intervals(self) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
        """The bounds of the mean score and of the pass rate as `plg eval --record` computed them
        (`details["intervals"]`, one-sided at its `confidence`): readers print them without statistics
        code, so `plg log` stays fast. None where the note predates them or holds no such figure."""
        recorded = (self.details or {}).get("intervals")
        if not isinstance(recorded, dict):
            return None, None
        return _bounds(recorded.get("score")), _bounds(recorded.get("pass_rate"))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    def payload(self) -> bytes:
        """The exact bytes a signature covers: every field but the signature and its signer."""
        data = asdict(self)
        data.pop("signature")
        data.pop("signer")
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, line: str) -> RecordedScore:
        data = json.loads(line)
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["datasets"] = tuple(fields.get("datasets") or ())
        fields["dataset_hashes"] = tuple(fields.get("dataset_hashes") or ())
        return cls(**fields)


def _bounds(value: Any) -> tuple[float, float] | None:
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        return float(value[0]), float(value[1])
    return None


def with_bounds(value: float, bounds: tuple[float, float] | None) -> str:
    """`0.71 [0.64, 0.78]`: a recorded mean and its bounds, as `plg eval`'s tables print it."""
    return f"{value:.2f}" + (f" [{bounds[0]:.2f}, {bounds[1]:.2f}]" if bounds else "")


def read_scores(store: GitStore, commit: str) -> list[RecordedScore]:
    return parse_note(store.read_note(NOTES_REF, commit) or "")


def list_notes(store: GitStore) -> Callable[[], str]:
    """The notes listing `scores_by_commit` reads, started now to run beside other git calls."""
    return store.start(*NOTES)


def scores_by_commit(
    store: GitStore, commits: list[str], listing: Callable[[], str] | None = None
) -> dict[str, list[RecordedScore]]:
    """Scores of many versions with two git calls, for `plg log`."""
    notes = store.notes_map(NOTES_REF, listing)
    wanted = {c: notes[c] for c in commits if c in notes}
    blobs = store.read_blobs(sorted(set(wanted.values())))
    return {c: parse_note(blobs.get(b, b"").decode("utf-8", "replace")) for c, b in wanted.items()}


def parse_note(text: str) -> list[RecordedScore]:
    scores = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                scores.append(RecordedScore.from_json(line))
            except (ValueError, TypeError, RecursionError):  # a hostile or damaged line is skipped
                continue
    return scores


def find_score(store: GitStore, commit: str, identity: str) -> RecordedScore | None:
    """The newest line of this identity, trusted or not: for display. The gate asks `find_evidence`."""
    found = [s for s in read_scores(store, commit) if s.identity == identity]
    return max(found, key=lambda s: s.time) if found else None


def find_evidence(store: GitStore, commit: str, identity: str) -> tuple[RecordedScore | None, str]:
    """The recorded line of this identity a decision may reuse (signed by an allowed signer, or produced
    by this clone), or None and why the newest line is not evidence ("" when there is no line at all)."""
    from plg.registry.evidence import choose

    found = [s for s in read_scores(store, commit) if s.identity == identity]
    if not found:
        return None, ""
    return choose(store, found)


def record_scores(store: GitStore, commit: str, new: list[RecordedScore]) -> None:
    """Replace entries with the same identity, keep the others, and write the note back: signed when
    `PLG_SIGNING_KEY` is set, remembered as this clone's own, and by compare-and-swap on the notes ref so
    concurrent writers each persist."""
    from plg.registry.evidence import remember_produced, sign_all

    new = sign_all(new)
    identities = {s.identity for s in new}

    def merged(text: str) -> str:
        kept = [s for s in parse_note(text) if s.identity not in identities]
        return "\n".join(s.to_json() for s in [*kept, *new]) + "\n"

    store.update_note(NOTES_REF, commit, merged)
    if not store.bare:
        remember_produced(store.root, new)


def own_pipeline(root: Path, name: str, eval_key: str | None = None, former: Iterable[str] = ()) -> str | None:
    """The path (relative, as notes record it) of the prompt's own pipeline, the one its gate reads:
    the front matter's `eval:` when given, else `evals/NAME.yaml` and the names `evals.config.
    find_pipeline` tries after it, then those of the names it had before a `git mv` (`former`). Stats
    files only, so `plg log` can ask."""
    tried = [eval_key] if eval_key else []
    for each in [name, *(f for f in former if f != name)]:
        tried += [f"evals/{each}.yaml", f"evals/{each}.yml", f"evals/{each.replace('/', '-')}.yaml"]
    for candidate in tried:
        if (root / candidate).is_file():
            return "/".join(p for p in candidate.replace("\\", "/").split("/") if p not in ("", "."))
    return None


def headline(
    scores: list[RecordedScore],
    pipeline: str | None = None,
    bounds: Callable[[RecordedScore], tuple[float, float] | None] | None = None,
) -> str | None:
    """The figure `plg log` prints for a version: the latest eval per model on `pipeline` (the prompt's
    own, gating one). Scores from other pipelines measure something else (a grading sheet, another
    dataset): when the prompt's own has none (or it is not known), the newest pipeline's are shown with
    that pipeline named. Each score is shown with its recorded bounds (`bounds` may find them otherwise:
    the viewer computes an older line's from its per-row figures)."""
    evals = [s for s in scores if s.kind == "eval" and s.score is not None]
    own = [s for s in evals if pipeline is not None and s.pipeline == pipeline]
    if not own and evals:
        newest = max(evals, key=lambda s: s.time).pipeline
        own = [s for s in evals if s.pipeline == newest]
        named = f" [{newest or 'no pipeline'}]"
    else:
        named = ""
    if not own:
        return None
    latest: dict[str, RecordedScore] = {}
    for score in sorted(own, key=lambda s: s.time):
        latest[score.model] = score
    text = " ".join(
        with_bounds(s.score or 0.0, bounds(s) if bounds else s.intervals()[0]) + ("" if len(latest) == 1 else f"({s.model})")
        for s in latest.values()
    )
    return text + named
