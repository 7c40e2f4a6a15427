"""`PromptLayer` and `AsyncPromptLayer`: PromptLayer's Python SDK, served from the git registry.

A thin skin over `Client`: the constructor, method names, argument order and response shapes follow
PromptLayer's SDK (1.5.x) so code written for it runs with only the import changed; every request goes
through `Client.call`/`stream`, the same path `Client.run` uses. What needs PromptLayer's server
(`run_workflow`, `evals`, `tables`, `skills`, the `openai`/`anthropic` proxies, `tracer_provider`) raises
`PromptLayerUnsupportedError` naming plg's way to do the same.

Constructor arguments with no meaning without that server are accepted and kept as PromptLayer's
attributes (`pl.api_key`, `pl.base_url`, sent nowhere); `tracing_providers` is accepted too. Request
ids are the log's integer row ids, as PromptLayer's are (a string id only while the row is not yet
written: a PostgreSQL log's background queue). Template answers come from `service`, as `plg serve`'s do. `cache_ttl_seconds` is the label TTL (how long a label's answer is reused before
it is re-checked; default plg's 5 s). `throw_on_error=False` turns errors of `templates.*`, `track.*`
and `log_request` into a logged warning and a `None` result, as PromptLayer does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from plg.errors import BadInput, PlgError
from plg.promptlayer import shapes as bp
from plg.promptlayer.errors import guarded, translate, unsupported
from plg.promptlayer.service import PromptLayerService
from plg.runtime.calls import Outcome
from plg.runtime.client import Client
from plg.runtime.track import GROUP_KEY, Group, Track

_PROXY = (
    "call the provider with its own client and log the call with pl.log_request(...), or keep the prompt in "
    "the registry and call pl.run"
)


class Templates:
    """`templates.get/all/publish/invalidate`."""

    def __init__(self, client: Client, throw_on_error: bool) -> None:
        self._client = client
        self._throw = throw_on_error
        # the same answers as `plg serve` gives: one implementation of PromptLayer's template shapes
        self._service = PromptLayerService(client._resolver, None)

    @guarded
    def get(self, prompt_name: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self._service.get_template(prompt_name, dict(params or {}))

    @guarded
    def all(self, page: int = 1, per_page: int = 30, label: str | None = None) -> list[dict[str, Any]]:
        return self._service.list_templates(page, per_page, label)["items"]

    @guarded
    def publish(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Write the prompt file and commit it as a new version in the local checkout; never pushes."""
        from plg.runtime.sources import LocalSource, RemoteSource

        source = self._client._resolver
        if not isinstance(source, LocalSource) or isinstance(source, RemoteSource):
            raise BadInput("templates.publish needs a local checkout (Client(repo=PATH)); it commits, never pushes")
        name, text, message = bp.publish_text(body)
        registry = source.registry
        path = registry.prompt_path(name)
        target = registry.root / path
        before = target.read_bytes() if target.exists() else None
        if before != text.encode():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            try:
                registry.store.commit_paths([path], message)
            except PlgError:
                if before is None:
                    target.unlink()
                else:
                    target.write_bytes(before)
                raise
        registry.forget_history()
        source.invalidate(name)
        pv = registry.latest(name)
        shown = bp.blueprint(pv, None, commit_message=message)
        return {
            "id": bp.prompt_id(name),
            "prompt_name": name,
            "prompt_version_id": pv.version,
            "version_number": pv.version,
            "commit": pv.commit,
            "tags": shown["tags"],
            "release_labels": None,
            "prompt_template": shown["prompt_template"],
            "metadata": shown["metadata"],
            "commit_message": message,
            "llm_kwargs": shown["llm_kwargs"],
        }

    def invalidate(self, prompt_name: str | None = None) -> None:
        self._client.invalidate(prompt_name)


class _GuardedTrack:
    def __init__(self, track: Track, throw_on_error: bool, client: Client | None = None) -> None:
        self._track = track
        self._throw = throw_on_error
        self._client = client

    @guarded
    def prompt(self, request_id: str | int, prompt_name: str, prompt_input_variables: Mapping[str, Any],
               version: int | None = None, label: str | None = None) -> bool:
        """A label is resolved to the version it names now, and that version's commit replaces the
        request's: its inputs are never kept against another version's commit."""
        if self._client is None:
            return self._track.prompt(request_id, prompt_name, prompt_input_variables, version, label)  # type: ignore[arg-type]
        if not isinstance(prompt_input_variables, Mapping):
            raise BadInput("track.prompt: prompt_input_variables must be a dict")
        pv = self._client.get_prompt(prompt_name, label, version)
        self._client.log.set_prompt(request_id, pv.name, dict(prompt_input_variables), version=pv.version,
                                    label=label, commit=pv.commit)
        return True

    @guarded
    def metadata(self, request_id: str, metadata: Mapping[str, str]) -> bool:
        return self._track.metadata(request_id, metadata)

    @guarded
    def score(self, request_id: str, score: int, score_name: str | None = None) -> bool:
        return self._track.score(request_id, score, score_name)

    @guarded
    def group(self, request_id: str, group_id: int) -> bool:
        return self._track.group(request_id, group_id)


