"""Human grades: export a grading sheet for a run's human scorers, import the filled sheet, and merge the
grades into the run (appended rows supersede the originals, so nothing already recorded is rewritten)."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path
from typing import Any

from plg.errors import BadInput
from plg.evals.rowtrace import pack
from plg.evals.runs import RowRecord, RunWriter, ScoreRecord, latest_rows
from plg.textfiles import text_lines
from plg.tracing.spans import evaluator_attributes

SHEET_COLUMNS = ["row", "id", "model", "repeat", "scorer", "grade", "comment", "inputs", "output"]


def export_sheet(run_file: Path, out: Path) -> int:
    _, rows = latest_rows(run_file)
    count = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(SHEET_COLUMNS)
        for row in sorted(rows.values(), key=lambda r: r.key):
            for score in row.scores:
                if score.pending:
                    inputs = "; ".join(f"{k}={v}" for k, v in row.variables.items())
                    writer.writerow(
                        [
                            row.number,
                            row.given_id,
                            row.model,
                            row.repeat,
                            score.name,
                            "",
                            "",
                            inputs,
                            row.output or "",
                        ]
                    )
                    count += 1
    return count


def pending_grades(run_file: Path) -> int:
    """Grades the run still waits for, counted as the sheet lists them (one per row and scorer)."""
    _, rows = latest_rows(run_file)
    return sum(1 for row in rows.values() for score in row.scores if score.pending)


def import_sheet(run_file: Path, sheet: Path, scales: dict[str, tuple[float, float]]) -> int:
    """`scales` maps a human scorer's name to its grading scale, from the run's pipeline."""
    header, rows = latest_rows(run_file)
    grades: dict[tuple[int, str, int], dict[str, tuple[float, str]]] = {}
    lines = (text for _, text in text_lines(sheet))
    try:
        records = list(csv.DictReader(lines))
    except csv.Error as err:
        raise BadInput(f"{sheet}: malformed CSV: {err}") from None
    for number, line in enumerate(records, 2):
        if not (line.get("grade") or "").strip():
            continue
        try:
            key = (int(line["row"]) - 1, line["model"], int(line.get("repeat") or 0))
            grade = float(line["grade"])
        except (KeyError, ValueError):
            raise BadInput(f"{sheet}, line {number}: needs row, model and a numeric grade") from None
        scorer = line.get("scorer") or ""
        if scorer not in scales:
            raise BadInput(
                f"{sheet}, line {number}: '{scorer}' is not a human scorer of run {header.run_id}"
            )
        low, high = scales[scorer]
        if not low <= grade <= high:
            raise BadInput(f"{sheet}, line {number}: grade {grade:g} is outside {low:g}..{high:g}")
        normalised = (grade - low) / (high - low) if high > low else 0.0
        grades.setdefault(key, {})[scorer] = (normalised, line.get("comment") or "")
    updated: list[RowRecord] = []
    for key, by_scorer in grades.items():
        row = rows.get(key)
        if row is None:
            raise BadInput(f"{sheet}: run {header.run_id} has no row {key[0] + 1} for model {key[1]}")
        scores = tuple(
            replace(
                s,
                score=by_scorer[s.name][0],
                passed=by_scorer[s.name][0] >= header.scorer_pass_at(s.name),
                pending=False,
                reason=by_scorer[s.name][1] or "human grade",
            )
            if s.name in by_scorer
            else s
            for s in row.scores
        )
        graded = replace(row, scores=scores, **_row_totals(scores))
        updated.append(replace(graded, **_regraded_trace(row, graded, set(by_scorer))))
    writer = RunWriter(run_file, None)
    try:
        for row in updated:
            writer.append(row)
    finally:
        writer.close()
    return sum(len(v) for v in grades.values())


def _regraded_trace(row: RowRecord, graded: RowRecord, scorers: set[str]) -> dict[str, Any]:
    """The row's span tree saying what the grade says: each graded evaluator's span and the root's score
    and pass, stored compactly (a row from before compact traces is converted on the way)."""
    spans = row.trace()
    if not spans:
        return {}
    by_name = {s.name: s for s in graded.scores}
    out = []
    for span in spans:
        attributes = dict(span.attributes)
        scorer = span.name.removeprefix("evaluator.")
        if span.name.startswith("evaluator.") and scorer in scorers:
            attributes.pop("pending", None)
            found = by_name[scorer]
            attributes.update(
                {k: v for k, v in evaluator_attributes(found, found.weight).items() if v is not None}
            )
        elif span.parent_id is None and graded.error is None and graded.score is not None:
            attributes.update(score=round(graded.score, 6), passed=graded.passed)
        out.append(replace(span, attributes=attributes))
    return {"span_tree": pack(out, graded), "spans": ()}


def _row_totals(scores: tuple[ScoreRecord, ...]) -> dict[str, object]:
    usable = [s for s in scores if not s.pending and (s.score is not None or s.error)]
    weight = sum(s.weight for s in usable)
    judged = [s for s in scores if not s.pending]
    total = sum((0.0 if s.error or s.score is None else s.score) * s.weight for s in usable)
    return {
        "score": total / weight if weight else None,
        "passed": all(s.passed is True and not s.error for s in judged) if judged else None,
    }
