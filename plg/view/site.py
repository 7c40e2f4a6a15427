"""The pages as HTML strings from plain arguments: the server and the static export render through here, so
both show the same thing and only the links differ."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plg import config
from plg.errors import NotFound
from plg.log.store import SQLiteLogStore
from plg.registry.versions import Registry
from plg.view import logs, prompts, runpages
from plg.view.links import Links
from plg.view.render import render
from plg.view.runindex import IndexCache
from plg.view.runsummary import run_summary


@dataclass
class Site:
    """The repository and its local data, opened once for the life of a server or an export."""

    root: Path
    log_path: Path
    runs_dir: Path
    cache: IndexCache = field(default_factory=IndexCache)
    _store: SQLiteLogStore | None = None

    @classmethod
    def open(cls, repo: str | Path, log_path: Path | None = None, runs_dir: Path | None = None) -> Site:
        registry = Registry(repo)
        root = registry.root
        return cls(root, log_path or config.log_path(root), runs_dir or config.runs_dir(root))

    def registry(self) -> Registry:
        """A fresh registry per page: commits and label moves made while the viewer runs show up."""
        return Registry(self.root)

    def store(self) -> SQLiteLogStore:
        """Opened on first use; a missing log is reported, not created, so browsing writes nothing."""
        if self._store is None:
            if not self.log_path.is_file():
                raise NotFound(f"no request log at {self.log_path} (the SDK writes it: plg.Client(...).run)")
            self._store = SQLiteLogStore(self.log_path)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    # -- pages ------------------------------------------------------------------------------------
    def prompts(self, links: Links) -> str:
        return render("prompts.html", links, rows=prompts.prompt_rows(self.registry()))

    def prompt(self, links: Links, name: str, a: int | None = None, b: int | None = None) -> str:
        page = prompts.prompt_page(self.registry(), name, a, b)
        return render("prompt.html", links, page=page)

    def runs(self, links: Links) -> str:
        return render("runs.html", links, runs=runpages.run_listing(self.runs_dir))

    def run(
        self,
        links: Links,
        run_id: str,
        start: int = 0,
        filters: runpages.GridFilters | None = None,
        exported: frozenset[int] = frozenset(),
    ) -> tuple[str, runpages.GridPage]:
        index = runpages.open_run(self.cache, self.runs_dir, run_id)
        page = runpages.grid_page(index, start, filters)
        summary = run_summary(index.path, index.header.models)
        return render("run.html", links, page=page, summary=summary, exported=exported), page

    def row(self, links: Links, run_id: str, number: int) -> str:
        index = runpages.open_run(self.cache, self.runs_dir, run_id)
        header, cells = runpages.row_detail(index, number)
        return render("row.html", links, header=header, number=number, cells=cells)

    def compare(self, links: Links, a: str, b: str, start: int = 0, changed: bool = False) -> str:
        left = runpages.open_run(self.cache, self.runs_dir, a)
        right = runpages.open_run(self.cache, self.runs_dir, b)
        return render("compare.html", links, page=runpages.compare_page(left, right, start, changed))

    def logs(
        self, links: Links, params: Mapping[str, str], page: int = 1, csrf: str = "", exported_pages: int = 0
    ) -> tuple[str, logs.LogPage]:
        if self.log_path.is_file():
            data = logs.log_page(self.store(), params, page)
        else:
            data = logs.LogPage((), 0, False, 1, 1, False, logs.filter_values(params))
        html = render("logs.html", links, page=data, csrf=csrf, exported_pages=exported_pages)
        return html, data

    def request(self, links: Links, request_id: str) -> str:
        record, bars = logs.request_detail(self.store(), request_id)
        return render("request.html", links, r=record, bars=bars)

    def error(self, links: Links, title: str, message: str) -> str:
        return render("error.html", links, title=title, message=message)

    def written(self, links: Links, result: logs.Written, back: str) -> str:
        return render("written.html", links, result=result, back=back)


def page_args(params: Mapping[str, Any], key: str, default: int = 0) -> int:
    try:
        return max(0, int(params.get(key) or default))
    except (TypeError, ValueError):
        return default
