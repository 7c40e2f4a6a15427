"""Sharded evals: one eval's rows split across machines by row identity, and the shards merged back.

A row's shard is a hash of what the row is (its `id`, else its content), never of its position, so rows
appended to a dataset move no existing row to another shard. A shard run is an ordinary run file whose
header names the slice (`shard: "2/3"`) beside the whole eval's identity, and which ends with a
`shard-done` line once every row of the slice has finished. Merging refuses anything that could make the
merged run differ from the unsharded one: shards of another eval, a shard given twice, a shard missing,
a shard that did not finish. The merged summary is computed again from the merged rows, never added up
from the shards' summaries.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from plg.errors import BadInput
from plg.evals.datasets import Row
from plg.evals.runner import RunResult, summarize_rows
from plg.evals.runs import SHARD_DONE, RowRecord, RunHeader, RunWriter, find_run, run_path

MAX_SHARDS = 1000


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, row: Row) -> bool:
        return self.count == 1 or shard_number(row, self.count) == self.index


def parse_shard(text: str) -> Shard:
    index, sep, count = text.partition("/")
    if sep and index.strip().isdigit() and count.strip().isdigit():
        shard = Shard(int(index), int(count))
        if 1 <= shard.index <= shard.count <= MAX_SHARDS:
            return shard
    raise BadInput(f"--shard {text!r}: expected I/N with 1 <= I <= N <= {MAX_SHARDS}, e.g. 2/4")


def row_identity(row: Row) -> str:
    """What the row is: its `id` when it has one, else its whole content (key order ignored)."""
    given = row.values.get("id")
    if given not in (None, ""):
        return f"id\0{given}"
    return "content\0" + json.dumps(row.values, sort_keys=True, ensure_ascii=False, default=str)


def row_key(row: Row) -> str:
    """A short stable name for the row, the key of its figures in a note's `per_row`."""
    return hashlib.sha256(row_identity(row).encode()).hexdigest()[:16]


def shard_number(row: Row, count: int) -> int:
    digest = hashlib.sha256(row_identity(row).encode()).digest()
    return 1 + int.from_bytes(digest[:8], "big") % count


@dataclass(frozen=True)
class ShardRun:
    path: Path
    header: RunHeader
    shard: Shard
    rows: dict[tuple[int, str, int], RowRecord]
    done_rows: int | None

    @property
    def finished(self) -> bool:
        return self.done_rows is not None and self.done_rows == len(self.rows)


