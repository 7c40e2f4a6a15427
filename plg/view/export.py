"""`plg view --export DIR`: the same pages as files that open from disk (relative links, no server, no
script), for a CI artifact. Dynamic views that need a query (filters, any-two-version diffs, run
comparisons, the write action) are left out; long runs and logs are cut at a page budget."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from plg.errors import PlgError
from plg.view.links import Links
from plg.view.render import STATIC
from plg.view.runpages import PAGE_ROWS
from plg.view.site import Site

MAX_RUN_PAGES = 20
MAX_LOG_PAGES = 20


@dataclass(frozen=True)
class Exported:
    directory: Path
    pages: int
    skipped: tuple[str, ...]


def export_site(site: Site, directory: Path, max_runs: int = 50) -> Exported:
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copytree(STATIC, directory / "static", dirs_exist_ok=True)
    base = Links(static_site=True)
    written = 0
    skipped: list[str] = []

    def write(path: str, html: str) -> None:
        nonlocal written
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(html, encoding="utf-8")
        written += 1

    write("index.html", site.prompts(base.at("index.html")))
    for name in site.registry().list():
        path = f"prompt/{name}.html"
        try:
            write(path, site.prompt(base.at(path), name))
        except PlgError as err:
            skipped.append(f"{name}: {err.message}")
    write("runs.html", site.runs(base.at("runs.html")))
    from plg.view.runpages import run_listing

    for listing in run_listing(site.runs_dir, max_runs):
        run_id = listing.header.run_id
        starts = frozenset(range(0, MAX_RUN_PAGES * PAGE_ROWS, PAGE_ROWS))
        for start in sorted(starts):
            path = f"run/{run_id}" + (f"-{start}" if start else "") + ".html"
            html, page = site.run(base.at(path), run_id, start, exported=starts)
            write(path, html)
            for row in page.rows:
                row_path = f"run/{run_id}/row-{row.index + 1}.html"
                write(row_path, site.row(base.at(row_path), run_id, row.index + 1))
            if page.next_start is None:
                break
        else:
            skipped.append(f"run {run_id}: only the first {MAX_RUN_PAGES * PAGE_ROWS} rows exported")
    for number in range(1, MAX_LOG_PAGES + 1):
        path = "logs.html" if number == 1 else f"logs-{number}.html"
        html, data = site.logs(base.at(path), {}, number, exported_pages=MAX_LOG_PAGES)
        write(path, html)
        for record in data.records:
            request_path = f"request/{record.id}.html"
            write(request_path, site.request(base.at(request_path), record.id))
        if not data.has_more:
            break
    return Exported(directory, written, tuple(skipped))
