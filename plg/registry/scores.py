"""Version scores as git notes (`refs/notes/plg`) on the version's commit.

A note holds one JSON line per eval identity (prompt blob, dataset, pipeline, model), so a commit can
carry scores from several pipelines and models, and the same identity is never evaluated twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass

from plg.registry.gitreads import NOTES, NOTES_REF
from plg.registry.gitstore import GitStore

TYPE_CHECKING = False
if TYPE_CHECKING:
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
    for score in read_scores(store, commit):
        if score.identity == identity:
            return score
    return None


def record_scores(store: GitStore, commit: str, new: list[RecordedScore]) -> None:
    """Replace entries with the same identity, keep the others, and write the note back."""
    identities = {s.identity for s in new}
    kept = [s for s in read_scores(store, commit) if s.identity not in identities]
    lines = [s.to_json() for s in [*kept, *new]]
    store.write_note(NOTES_REF, commit, "\n".join(lines) + "\n")


def headline(scores: list[RecordedScore]) -> str | None:
    """The figure `plg log` prints for a version: the latest eval per model."""
    evals = [s for s in scores if s.kind == "eval" and s.score is not None]
    if not evals:
        return None
    latest: dict[str, RecordedScore] = {}
    for score in sorted(evals, key=lambda s: s.time):
        latest[score.model] = score
    return " ".join(f"{s.score:.2f}" + ("" if len(latest) == 1 else f"({s.model})") for s in latest.values())
