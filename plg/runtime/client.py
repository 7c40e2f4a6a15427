"""The runtime SDK: PromptLayer-shaped `Client.run()` over the git registry, logging every request.

Where prompts come from is a source (`plg.runtime.sources`: a checkout or a followed remote;
`plg.runtime.bundle`: a lock file); every source answers from memory on the hot path and keeps the last
good version serving when it cannot re-check.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from plg.config import check_request_params
from plg.errors import BadInput, ModelCallError
from plg.log.records import RequestRecord, check_metadata
from plg.registry.versions import PromptVersion
from plg.runtime.calls import Call, Outcome, response
from plg.runtime.streams import Streaming
from plg.runtime.track import GROUP_KEY, Group, Track
from plg.tracing import spans as tracing
from plg.tracing.tracer import TraceBuffer, Tracer

logger = logging.getLogger("plg.runtime.client")
_UNTRACED: AbstractContextManager[None] = nullcontext()


class Client(Streaming):
    """The SDK: `run`/`arun` (plg's response shape), `call`/`acall`/`stream`/`astream` (the request path
    every shape is built from), `track`, `group`, `log_call`, tracing."""

    def __init__(
        self,
        repo: str | Path | None = None,
        log: str | Path | Any | None = None,
        label_ttl: float | None = None,
        timeout: float | None = None,
        max_attempts: int | None = None,
        use_cache: bool = False,
        enable_tracing: bool = False,
        bundle: str | Path | None = None,
    ) -> None:
        self._resolver = _open_source(repo, bundle, label_ttl)
        self._traces = TraceBuffer(self._write_trace)
        self._tracer = Tracer(self._traces, enabled=enable_tracing)
        self._log_arg = log
        self._log: Any = None
        self._model_client: Any = None
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._use_cache = use_cache
        self.track = Track(lambda: self.log)
        self.group = Group()

    @property
    def root(self) -> Path:
        return self._resolver.root

    def invalidate(self, prompt_name: str | None = None) -> None:
        """Drop cached label answers (one prompt's or all) so the next request re-reads them."""
        self._resolver.invalidate(prompt_name)

    def close(self) -> None:
        """Stop following a remote (the background refresher) and flush spans."""
        self._resolver.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def log(self) -> Any:
        if self._log is None:
            from plg import config as plg_config
            from plg.log.store import open_log

            location = self._log_arg
            if location is None and not getattr(self._resolver, "has_checkout", False):
                location = plg_config.log_location(None)  # no checkout: no settings file to read
            self._log = open_log(location, self.root, background=True)
        return self._log

    def log_health(self) -> Any:
        """How the request log is doing (`plg.log.health.LogHealth`): whether writes succeed, how many
        rows were dropped or kept in the spill file because they did not. A request never fails for it."""
        from plg.log.health import LogHealth

        health = getattr(self.log, "health", None)
        if health is None:
            return LogHealth(True, 0, 0, None, str(self.log))
        return health.snapshot()

    @property
    def models(self) -> Any:
        if self._model_client is None:
            from plg.llm.provider import open_client

            self._model_client = open_client(
                self.root, 16, use_cache=self._use_cache, timeout=self._timeout, max_attempts=self._max_attempts
            )
        return self._model_client

    @property
    def traceable(self) -> Any:
        """`@client.traceable` / `@client.traceable(name=..., attributes=..., metadata=...)`."""
        return self._tracer.traceable

    def span(self, name: str, attributes: Mapping[str, Any] | None = None) -> Any:
        """`with client.span("step") as span:` for a block of code (recorded only with tracing on)."""
        return self._tracer.block(name, attributes)

    def _write_trace(self, spans: list[tracing.Span], records: list[RequestRecord]) -> None:
        """Requests go with their spans in one transaction, and a failure is raised as it is without
        tracing. Spans alone must not break the application: if they cannot be written they are logged
        and dropped."""
        if records:
            self.log.write(records, spans)
            return
        try:
            self.log.insert_spans(spans)
        except Exception as err:  # noqa: BLE001
            logger.warning("plg: cannot write %d span(s): %s", len(spans), err)

    def _request_span(self, attributes: Mapping[str, Any]) -> AbstractContextManager[tracing.ActiveSpan | None]:
        """The `plg.run` span of one request. When it ends, the request row and the spans its trace has
        so far are written together, even when the trace goes on (a request inside `@traceable` code)."""
        if not self._tracer.enabled:
            return _UNTRACED
        return self._traced_request(attributes)

    @contextmanager
    def _traced_request(self, attributes: Mapping[str, Any]) -> Iterator[tracing.ActiveSpan | None]:
        active = None
        try:
            with self._tracer.span("plg.run", attributes, kind="client") as active:
                yield active
        finally:
            if active is not None:
                self._traces.flush(active.trace_id)

    def get_prompt(
        self, prompt_name: str, label: str | None = None, version: int | None = None
    ) -> PromptVersion:
        return self._resolver.resolve(prompt_name, label, version)

    def _prepare(
        self,
        prompt_name: str,
        input_variables: Mapping[str, Any] | None,
        label: str | None,
        version: int | None,
        model: str | None,
        params: Mapping[str, Any] | None,
        tags: list[str] | None,
        metadata: Mapping[str, str] | None,
        request_span: tracing.ActiveSpan | None,
        group_id: int | None = None,
    ) -> Call:
        if label is not None and version is not None:
            raise BadInput("give prompt_release_label or prompt_version, not both")
        check_metadata(metadata or {})
        with tracing.child_span("prompt.render") as step:
            pv = self.get_prompt(prompt_name, label, version)
            if pv.label is None and label is not None:
                pv = PromptVersion(**{**pv.__dict__, "label": label})
            check_request_params(pv.params, pv.file.where, self.root)  # the prompt names no host for the key
            variables = dict(input_variables or {})
            messages = [m.to_dict() for m in pv.render(variables)]
            if step is not None:
                step.set_attributes({"version": pv.version, "label": pv.label, "messages": len(messages)})
        inherited = request_span.inherited_attributes() if request_span is not None else {}
        grouped = {GROUP_KEY: str(group_id)} if group_id is not None else {}
        return Call(
            version=pv,
            messages=messages,
            model=model or pv.model,
            params={**pv.params, **(params or {})},
            variables=variables,
            tags=tuple(tags or ()),
            metadata={**tracing.metadata_from_attributes(inherited), **(metadata or {}), **grouped},
            started=time.perf_counter(),
            span=request_span,
        )

    def run(
        self,
        prompt_name: str,
        input_variables: Mapping[str, Any] | None = None,
        prompt_release_label: str | None = None,
        prompt_version: int | None = None,
        model: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: list[str] | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        return response(
            self.call(
                prompt_name, input_variables, prompt_release_label, prompt_version, model, params, tags, metadata
            )
        )

    async def arun(
        self,
        prompt_name: str,
        input_variables: Mapping[str, Any] | None = None,
        prompt_release_label: str | None = None,
        prompt_version: int | None = None,
        model: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: list[str] | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        return response(
            await self.acall(
                prompt_name, input_variables, prompt_release_label, prompt_version, model, params, tags, metadata
            )
        )

    def call(
        self,
        prompt_name: str,
        input_variables: Mapping[str, Any] | None = None,
        label: str | None = None,
        version: int | None = None,
        model: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: list[str] | None = None,
        metadata: Mapping[str, str] | None = None,
        group_id: int | None = None,
    ) -> Outcome:
        """Resolve, render, call the model, log: the one request path every response shape is built from."""
        with self._request_span({"prompt": prompt_name}) as active:
            call = self._prepare(
                prompt_name, input_variables, label, version, model, params, tags, metadata, active, group_id
            )
            try:
                completion = self.models.complete(call.model, call.messages, call.params)
            except ModelCallError as err:
                self._failed(call, err)
                raise
            return self._succeeded(call, completion)

    async def acall(
        self,
        prompt_name: str,
        input_variables: Mapping[str, Any] | None = None,
        label: str | None = None,
        version: int | None = None,
        model: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: list[str] | None = None,
        metadata: Mapping[str, str] | None = None,
        group_id: int | None = None,
    ) -> Outcome:
        with self._request_span({"prompt": prompt_name}) as active:
            call = self._prepare(
                prompt_name, input_variables, label, version, model, params, tags, metadata, active, group_id
            )
            try:
                completion = await self.models.acomplete(call.model, call.messages, call.params)
            except ModelCallError as err:
                self._failed(call, err)
                raise
            return self._succeeded(call, completion)

    def log_call(
        self,
        *,
        model: str,
        messages: list[dict[str, Any]],
        output: str | None,
        latency_s: float | None,
        started_at: float | None = None,
        params: Mapping[str, Any] | None = None,
        prompt_name: str | None = None,
        version: int | None = None,
        label: str | None = None,
        input_variables: Mapping[str, Any] | None = None,
        tags: list[str] | None = None,
        metadata: Mapping[str, str] | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        cost: float | None = None,
        error: str | None = None,
    ) -> str:
        """Log a request made outside `run` (another client, another provider); returns its request id."""
        check_metadata(metadata or {})
        fields: dict[str, Any] = {}
        if started_at is not None:
            fields["time"] = started_at
        record = RequestRecord.new(
            prompt_name=prompt_name,
            version=version,
            commit=None,
            label=label,
            model=model,
            params=dict(params or {}),
            input_variables=dict(input_variables or {}),
            messages=list(messages),
            output=output,
            error=error,
            latency_s=latency_s,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost=cost,
            tags=tuple(tags or ()),
            metadata=dict(metadata or {}),
            **fields,
        )
        self.log.insert(record)
        return record.id

    def _record(self, call: Call, **outcome: Any) -> RequestRecord:
        """Untraced, the row is written now; traced, it is held and written with the request's spans
        when its `plg.run` span ends (see `_request_span`)."""
        record = call.record(**outcome)
        if call.span is None:
            self.log.insert(record)
        else:
            call.span.set_attributes({"plg.request_id": record.id, "version": record.version, "label": record.label})
            self._traces.hold(call.span.trace_id, call.span.span_id, record)
        return record

    def _failed(self, call: Call, err: ModelCallError, partial: str | None = None) -> None:
        record = self._record(
            call, output=partial, error=err.message, latency_s=time.perf_counter() - call.started
        )
        err.request_id = record.id

    def _succeeded(self, call: Call, completion: Any) -> Outcome:
        record = self._record(
            call,
            output=completion.text,
            error=None,
            latency_s=completion.latency_s,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            cost=completion.cost,
        )
        return Outcome(record.id, call.version, call.messages, call.model, call.params, call.variables, completion)


def _open_source(repo: str | Path | None, bundle: str | Path | None, label_ttl: float | None) -> Any:
    """A local checkout, a followed remote (`repo` or PLG_REPO as a URL), or a bundle file."""
    if bundle is not None:
        if repo is not None:
            raise BadInput("give repo or bundle, not both")
        from plg.runtime.bundle import BundleSource

        return BundleSource(bundle)
    from plg.runtime.sources import open_source

    return open_source(repo if repo is not None else os.environ.get("PLG_REPO", "."), label_ttl)