class PromptLayer:
    def __init__(
        self,
        api_key: str | None = None,
        enable_tracing: bool = False,
        base_url: str | None = None,
        throw_on_error: bool = True,
        cache_ttl_seconds: float | None = None,
        *,
        repo: str | Path | None = None,
        log: str | Path | Any | None = None,
        bundle: str | Path | None = None,
        timeout: float | None = None,
        max_attempts: int | None = None,
        tracer_provider: Any = None,
        tracing_providers: Any = None,
    ) -> None:
        if tracer_provider is not None:
            raise unsupported(
                "PromptLayer(tracer_provider=...)",
                "plg keeps spans in its request log; send them to your collector with "
                "`plg logs export-traces --endpoint URL`",
            )
        label_ttl = None if cache_ttl_seconds is None else float(cache_ttl_seconds)
        self.client = Client(
            repo=repo, log=log, bundle=bundle, label_ttl=label_ttl, timeout=timeout,
            max_attempts=max_attempts, enable_tracing=enable_tracing,
        )
        self._throw = throw_on_error
        # PromptLayer's attributes; plg sends the key nowhere (there is no server to send it to)
        self.api_key = api_key if api_key is not None else os.environ.get("PROMPTLAYER_API_KEY")
        self.base_url = base_url or os.environ.get("PROMPTLAYER_BASE_URL", "https://api.promptlayer.com")
        self.tracing_providers = tuple(tracing_providers or ())
        self.templates = Templates(self.client, throw_on_error)
        self.track = _GuardedTrack(self.client.track, throw_on_error, self.client)
        self.group = Group()

    def close(self) -> None:
        self.client.close()

    @property
    def openai(self) -> Any:
        raise unsupported("pl.openai", _PROXY)

    @property
    def anthropic(self) -> Any:
        raise unsupported("pl.anthropic", _PROXY)

    @property
    def evals(self) -> Any:
        raise unsupported(
            "pl.evals", "evaluations are eval pipelines in the repository (evals/NAME.yaml), run by "
            "`plg eval NAME` and by the promotion gate (`plg promote`)"
        )

    @property
    def tables(self) -> Any:
        raise unsupported("pl.tables", "datasets are files in the repository (datasets/*.jsonl), versioned with git")

    @property
    def skills(self) -> Any:
        raise unsupported("pl.skills", "plg has no skill collections; keep such files in your repository")

    def run_workflow(self, workflow_id_or_name: Any = None, *args: Any, **kwargs: Any) -> Any:
        raise unsupported(
            "run_workflow", "plg has no hosted workflows: call pl.run for each step in your code, inside a "
            "@pl.traceable function to see the steps as one trace"
        )

    def invalidate(self, prompt_name: str | None = None) -> None:
        self.client.invalidate(prompt_name)

    def traceable(self, attributes: Mapping[str, Any] | Callable[..., Any] | None = None, name: str | None = None) -> Any:
        """`@pl.traceable()`, `@pl.traceable({"k": "v"})`, `@pl.traceable(attributes=..., name=...)`."""
        if callable(attributes):
            return self.client.traceable(attributes)
        return self.client.traceable(name=name, attributes=dict(attributes or {}))

    def traceTool(self, name: str | None = None, attributes: Mapping[str, Any] | None = None) -> Any:  # noqa: N802
        """`@pl.traceTool()`: a span named `Tool: NAME` marked as a tool call, as PromptLayer's SDK makes."""

        def decorator(func: Callable[..., Any]) -> Any:
            tool = name or func.__name__
            marks = {"node_type": "CODE_EXECUTION", "tool.name": tool, "function_name": tool, **(attributes or {})}
            return self.traceable(attributes=marks, name=f"Tool: {tool}")(func)

        return decorator

    def run(
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
            return self._stream(args)
        try:
            return _run_response(self.client.call(**args), self.client)
        except PlgError as err:
            raise translate(err) from None

    def _run_args(self, prompt_name: str, prompt_version: int | None, prompt_release_label: str | None,
                  input_variables: dict[str, Any] | None, overrides: dict[str, Any] | None,
                  tags: list[str] | None, metadata: dict[str, str] | None, group_id: int | None,
                  provider: str | None, model: str | None) -> dict[str, Any]:
        try:
            pv = self.client.get_prompt(prompt_name, prompt_release_label, prompt_version)
        except PlgError as err:
            raise translate(err) from None
        return {
            "prompt_name": prompt_name, "input_variables": input_variables, "label": prompt_release_label,
            "version": prompt_version, "model": bp.join_model(provider, model, pv.model), "params": overrides,
            "tags": tags, "metadata": metadata, "group_id": group_id,
        }

    def _stream(self, args: dict[str, Any]) -> Iterator[dict[str, Any]]:
        last: Any = None
        events = self.client.stream(**args)
        try:
            for event in events:
                if event.outcome is None:
                    last = bp.attr_wrap(event.piece.raw) if isinstance(event.piece.raw, dict) else event.piece.raw
                    yield _chunk(event, last)
                else:
                    yield {"request_id": request_number(self.client, event.outcome.request_id), "raw_response": last,
                           "prompt_blueprint": _chunk(event, last)["prompt_blueprint"]}
        finally:
            events.close()

    @guarded
    def log_request(self, **kwargs: Any) -> dict[str, Any]:
        return _log_request(self.client, **kwargs)


def _chunk(event: Any, raw: Any) -> dict[str, Any]:
    call = event.call
    return {
        "request_id": None,
        "raw_response": raw,
        "prompt_blueprint": bp.run_blueprint(call.version, call.messages, event.text, call.model, call.params),
    }


def request_number(client: Client, request_id: str) -> int | str:
    """PromptLayer's integer request id: the log's row id once the row is written."""
    seq_of = getattr(client.log, "seq_of", None)
    if seq_of is None:
        return request_id
    try:
        return int(seq_of(request_id))
    except (PlgError, OSError):  # not written (spilled or dropped while the log is down): the response stands
        return request_id


def _run_response(outcome: Outcome, client: Client) -> dict[str, Any]:
    completion = outcome.completion
    raw = completion.raw
    if raw is None:
        raw = bp.raw_completion(outcome.model, completion.text, completion.prompt_tokens, completion.completion_tokens)
    return {
        "request_id": request_number(client, outcome.request_id),
        "raw_response": raw,
        "prompt_blueprint": bp.run_blueprint(
            outcome.version, outcome.messages, completion.text, outcome.model, outcome.params
        ),
    }


def _log_request(
    client: Client,
    *,
    provider: str,
    model: str,
    input: Mapping[str, Any],
    output: Mapping[str, Any],
    request_start_time: float,
    request_end_time: float,
    parameters: Mapping[str, Any] | None = None,
    tags: list[str] | None = None,
    metadata: Mapping[str, str] | None = None,
    prompt_name: str | None = None,
    prompt_version_number: int | None = None,
    prompt_input_variables: Mapping[str, Any] | None = None,
    input_tokens: int = 0,
    output_tokens: int = 0,
    price: float = 0.0,
    function_name: str = "",
    score: int = 0,
    prompt_id: Any = None,
    score_name: str | None = None,
    group_id: int | None = None,
    api_type: str | None = None,
    status: str = "SUCCESS",
    error_type: str | None = None,
    error_message: str | None = None,
) -> dict[str, Any]:
    """A request made outside `run`, in blueprint form (chat or completion), logged like any other."""
    if status not in ("SUCCESS", "WARNING", "ERROR"):
        raise BadInput(f"log_request: status must be SUCCESS, WARNING or ERROR, got {status!r}")
    messages = bp.template_messages(input, "user")
    answers = [m for m in bp.template_messages(output, "assistant") if m["role"] == "assistant"]
    text = answers[-1]["content"] if answers else None
    error = error_message or ((error_type or "ERROR") if status == "ERROR" else None)
    extra = {GROUP_KEY: str(group_id)} if group_id is not None else {}
    request_id = client.log_call(
        model=bp.join_model(provider, model, model),
        messages=messages,
        output=text,
        latency_s=max(0.0, float(request_end_time) - float(request_start_time)),
        started_at=float(request_start_time),
        params=parameters,
        prompt_name=prompt_name,
        version=prompt_version_number,
        input_variables=prompt_input_variables,
        tags=tags,
        metadata={**(metadata or {}), **extra},
        prompt_tokens=input_tokens or None,
        completion_tokens=output_tokens or None,
        cost=price or None,
        error=error,
    )
    if score or score_name:
        client.track.score(request_id, score, score_name)
    number = request_number(client, request_id)
    pv = client.get_prompt(prompt_name, None, prompt_version_number) if prompt_name and prompt_version_number else None
    shown = bp.run_blueprint(pv, messages, text, bp.join_model(provider, model, model), dict(parameters or {})) if pv else None
    return {"id": number, "request_id": number, "prompt_version": shown, "status": status, "prompt_name": prompt_name,
            "prompt_version_number": prompt_version_number, "provider": provider, "model": model}
