"""`AsyncPromptLayer`: `PromptLayer` with every method awaitable.

Requests go through `Client.acall`/`astream`; template reads and publishing (git work) run in a worker
thread so they never block the event loop; log writes are short SQLite transactions and run inline.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

from plg.errors import PlgError
from plg.promptlayer import shapes as bp
from plg.promptlayer.errors import translate
from plg.promptlayer.sync_client import (
    PromptLayer,
    Templates,
    _chunk,
    _GuardedTrack,
    _run_response,
    request_number,
)
from plg.runtime.track import Group


class _AsyncTemplates:
    def __init__(self, templates: Templates) -> None:
        self._templates = templates

    async def get(self, prompt_name: str, params: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        return await asyncio.to_thread(self._templates.get, prompt_name, params)

    async def all(self, page: int = 1, per_page: int = 30, label: str | None = None) -> list[dict[str, Any]] | None:
        return await asyncio.to_thread(self._templates.all, page, per_page, label)

    async def publish(self, body: Mapping[str, Any]) -> dict[str, Any] | None:
        return await asyncio.to_thread(self._templates.publish, body)

    def invalidate(self, prompt_name: str | None = None) -> None:
        """Synchronous, as in PromptLayer's async client: it only drops cached answers."""
        self._templates.invalidate(prompt_name)


class _AsyncTrack:
    def __init__(self, track: _GuardedTrack) -> None:
        self._track = track

    async def prompt(self, request_id: str | int, prompt_name: str, prompt_input_variables: Mapping[str, Any],
                     version: int | None = None, label: str | None = None) -> bool | None:
        return self._track.prompt(request_id, prompt_name, prompt_input_variables, version, label)

    async def metadata(self, request_id: str, metadata: Mapping[str, str]) -> bool | None:
        return self._track.metadata(request_id, metadata)

    async def score(self, request_id: str, score: int, score_name: str | None = None) -> bool | None:
        return self._track.score(request_id, score, score_name)

    async def group(self, request_id: str, group_id: int) -> bool | None:
        return self._track.group(request_id, group_id)


class _AsyncGroup:
    async def create(self) -> int:
        return Group().create()


class AsyncPromptLayer(PromptLayer):
    """Every method awaitable; `await run(..., stream=True)` gives an async iterator of chunks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.templates = _AsyncTemplates(self.templates)  # type: ignore[assignment]
        self.track = _AsyncTrack(self.track)  # type: ignore[assignment]
        self.group = _AsyncGroup()  # type: ignore[assignment]

    async def run(  # type: ignore[override]
        self,
        prompt_name: str,
        prompt_version: int | None = None,
        prompt_release_label: str | None = None,
        input_variables: dict[str, Any] | None = None,
        model_parameter_overrides: dict[str, Any] | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, str] | None = None,
        group_id: int | None = None,
        stream: bool = False,
        provider: str | None = None,
        model: str | None = None,
    ) -> Any:
        args = self._run_args(prompt_name, prompt_version, prompt_release_label, input_variables,
                              model_parameter_overrides, tags, metadata, group_id, provider, model)
        if stream:
            return self._astream(args)
        try:
            return _run_response(await self.client.acall(**args), self.client)
        except PlgError as err:
            raise translate(err) from None

    async def _astream(self, args: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        last: Any = None
        async for event in self.client.astream(**args):
            if event.outcome is None:
                last = bp.attr_wrap(event.piece.raw) if isinstance(event.piece.raw, dict) else event.piece.raw
                yield _chunk(event, last)
            else:
                yield {"request_id": request_number(self.client, event.outcome.request_id), "raw_response": last,
                       "prompt_blueprint": _chunk(event, last)["prompt_blueprint"]}

    async def log_request(self, **kwargs: Any) -> dict[str, Any] | None:  # type: ignore[override]
        return await asyncio.to_thread(super().log_request, **kwargs)
