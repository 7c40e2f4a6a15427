"""`plg runs diff A B`: two runs row by row — score deltas, changed outputs, rows that flipped pass/fail —
and the word diff every view of a changed output uses (the terminal, the backtest report, the viewer)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from plg.evals.runs import RowRecord, RunHeader, latest_rows


@dataclass(frozen=True)
class RowDelta:
    row: int
    row_id: str
    model_a: str
    model_b: str
    score_a: float | None
    score_b: float | None
    output_changed: bool
    flipped: str | None
    output_a: str | None = None
    output_b: str | None = None

    def word_diff(self) -> tuple[Segment, ...]:
        return word_segments(self.output_a or "", self.output_b or "")

    @property
    def delta(self) -> float | None:
        if self.score_a is None or self.score_b is None:
            return None
        return self.score_b - self.score_a


@dataclass(frozen=True)
class RunDiff:
    a: RunHeader
    b: RunHeader
    rows: tuple[RowDelta, ...]
    only_in_a: int
    only_in_b: int

    @property
    def mean_delta(self) -> float | None:
        deltas = [r.delta for r in self.rows if r.delta is not None]
        return sum(deltas) / len(deltas) if deltas else None


def _key(row: RowRecord, by_model: bool) -> tuple[int, str, int]:
    return (row.row_index, row.model if by_model else "", row.repeat)


def diff_runs(path_a: Path, path_b: Path) -> RunDiff:
    """Rows pair by (row, model, repeat); when each run has a single model (a model comparison across
    runs), they pair by (row, repeat)."""
    header_a, rows_a = latest_rows(path_a)
    header_b, rows_b = latest_rows(path_b)
    by_model = not (len(header_a.models) == 1 and len(header_b.models) == 1)
    index_a = {_key(r, by_model): r for r in rows_a.values()}
    index_b = {_key(r, by_model): r for r in rows_b.values()}
    deltas = []
    for key in sorted(set(index_a) & set(index_b)):
        a, b = index_a[key], index_b[key]
        flipped = None
        if a.passed is not None and b.passed is not None and a.passed != b.passed:
            flipped = "fail -> pass" if b.passed else "pass -> fail"
        deltas.append(
            RowDelta(
                row=a.number,
                row_id=a.given_id,
                model_a=a.model,
                model_b=b.model,
                score_a=a.score,
                score_b=b.score,
                output_changed=(a.output or "") != (b.output or ""),
                flipped=flipped,
                output_a=a.output,
                output_b=b.output,
            )
        )
    return RunDiff(
        header_a, header_b, tuple(deltas), len(set(index_a) - set(index_b)), len(set(index_b) - set(index_a))
    )


_TOKENS = re.compile(r"\s+|\w+|[^\w\s]")
MAX_DIFF_TOKENS = 4000
DIFF_CHARS = 600  # what `plg runs diff` shows of one output's diff without --full
DIFFS_SHOWN = 20


@dataclass(frozen=True)
class Segment:
    """A piece of a word diff: `same` (in both texts), `del` (only in the old one), `ins` (only in the new)."""

    op: str
    text: str


def word_segments(old: str, new: str) -> tuple[Segment, ...]:
    """Both texts as one sequence, split at word boundaries. Whitespace and punctuation are tokens of
    their own, so joining the `same` and `del` pieces gives the old text back and `same` and `ins` the
    new one. Past MAX_DIFF_TOKENS tokens a side is cut: the matcher is quadratic in the worst case."""
    ta, tb = _TOKENS.findall(old)[:MAX_DIFF_TOKENS], _TOKENS.findall(new)[:MAX_DIFF_TOKENS]
    # the matcher only sees what lies between the common start and end: most changed outputs differ
    # in a few words, and difflib is pure Python. Whitespace never starts a match (it only extends
    # one): two texts of different words would otherwise match at every space, and the matcher's
    # recursion over thousands of one-token matches takes minutes
    start = 0
    while start < min(len(ta), len(tb)) and ta[start] == tb[start]:
        start += 1
    end = 0
    while end < min(len(ta), len(tb)) - start and ta[-1 - end] == tb[-1 - end]:
        end += 1
    out: list[Segment] = []

    def add(op: str, tokens: list[str]) -> None:
        if not tokens:
            return
        if out and out[-1].op == op:
            out[-1] = Segment(op, out[-1].text + "".join(tokens))
        else:
            out.append(Segment(op, "".join(tokens)))

    add("same", ta[:start])
    ma, mb = ta[start : len(ta) - end], tb[start : len(tb) - end]
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(str.isspace, ma, mb, autojunk=False).get_opcodes():
        if op == "equal":
            add("same", ma[i1:i2])
            continue
        add("del", ma[i1:i2])
        add("ins", mb[j1:j2])
    add("same", ta[len(ta) - end :])
    return tuple(out)


def sides(segments: Sequence[Segment]) -> tuple[tuple[Segment, ...], tuple[Segment, ...]]:
    """The old text (`same` and `del`) and the new one (`same` and `ins`), for a side-by-side view."""
    return (
        tuple(s for s in segments if s.op != "ins"),
        tuple(s for s in segments if s.op != "del"),
    )


def shorten(segments: Sequence[Segment], limit: int | None, context: int = 8) -> tuple[Segment, ...]:
    """What a terminal or a comment shows of a diff: unchanged stretches cut to `context` words either
    side of a change, and the whole cut near `limit` characters (None: everything, as is)."""
    if limit is None:
        return tuple(segments)
    cut: list[Segment] = []
    for i, segment in enumerate(segments):
        text = segment.text
        if segment.op == "same":
            text = _elide(text, context, keep_head=i > 0, keep_tail=i < len(segments) - 1)
        cut.append(Segment(segment.op, text))
    out: list[Segment] = []
    used = 0
    for segment in cut:
        marks = 0 if segment.op == "same" else 4  # the `[-`/`-]` a plain rendering adds
        if used + len(segment.text) + marks > limit:
            room = limit - used - marks
            if room > 0:
                out.append(Segment(segment.op, segment.text[:room]))
            out.append(Segment("same", "…"))
            break
        out.append(segment)
        used += len(segment.text) + marks
    return tuple(out)


def _elide(text: str, context: int, keep_head: bool, keep_tail: bool) -> str:
    """`keep_head`: a change comes before this stretch; `keep_tail`: one comes after it."""
    tokens = _TOKENS.findall(text)
    words = [i for i, t in enumerate(tokens) if not t.isspace()]
    if not keep_head and not keep_tail:
        keep_head, context = True, 2 * context
    kept = context * (int(keep_head) + int(keep_tail))
    if context < 1 or len(words) <= kept + 1:
        return text
    head = "".join(tokens[: words[context - 1] + 1]) + " …" if keep_head else "…"
    tail = " " + "".join(tokens[words[-context] :]) if keep_tail else ""
    return head + tail


def marked(segments: Sequence[Segment]) -> str:
    """Plain markers a log or a test can read: `[-removed-]` and `{+added+}`, as `git diff --word-diff`."""
    return "".join(
        s.text if s.op == "same" else (f"[-{s.text}-]" if s.op == "del" else f"{{+{s.text}+}}")
        for s in segments
    )


def word_diff(old: str, new: str, limit: int | None = 600, context: int = 3) -> str:
    """One line for a report: whitespace differences ignored, markers for what changed."""
    flat = shorten(word_segments(" ".join(old.split()), " ".join(new.split())), limit, context)
    return marked(flat)
