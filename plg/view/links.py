"""Where each page lives: a URL on the server, or a file path relative to the current page in an export.

Pages never build links themselves, so one template serves both: the server's links carry query strings
(filters, pages), the export's are relative `.html` paths that open from disk with no server."""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import quote, urlencode


@dataclass(frozen=True)
class Links:
    static_site: bool = False
    depth: int = 0

    def at(self, path: str) -> Links:
        """The same links as seen from the exported file `path` (its depth decides the `../` prefix)."""
        return replace(self, depth=path.count("/"))

    def _file(self, path: str) -> str:
        return "../" * self.depth + path

    def _url(self, path: str, params: dict[str, object] | None = None) -> str:
        query = {k: v for k, v in (params or {}).items() if v not in (None, "", False, 0)}
        return path + ("?" + urlencode(query, doseq=True) if query else "")

    def home(self) -> str:
        return self._file("index.html") if self.static_site else "/"

    def static(self, name: str) -> str:
        return self._file(f"static/{name}") if self.static_site else f"/static/{quote(name)}"

    def prompt(self, name: str, a: int | None = None, b: int | None = None) -> str:
        if self.static_site:
            return self._file(f"prompt/{quote(name)}.html")
        return self._url(f"/prompt/{quote(name)}", {"a": a, "b": b})

    def runs(self) -> str:
        return self._file("runs.html") if self.static_site else "/runs"

    def run(self, run_id: str, start: int = 0, **filters: object) -> str:
        if self.static_site:
            return self._file(f"run/{quote(run_id)}" + (f"-{start}" if start else "") + ".html")
        return self._url(f"/run/{quote(run_id)}", {"start": start, **filters})

    def row(self, run_id: str, row: int) -> str:
        if self.static_site:
            return self._file(f"run/{quote(run_id)}/row-{row}.html")
        return f"/run/{quote(run_id)}/row/{row}"

    def compare(self, a: str, b: str, start: int = 0, changed: bool = False) -> str:
        return self._url("/compare", {"a": a, "b": b, "start": start, "changed": int(changed)})

    def logs(self, page: int = 1, filters: dict[str, str] | None = None) -> str:
        if self.static_site:
            return self._file("logs.html" if page <= 1 else f"logs-{page}.html")
        return self._url("/logs", {**(filters or {}), "page": page if page > 1 else None})

    def request(self, request_id: str) -> str:
        if self.static_site:
            return self._file(f"request/{quote(request_id)}.html")
        return f"/request/{quote(request_id)}"

    def history_write(self) -> str:
        return "/history"
