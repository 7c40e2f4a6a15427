"""Filters over the request log, and the parsing of what people type for them (`--since 7d`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from plg.errors import BadInput

_WORDS = re.compile(r"\w+")
_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(value: str, flag: str = "--since") -> datetime:
    text = value.strip()
    match = _RELATIVE.match(text)
    if match:
        try:
            return datetime.now(timezone.utc) - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        except (OverflowError, ValueError):
            raise BadInput(f"{flag} {value!r}: reaches before the year 1 (give a shorter span or a date)") from None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(
            f"{flag} {value!r}: expected 7d, 12h, 30m, a date (2026-11-01) or an ISO time"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class LogQuery:
    prompt: str | None = None
    label: str | None = None
    version: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    tags: tuple[str, ...] = ()
    meta: dict[str, str] = field(default_factory=dict)
    search: str | None = None
    min_score: float | None = None
    limit: int | None = None
    offset: int = 0
    errors_only: bool = False
    with_output_only: bool = False

    def search_words(self) -> list[str]:
        """`--search` matches these words as a phrase, the last one as a prefix; with no word characters
        at all it falls back to a substring match."""
        return _WORDS.findall(self.search or "")

    def where_sql(self) -> tuple[str, list[Any]]:
        """The filter as SQLite SQL (PostgreSQL builds its own over its own columns)."""
        clauses: list[str] = []
        args: list[Any] = []
        for column, value in (("prompt", self.prompt), ("label", self.label), ("version", self.version)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        if self.since is not None:
            clauses.append("time >= ?")
            args.append(self.since.timestamp())
        if self.until is not None:
            clauses.append("time < ?")
            args.append(self.until.timestamp())
        for tag in self.tags:
            clauses.append("seq IN (SELECT seq FROM request_tags WHERE tag = ?)")
            args.append(tag)
        for key, value in self.meta.items():
            clauses.append("seq IN (SELECT seq FROM request_metadata WHERE key = ? AND value = ?)")
            args += [key, value]
        if self.min_score is not None:
            clauses.append("seq IN (SELECT seq FROM request_scores WHERE score >= ?)")
            args.append(self.min_score)
        if self.errors_only:
            clauses.append("error IS NOT NULL")
        if self.with_output_only:
            clauses.append("error IS NULL AND output IS NOT NULL")
        if self.search:
            words = self.search_words()
            if words:
                clauses.append("seq IN (SELECT rowid FROM requests_fts WHERE requests_fts MATCH ?)")
                args.append('"' + " ".join(words) + '" *')
            else:
                clauses.append("(input_variables || messages || coalesce(output, '')) LIKE ?")
                args.append(f"%{self.search}%")
        return (" AND ".join(clauses) or "1"), args