def read_shard(path: Path) -> ShardRun:
    """A shard run file, whole: header, rows (the last copy of a row wins) and its completion line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise BadInput(f"{path}: {err.strerror}") from None
    try:
        header = RunHeader.from_json(json.loads(lines[0]))
    except (ValueError, TypeError, IndexError):
        raise BadInput(f"{path}: not a plg run file") from None
    if not header.shard:
        raise BadInput(f"{path}: run {header.run_id} is not a shard (make shards with --shard I/N)")
    shard = parse_shard(header.shard)
    rows: dict[tuple[int, str, int], RowRecord] = {}
    done: int | None = None
    for number, line in enumerate(lines[1:], 2):
        try:
            data = json.loads(line)
        except ValueError:
            continue
        kind = data.get("type") if isinstance(data, dict) else None
        if kind == "row":
            try:
                record = RowRecord.from_json(data)
            except (TypeError, ValueError):
                raise BadInput(f"{path}, line {number}: not a valid run row") from None
            rows[record.key] = record
        elif kind == SHARD_DONE and isinstance(data.get("rows"), int):
            done = data["rows"]
    return ShardRun(path=path, header=header, shard=shard, rows=rows, done_rows=done)


def resolve_runs(runs_dir: Path, refs: Iterable[str]) -> list[Path]:
    """Run ids (as `plg runs` lists them) or paths to run files, as paths."""
    out = []
    for ref in refs:
        given = Path(ref)
        out.append(given if given.is_file() else find_run(runs_dir, ref))
    return out


def find_shards(places: Sequence[Path], identity: str) -> list[Path]:
    """The shard runs of one eval found under directories (CI downloads every shard's artifact)."""
    found = []
    for place in places:
        if not place.is_dir():
            raise BadInput(f"{place}: not a directory of shard runs")
        for path in sorted(place.rglob("*.jsonl")):
            header = _peek_header(path)
            if header is not None and header.shard and header.identity == identity:
                found.append(path)
    return found


def _peek_header(path: Path) -> RunHeader | None:
    try:
        with path.open(encoding="utf-8") as handle:
            data = json.loads(handle.readline())
        return RunHeader.from_json(data) if data.get("type") == "header" else None
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def check_shards(shards: Sequence[ShardRun], identity: str | None = None) -> None:
    """Everything that would make a merge differ from the unsharded run is refused, in one line."""
    if not shards:
        raise BadInput("no shard runs to merge")
    first = shards[0]
    for run in shards:
        if run.header.identity != first.header.identity:
            raise BadInput(
                f"{run.path.name} ({_what(run.header)}) and {first.path.name} ({_what(first.header)}) "
                "are shards of different evals"
            )
    if identity is not None and first.header.identity != identity:
        raise BadInput(
            f"{first.path.name} ({_what(first.header)}) is a shard of a different eval: made from another "
            "prompt version, dataset, pipeline or model than this one"
        )
    counts = sorted({run.shard.count for run in shards})
    if len(counts) > 1:
        raise BadInput(f"shards split {' and '.join(f'{c} ways' for c in counts)} cannot be merged")
    count = counts[0]
    seen: dict[int, ShardRun] = {}
    for run in shards:
        if run.shard.index in seen:
            raise BadInput(
                f"shard {run.shard} given twice ({seen[run.shard.index].path.name} and {run.path.name}): "
                "shards overlap"
            )
        seen[run.shard.index] = run
    missing = [f"{i}/{count}" for i in range(1, count + 1) if i not in seen]
    if missing:
        raise BadInput(f"shard {', '.join(missing)} missing: a merge needs all {count} shards")
    for run in shards:
        if not run.finished:
            raise BadInput(
                f"{run.path}: shard {run.shard} is unfinished ({len(run.rows)} rows); "
                f"finish it with --resume {run.header.run_id} --shard {run.shard}"
            )
    owner: dict[tuple[int, str, int], ShardRun] = {}
    for run in shards:
        for key in run.rows:
            if key in owner:
                raise BadInput(
                    f"row {key[0] + 1} ({key[1]}) is in shard {owner[key].shard} and shard {run.shard}: "
                    "shards overlap"
                )
            owner[key] = run


def _what(header: RunHeader) -> str:
    target = header.prompt or header.name
    version = f"@{header.version}" if header.version is not None else ""
    return f"{target}{version}, {','.join(header.models)}"


def merge(
    shards: Sequence[ShardRun], runs_dir: Path, run_id: str, who: str, identity: str | None = None
) -> RunResult:
    """Checks the shards, then writes one ordinary run holding every row in dataset order."""
    started = time.perf_counter()
    check_shards(shards, identity)
    ordered = sorted(shards, key=lambda run: run.shard.index)
    base = ordered[0].header
    models = {model: n for n, model in enumerate(base.models)}
    rows = sorted(
        (row for run in ordered for row in run.rows.values()),
        key=lambda r: (r.row_index, models.get(r.model, len(models)), r.model, r.repeat),
    )
    header = replace(
        base,
        run_id=run_id,
        started=min(run.header.started for run in ordered),
        who=who,
        shard=None,
        merged_from=tuple(run.header.run_id for run in ordered),
    )
    path = run_path(runs_dir, run_id)
    writer = RunWriter(path, header)
    try:
        for row in rows:
            writer.append(row)
    finally:
        writer.close()
    return RunResult(
        run_id=run_id,
        path=path,
        header=header,
        summaries=summarize_rows(base.models, iter(rows)),
        rows_run=0,
        rows_reused=len(rows),
        seconds=time.perf_counter() - started,
        merged_from=header.merged_from,
    )


def request_fields(header: RunHeader, root: Path) -> dict[str, Any]:
    """How to plan the eval a shard belongs to again, from its header (for `plg runs merge`)."""
    if header.kind == "custom":
        raise BadInput(
            f"run {header.run_id} scored given outputs: merge it with `plg eval ... --outputs FILE --merge RUN...`"
        )
    spec = None
    if header.prompt is not None:
        ref = header.version if header.version is not None else header.commit
        spec = header.prompt if ref is None else f"{header.prompt}@{ref}"
    return {
        "spec": spec,
        "pipeline": root / header.pipeline if header.pipeline else None,
        "models": tuple(header.models),
        "repeats": header.repeats,
    }
