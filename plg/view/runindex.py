"""Byte offsets of a run file's rows, so a page of a 100,000-row run reads 50 rows, not the whole file.

The index is built with one pass in which a regex finds the start of each line (where `row_index`, `model`
and `repeat` sit) at C speed, and is cached per file size and modification time: a run that is still being written gets
a fresh index, a finished one is indexed once."""

from __future__ import annotations

import json
import mmap
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from plg.errors import BadInput
from plg.evals.grid import grid_columns
from plg.evals.runs import RowRecord, RunHeader

# `RunWriter` writes a row as `{"type":"row","row_index":N,"row_id":"..","model":"..","repeat":N,...}` (older
# files: `{"row_index": N, "row_id": .., ...}` with spaces). JSON strings never hold a raw newline, so every
# "\n" starts a line; the literal prefix lets the regex engine find each one in C.
_KEY = re.compile(
    rb'\n\{(?:"type": ?"row", ?)?"row_index": ?(\d+), ?"row_id": ?"(?:[^"\\\n]|\\.)*", ?'
    rb'"model": ?("(?:[^"\\\n]|\\.)*"), ?"repeat": ?(\d+),'
)
Key = tuple[int, str, int]


@dataclass(frozen=True)
class RunIndex:
    path: Path
    header: RunHeader
    columns: tuple[tuple[str, int], ...]
    offsets: dict[Key, int]
    rows: tuple[int, ...]

    def read(self, key: Key) -> RowRecord | None:
        offset = self.offsets.get(key)
        if offset is None:
            return None
        with self.path.open("rb") as handle:
            handle.seek(offset)
            return RowRecord.from_json(json.loads(handle.readline()))

    def raw_many(self, keys: list[Key]) -> dict[Key, bytes]:
        """The lines themselves, unparsed, sliced from a map of the file (a filter tests them first)."""
        wanted = sorted((self.offsets[k], k) for k in keys if k in self.offsets)
        out: dict[Key, bytes] = {}
        if not wanted:
            return out
        with self.path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            for offset, key in wanted:
                end = data.find(b"\n", offset)
                out[key] = data[offset : end + 1 if end >= 0 else len(data)]
        return out

    def read_many(self, keys: list[Key]) -> dict[Key, RowRecord]:
        """One open file for a page's rows, read in file order."""
        wanted = sorted((self.offsets[k], k) for k in keys if k in self.offsets)
        out: dict[Key, RowRecord] = {}
        with self.path.open("rb") as handle:
            for offset, key in wanted:
                handle.seek(offset)
                out[key] = RowRecord.from_json(json.loads(handle.readline()))
        return out


def build_index(path: Path) -> RunIndex:
    offsets: dict[Key, int] = {}
    with path.open("rb") as handle:
        first = handle.readline()
        try:
            header = RunHeader.from_json(json.loads(first))
        except (ValueError, TypeError):
            raise BadInput(f"{path}: not a plg run file") from None
        size = os.fstat(handle.fileno()).st_size
        if size > len(first):
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                offsets = _scan(data, len(first))
    columns = grid_columns(header, offsets)
    rows = tuple(sorted({k[0] for k in offsets}))
    return RunIndex(path, header, columns, offsets, rows)


def _scan(data: mmap.mmap, start: int) -> dict[Key, int]:
    """Offsets in file order, so a row written again (grades merged later) points at its last line. A line
    the regex does not recognise (an event, another writer's spacing) is parsed in full rather than dropped;
    a torn last line (killed mid-write) is not a row."""
    complete = data.rfind(b"\n") + 1
    offsets: dict[Key, int] = {}
    models: dict[bytes, str] = {}
    position = start  # the next line not yet accounted for
    for match in _KEY.finditer(data, start - 1, complete):
        line = match.start() + 1
        if line > position:
            _slow_lines(data, position, line, offsets)
        raw = match.group(2)
        model = models.get(raw)
        if model is None:
            model = models[raw] = json.loads(raw)
        offsets[(int(match.group(1)), model, int(match.group(3)))] = line
        position = data.find(b"\n", match.end(), complete) + 1
    if position < complete:
        _slow_lines(data, position, complete, offsets)
    return offsets


def _slow_lines(data: mmap.mmap, start: int, end: int, offsets: dict[Key, int]) -> None:
    position = start
    while position < end:
        stop = data.find(b"\n", position, end)
        stop = end if stop < 0 else stop
        key = _slow_key(data[position:stop])
        if key is not None:
            offsets[key] = position
        position = stop + 1


def _slow_key(line: bytes) -> Key | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("type") != "row":
        return None
    try:
        return (int(data["row_index"]), str(data["model"]), int(data.get("repeat", 0)))
    except (KeyError, TypeError, ValueError):
        return None


class IndexCache:
    """A few recent indexes, rebuilt when the file changes."""

    def __init__(self, size: int = 4) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, int, int], RunIndex] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path) -> RunIndex:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        index = build_index(path)
        with self._lock:
            self._items[key] = index
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return index
