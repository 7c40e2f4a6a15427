"""`PromptLayer` and `AsyncPromptLayer`: PromptLayer's Python SDK, served from the git registry.

A thin skin over `Client`: the constructor, method names, argument order and response shapes follow
PromptLayer's SDK (1.5.x) so code written for it runs with only the import changed; every request goes
through `Client.call`/`stream`, the same path `Client.run` uses. What needs PromptLayer's server has no
equivalent here: workflows (`run_workflow`), hosted evaluations, datasets/tables, skills, and the
`openai`/`anthropic` proxies.

Constructor arguments with no meaning without that server are accepted and ignored: `api_key` (never
stored), `base_url`. `cache_ttl_seconds` is the label TTL (how long a label's answer is reused before
it is re-checked; default plg's 5 s). `throw_on_error=False` turns errors of `templates.*`, `track.*`
and `log_request` into a logged warning and a `None` result, as PromptLayer does.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from plg.errors import BadInput, ModelCallError, NotFound, OutsideFailure, PlgError
from plg.runtime import blueprints as bp
from plg.runtime.client import Client, Outcome
from plg.runtime.track import GROUP_KEY, Group, Track

logger = logging.getLogger("plg.runtime.promptlayer")


class PromptLayerError(PlgError):
    """PromptLayer's base error; also a `PlgError`."""


class PromptLayerAPIError(PromptLayerError):
    pass


class PromptLayerNotFoundError(PromptLayerAPIError, NotFound):
    pass


class PromptLayerBadRequestError(PromptLayerAPIError, BadInput):
    pass


class PromptLayerValidationError(PromptLayerError, BadInput):
    pass


class PromptLayerAPIConnectionError(PromptLayerError, OutsideFailure):
    pass


class PromptLayerAPITimeoutError(PromptLayerAPIConnectionError):
    pass


def _translate(err: PlgError) -> PlgError:
    if isinstance(err, (PromptLayerError, ModelCallError)):
        return err
    if isinstance(err, NotFound):
        return PromptLayerNotFoundError(err.message)
    if isinstance(err, BadInput):
        return PromptLayerValidationError(err.message)
    if isinstance(err, OutsideFailure):
        return PromptLayerAPIConnectionError(err.message)
    return PromptLayerError(err.message)


