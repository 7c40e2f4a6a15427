"""A stand-in for the GitHub REST API on 127.0.0.1: issue comments and pull requests, repository rulesets
and environments (read only, as `plg doctor` reads them), every request recorded, writes refused with 403
when told to (what a fork's read-only token gets)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

TOKEN = "ghs_loopbacktoken0123456789abcdefABCDEF"


@dataclass
class Recorded:
    method: str
    path: str
    body: Any
    authorization: str | None


@dataclass
class LoopbackGitHub:
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    pulls: list[dict[str, Any]] = field(default_factory=list)
    rulesets: list[dict[str, Any]] = field(default_factory=list)
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    read_only: bool = False
    fail_next: list[int] = field(default_factory=list)
    _next_id: int = 1000
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/v3"

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method in ("POST", "PATCH")]

    def handle(self, method: str, raw_path: str, body: Any, auth: str | None) -> tuple[int, Any]:
        with self._lock:
            self.requests.append(Recorded(method, raw_path, body, auth))
            if self.fail_next:
                return self.fail_next.pop(0), {"message": "injected"}
            if auth != f"Bearer {TOKEN}":
                return 401, {"message": "Bad credentials"}
            url = urlparse(raw_path)
            parts = url.path.removeprefix("/api/v3").strip("/").split("/")
            query = parse_qs(url.query)
            if method in ("POST", "PATCH") and self.read_only:
                return 403, {"message": "Resource not accessible by integration"}
            if parts[:1] == ["repos"] and len(parts) >= 5 and parts[3] == "issues":
                if parts[4] == "comments" and method == "PATCH":
                    comment_id = int(parts[5])
                    for comments in self.comments.values():
                        for comment in comments:
                            if comment["id"] == comment_id:
                                comment["body"] = body["body"]
                                return 200, comment
                    return 404, {"message": "Not Found"}
                number = int(parts[4])
                if method == "GET":
                    page = int(query.get("page", ["1"])[0])
                    per_page = int(query.get("per_page", ["30"])[0])
                    items = self.comments.get(number, [])
                    return 200, items[(page - 1) * per_page : page * per_page]
                if method == "POST":
                    self._next_id += 1
                    comment = {
                        "id": self._next_id,
                        "body": body["body"],
                        "html_url": f"https://github.test/pr/{number}#c{self._next_id}",
                    }
                    self.comments.setdefault(number, []).append(comment)
                    return 201, comment
            if parts[:1] == ["repos"] and len(parts) == 4 and parts[3] == "pulls" and method == "GET":
                return 200, self.pulls
            if parts[:1] == ["repos"] and len(parts) >= 4 and parts[3] == "rulesets" and method == "GET":
                if len(parts) == 4:
                    keys = ("id", "name", "target", "enforcement")
                    return 200, [{k: r[k] for k in keys if k in r} for r in self.rulesets]
                found = [r for r in self.rulesets if str(r["id"]) == parts[4]]
                return (200, found[0]) if found else (404, {"message": "Not Found"})
            if parts[:1] == ["repos"] and len(parts) == 5 and parts[3] == "environments" and method == "GET":
                if parts[4] in self.environments:
                    return 200, {"name": parts[4], **self.environments[parts[4]]}
                return 404, {"message": "Not Found"}
            return 404, {"message": "Not Found"}

    def __enter__(self) -> LoopbackGitHub:
        github = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                status, reply = github.handle(
                    self.command, self.path, body, self.headers.get("Authorization")
                )
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = _serve  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@pytest.fixture
def github_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackGitHub]:
    with LoopbackGitHub() as server:
        monkeypatch.setenv("GITHUB_API_URL", server.url)
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        yield server
