"""The local server: Starlette routes over `Site`, security headers on every response, and the one write
endpoint guarded against cross-site requests (POST only, a per-server token, Origin and Host checks).

Bound to 127.0.0.1 by default. The Host check also refuses DNS-rebinding requests (a hostile name that
resolves to 127.0.0.1), which would otherwise be same-origin for the attacker's page."""

from __future__ import annotations

import hmac
import secrets
import threading
import webbrowser
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from plg.errors import BadInput, NotFound, PlgError
from plg.view import logs
from plg.view.links import Links
from plg.view.render import STATIC
from plg.view.runpages import GridFilters
from plg.view.site import Site, page_args

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
MAX_FORM = 1_000_000


class SecurityHeaders:
    """The CSP and friends on every response, static files and errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in HEADERS.items():
                    headers[key] = value
            await send(message)

        await self.app(scope, receive, with_headers)


def _hostname(host: str) -> str:
    return urlsplit(f"//{host}").hostname or ""


def create_app(site: Site, *, bind_host: str = "127.0.0.1", token: str | None = None) -> Starlette:
    token = token or secrets.token_urlsafe(32)
    allowed = LOOPBACK | {bind_host}
    links = Links()

    def html(body: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(body, status_code=status)

    def failure(err: PlgError) -> HTMLResponse:
        status = 404 if isinstance(err, NotFound) else 400
        return html(site.error(links, "Not found" if status == 404 else "Bad request", err.message), status)

    async def prompts_page(request: Request) -> Response:
        return html(site.prompts(links))

    async def prompt_page(request: Request) -> Response:
        q = request.query_params
        a, b = page_args(q, "a") or None, page_args(q, "b") or None
        return html(site.prompt(links, request.path_params["name"], a, b))

    async def runs_page(request: Request) -> Response:
        return html(site.runs(links))

    async def run_page(request: Request) -> Response:
        q = request.query_params
        filters = GridFilters(q.get("failing") == "1", q.get("scorer", ""), q.get("text", "").strip())
        body, _ = site.run(links, request.path_params["run"], page_args(q, "start"), filters)
        return html(body)

    async def row_page(request: Request) -> Response:
        return html(site.row(links, request.path_params["run"], request.path_params["row"]))

    async def compare_page(request: Request) -> Response:
        q = request.query_params
        if not q.get("a") or not q.get("b"):
            raise BadInput("compare needs two runs: ?a=RUN&b=RUN")
        return html(site.compare(links, q["a"], q["b"], page_args(q, "start"), q.get("changed") == "1"))

    async def logs_page(request: Request) -> Response:
        q = request.query_params
        body, _ = site.logs(links, q, page_args(q, "page", 1), csrf=token)
        return html(body)

    async def request_page(request: Request) -> Response:
        return html(site.request(links, request.path_params["id"]))

    def cross_site(request: Request) -> str | None:
        """Why this POST must be refused, or None. Browsers send Origin on every cross-origin POST."""
        host = request.headers.get("host", "")
        if _hostname(host) not in allowed:
            return f"host {host!r} is not this viewer"
        origin = request.headers.get("origin") or request.headers.get("referer")
        if not origin:
            return "no Origin header"
        parts = urlsplit(origin)
        if f"{parts.scheme}://{parts.netloc}" != f"{request.url.scheme}://{host}":
            return f"origin {parts.scheme}://{parts.netloc} is not this viewer"
        return None

    async def history_write(request: Request) -> Response:
        reason = cross_site(request)
        body = await request.body()
        if reason is None and len(body) > MAX_FORM:
            reason = "form too large"
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True) if reason is None else {}
        sent = (form.get("csrf") or [""])[0]
        if reason is None and not hmac.compare_digest(sent.encode(), token.encode()):
            reason = "missing or wrong form token (reload the page)"
        if reason is not None:
            return PlainTextResponse(f"refused: {reason}", status_code=403)
        filters = {k[2:]: v[0] for k, v in form.items() if k.startswith("f_") and v}
        name = (form.get("name") or [""])[0]
        logs.history_path(site.root, name)
        picked = logs.picked_records(site.store(), form.get("id", []), "1" in form.get("all", []), filters)
        result = logs.write_history(site.root, name, picked)
        back = "/logs" + ("?" + urlencode(filters) if filters else "")
        return html(site.written(links, result, back))

    def guard(endpoint):  # type: ignore[no-untyped-def]
        async def wrapped(request: Request) -> Response:
            host = request.headers.get("host", "")
            if _hostname(host) not in allowed:
                return PlainTextResponse(f"refused: host {host!r} is not this viewer", status_code=403)
            try:
                response = await endpoint(request)
            except PlgError as err:
                response = failure(err)
            return response

        return wrapped

    routes = [
        Route("/", guard(prompts_page)),
        Route("/prompts", guard(prompts_page)),  # the page's own name, as /runs and /logs are theirs
        Route("/prompt/{name:path}", guard(prompt_page)),
        Route("/runs", guard(runs_page)),
        Route("/run/{run}/row/{row:int}", guard(row_page)),
        Route("/run/{run}", guard(run_page)),
        Route("/compare", guard(compare_page)),
        Route("/logs", guard(logs_page)),
        Route("/request/{id}", guard(request_page)),
        Route("/history", guard(history_write), methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=str(STATIC)), name="static"),
    ]
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)])


def serve(
    repo: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8700,
    open_browser: bool = False,
    log_path: Path | None = None,
    runs_dir: Path | None = None,
) -> None:
    site = Site.open(repo, log_path, runs_dir)
    app = create_app(site, bind_host=host)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"
    print(f"plg view: serving {site.root} at {url} (Ctrl-C to stop)", flush=True)
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        site.close()