def _guarded(method: Callable[..., Any]) -> Callable[..., Any]:
    """PromptLayer's errors, or with `throw_on_error=False` a warning and None."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except PlgError as err:
            translated = _translate(err)
            if self._throw:
                raise translated from None
            logger.warning("PromptLayer %s: %s", method.__name__, translated.message)
            return None

    return wrapper


class Templates:
    """`templates.get/all/publish/invalidate`."""

    def __init__(self, client: Client, throw_on_error: bool) -> None:
        self._client = client
        self._throw = throw_on_error

    @_guarded
    def get(self, prompt_name: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        params = dict(params or {})
        pv = self._client.get_prompt(prompt_name, params.get("label"), params.get("version"))
        model = bp.join_model(params.get("provider"), params.get("model"), pv.model)
        variables = params.get("input_variables")
        messages = [m.to_dict() for m in pv.render(dict(variables))] if variables is not None else None
        return bp.blueprint(pv, messages, model)

    @_guarded
    def all(self, page: int = 1, per_page: int = 30, label: str | None = None) -> list[dict[str, Any]]:
        if page < 1 or per_page < 1:
            raise BadInput(f"page and per_page start at 1 (got page={page}, per_page={per_page})")
        names = self._client._resolver.names(label)[(page - 1) * per_page : page * per_page]
        return [bp.blueprint(self._client.get_prompt(name, label, None), None) for name in names]

    @_guarded
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
        shown = bp.blueprint(pv, None)
        return {
            "id": name,
            "prompt_name": name,
            "prompt_version_id": pv.version,
            "version_number": pv.version,
            "commit": pv.commit,
            "tags": shown["tags"],
            "release_labels": None,
            "prompt_template": shown["prompt_template"],
            "metadata": shown["metadata"],
            "commit_message": message,
        }

    def invalidate(self, prompt_name: str | None = None) -> None:
        self._client.invalidate(prompt_name)


class _GuardedTrack:
    def __init__(self, track: Track, throw_on_error: bool) -> None:
        self._track = track
        self._throw = throw_on_error

    @_guarded
    def prompt(self, request_id: str, prompt_name: str, prompt_input_variables: Mapping[str, Any],
               version: int | None = None, label: str | None = None) -> bool:
        return self._track.prompt(request_id, prompt_name, prompt_input_variables, version, label)

    @_guarded
    def metadata(self, request_id: str, metadata: Mapping[str, str]) -> bool:
        return self._track.metadata(request_id, metadata)

    @_guarded
    def score(self, request_id: str, score: int, score_name: str | None = None) -> bool:
        return self._track.score(request_id, score, score_name)

    @_guarded
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
    ) -> None:
        label_ttl = None if cache_ttl_seconds is None else float(cache_ttl_seconds)
        self.client = Client(
            repo=repo, log=log, bundle=bundle, label_ttl=label_ttl, timeout=timeout,
            max_attempts=max_attempts, enable_tracing=enable_tracing,
        )
        self._throw = throw_on_error
        self.templates = Templates(self.client, throw_on_error)
        self.track = _GuardedTrack(self.client.track, throw_on_error)
        self.group = Group()

    def close(self) -> None:
        self.client.close()

    def invalidate(self, prompt_name: str | None = None) -> None:
        self.client.invalidate(prompt_name)

    def traceable(self, attributes: Mapping[str, Any] | Callable[..., Any] | None = None, name: str | None = None) -> Any:
        """`@pl.traceable()`, `@pl.traceable({"k": "v"})`, `@pl.traceable(attributes=..., name=...)`."""
        if callable(attributes):
            return self.client.traceable(attributes)
        return self.client.traceable(name=name, attributes=dict(attributes or {}))

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
            return _run_response(self.client.call(**args))
        except PlgError as err:
            raise _translate(err) from None

    def _run_args(self, prompt_name: str, prompt_version: int | None, prompt_release_label: str | None,
                  input_variables: dict[str, Any] | None, overrides: dict[str, Any] | None,
                  tags: list[str] | None, metadata: dict[str, str] | None, group_id: int | None,
                  provider: str | None, model: str | None) -> dict[str, Any]:
        try:
            pv = self.client.get_prompt(prompt_name, prompt_release_label, prompt_version)
        except PlgError as err:
            raise _translate(err) from None
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
                    yield {"request_id": event.outcome.request_id, "raw_response": last,
                           "prompt_blueprint": _chunk(event, last)["prompt_blueprint"]}
        finally:
            events.close()

    @_guarded
    def log_request(self, **kwargs: Any) -> dict[str, Any]:
        return _log_request(self.client, **kwargs)


def _chunk(event: Any, raw: Any) -> dict[str, Any]:
    call = event.call
    return {
        "request_id": None,
        "raw_response": raw,
        "prompt_blueprint": bp.run_blueprint(call.version, call.messages, event.text, call.model, call.params),
    }


def _run_response(outcome: Outcome) -> dict[str, Any]:
    completion = outcome.completion
    raw = completion.raw
    if raw is None:
        raw = bp.raw_completion(outcome.model, completion.text, completion.prompt_tokens, completion.completion_tokens)
    return {
        "request_id": outcome.request_id,
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
    status: str | None = None,
    error_type: str | None = None,
    error_message: str | None = None,
) -> dict[str, Any]:
    """A request made outside `run`, in blueprint form, logged like any other."""
    messages = [{"role": m.get("role", "user"), "content": bp.text_of(m)} for m in input.get("messages") or []]
    answers = [m for m in output.get("messages") or [] if m.get("role") == "assistant"] or list(output.get("messages") or [])
    text = bp.text_of(answers[-1]) if answers else None
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
        error=error_message or (error_type if status == "ERROR" else None),
    )
    if score or score_name:
        client.track.score(request_id, score, score_name)
    return {"id": request_id, "request_id": request_id, "prompt_name": prompt_name,
            "prompt_version_number": prompt_version_number, "provider": provider, "model": model}
