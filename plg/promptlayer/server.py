"""`plg serve`: PromptLayer's REST API over HTTP (Starlette, uvicorn), so PromptLayer's own Python and
JavaScript SDKs run against plg by changing only their base URL.

This module parses, checks the API key and its scope, and maps plg's errors to PromptLayer's status
codes and error body (`{"success": false, "message": ...}`); `service.PromptLayerService` answers. A
missing prompt is 404, never a 5xx: both SDKs retry 5xx with 2/4/8 s waits. Handlers are `async` and
run the service inline (memory reads and one short SQLite transaction), so a request never waits for a
thread; git work (`publish`) goes to a worker thread. Keys are never logged: uvicorn's access log is off.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from plg.errors import BadInput, NotFound, OutsideFailure, PlgError
from plg.promptlayer.access import Keys
from plg.promptlayer.litellm_prompts import litellm_prompt
from plg.promptlayer.otlp_in import read_spans, spans_from_bulk
from plg.promptlayer.publish import publish
from plg.promptlayer.service import PromptLayerService

Handler = Callable[[Request, dict[str, Any]], Awaitable[Any]]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"success": False, "message": message, "error": message}, status_code=status)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise BadInput("the request body is not JSON") from None
    if not isinstance(body, dict):
        raise BadInput("the request body must be a JSON object")
    return body


def create_app(service: PromptLayerService, keys: Keys) -> Starlette:
    def endpoint(scope: str, handler: Handler, status: int = 200, json_body: bool = True) -> Callable[..., Any]:
        async def run(request: Request) -> Response:
            try:
                body = await _body(request) if json_body else {}
                bearer = request.headers.get("authorization", "")
                key = request.headers.get("x-api-key") or body.get("api_key") or (
                    bearer[7:].strip() if bearer[:7].lower() == "bearer " else None)
                scopes = keys.scopes(key if isinstance(key, str) else None)
                if scopes is None:
                    return _error(401, "Invalid or missing API key (send it as the X-API-KEY header)")
                if scope not in scopes:
                    return _error(403, f"This API key may not {scope} (its scopes: {', '.join(sorted(scopes))})")
                body.pop("api_key", None)
                result = await handler(request, body)
            except NotFound as err:
                return _error(404, err.message)
            except BadInput as err:
                return _error(400, err.message)
            except OutsideFailure as err:
                return _error(503, err.message)
            except PlgError as err:
                return _error(400, err.message)
            except (TypeError, ValueError, KeyError, AttributeError) as err:
                # a body of the wrong shape is the caller's error: a 5xx would be retried three times
                return _error(400, f"malformed request: {type(err).__name__}: {err}")
            if isinstance(result, Response):
                return result
            return JSONResponse(result, status_code=status)

        return run

    async def get_template(request: Request, body: dict[str, Any]) -> Any:
        return service.get_template(request.path_params["name"], body)

    async def list_templates(request: Request, body: dict[str, Any]) -> Any:
        q = request.query_params
        try:
            page, per_page = int(q.get("page", 1)), int(q.get("per_page", 30))
        except ValueError:
            raise BadInput("page and per_page must be integers") from None
        return service.list_templates(page, per_page, q.get("label") or None)

    async def publish_template(request: Request, body: dict[str, Any]) -> Any:
        return await asyncio.to_thread(publish, service, body)

    async def traces(request: Request, body: dict[str, Any]) -> Any:
        spans = read_spans(await request.body(), request.headers.get("content-type", ""),
                           request.headers.get("content-encoding", ""))
        service.ingest_spans(spans)
        if "json" in request.headers.get("content-type", ""):
            return {"partialSuccess": {}}
        return Response(b"", media_type="application/x-protobuf")

    async def litellm(request: Request, body: dict[str, Any]) -> Any:
        q = request.query_params
        return litellm_prompt(service, q.get("prompt_id"), q.get("label") or q.get("prompt_label"),
                              q.get("version") or q.get("prompt_version"))

    async def spans_bulk(request: Request, body: dict[str, Any]) -> Any:
        return {"success": True, "spans": service.ingest_spans(spans_from_bulk(body))}

    def call(method: Callable[[dict[str, Any]], Any]) -> Handler:
        async def handler(request: Request, body: dict[str, Any]) -> Any:
            return method(body)

        return handler

    async def create_group(request: Request, body: dict[str, Any]) -> Any:
        return service.create_group()

    async def traces_auth(request: Request) -> Response:
        return await endpoint("log", traces, json_body=False)(request)

    routes = [
        Route("/prompt-templates", endpoint("read", list_templates), methods=["GET"]),
        Route("/prompt-templates/{name:path}", endpoint("read", get_template), methods=["POST", "GET"]),
        Route("/rest/prompt-templates", endpoint("publish", publish_template, 201), methods=["POST"]),
        Route("/track-request", endpoint("log", call(service.track_request)), methods=["POST"]),
        Route("/log-request", endpoint("log", call(service.log_request), 201), methods=["POST"]),
        Route("/library-track-score", endpoint("log", call(service.track_score)), methods=["POST"]),
        Route("/library-track-metadata", endpoint("log", call(service.track_metadata)), methods=["POST"]),
        Route("/library-track-prompt", endpoint("log", call(service.track_prompt)), methods=["POST"]),
        Route("/track-group", endpoint("log", call(service.track_group)), methods=["POST"]),
        Route("/create-group", endpoint("log", create_group), methods=["POST"]),
        Route("/v1/traces", traces_auth, methods=["POST"]),
        Route("/spans-bulk", endpoint("log", spans_bulk), methods=["POST"]),
        Route("/beta/litellm_prompt_management", endpoint("read", litellm), methods=["GET"]),
    ]
    return Starlette(routes=routes)


def run_server(service: PromptLayerService, keys: Keys, host: str, port: int) -> None:
    """Serve until interrupted; the access log is off so no header or key is ever written."""
    app = create_app(service, keys)
    print(f"plg serve: PromptLayer's API at http://{host}:{port} ({len(keys)} key(s); Ctrl-C to stop)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
