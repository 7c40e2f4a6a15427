"""PromptLayer's REST API as plain calls over a prompt source and a request log: what `plg serve` answers.

Each method takes the JSON body PromptLayer's SDKs send and returns the JSON they expect, so the HTTP
layer (`server`) only parses, checks keys and picks status codes. Templates come from the source's
memory (a label is re-checked within `label_ttl`, as for `Client`); every logged request is one row of
plg's log and its PromptLayer request id is that row's integer id (`seq_of`). Template ids are
`shapes.prompt_id(name)`; `track-request` names a prompt only by that id, so the service remembers the
names it has served (and those the source lists) to map it back.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from plg.errors import BadInput, PlgError
from plg.log.records import RequestRecord, check_metadata
from plg.promptlayer import shapes
from plg.registry.versions import PromptVersion
from plg.runtime.track import GROUP_KEY, new_group_id
from plg.tracing.spans import Span


class PromptLayerService:
    def __init__(self, source: Any, log: Any) -> None:
        self.source = source
        self.log = log
        self._names: dict[int, str] = {}
        self._subjects: dict[tuple[str, str | None], str | None] = {}
        self._lock = threading.Lock()

    # -- templates ------------------------------------------------------------------------------
    def resolve(self, name: str, label: str | None = None, version: Any = None) -> PromptVersion:
        pv = self.source.resolve(name, label, _int_or_none(version, "version"))
        self._names[shapes.prompt_id(pv.name)] = pv.name
        return pv

    def commit_message(self, pv: PromptVersion) -> str | None:
        """The commit subject of the version (cached per commit; a bundle keeps none)."""
        key = (pv.name, pv.commit)
        if key not in self._subjects:
            subject = None
            registry = getattr(self.source, "registry", None)
            if registry is not None and pv.version is not None:
                try:
                    found = [v for v in registry.versions(pv.name) if v.number == pv.version]
                    subject = found[0].subject if found else None
                except PlgError:
                    subject = None
            self._subjects[key] = subject
        return self._subjects[key]

    def get_template(self, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        pv = self.resolve(name, body.get("label"), body.get("version"))
        model = shapes.join_model(body.get("provider"), body.get("model"), pv.model)
        overrides = body.get("model_parameter_overrides") or {}
        if not isinstance(overrides, Mapping):
            raise BadInput("model_parameter_overrides must be an object")
        variables = body.get("input_variables")
        messages = None
        if variables is not None:
            if not isinstance(variables, Mapping):
                raise BadInput("input_variables must be an object")
            messages = [m.to_dict() for m in pv.render(dict(variables))]
        return shapes.blueprint(pv, messages, model, {**pv.params, **overrides}, self.commit_message(pv))

    def list_templates(self, page: int, per_page: int, label: str | None) -> dict[str, Any]:
        if page < 1 or per_page < 1:
            raise BadInput(f"page and per_page start at 1 (got page={page}, per_page={per_page})")
        names = self.source.names(label)
        items = []
        for name in names[(page - 1) * per_page : page * per_page]:
            pv = self.resolve(name, label)
            items.append(shapes.blueprint(pv, None, commit_message=self.commit_message(pv)))
        pages = max(1, -(-len(names) // per_page))
        return {"items": items, "page": page, "per_page": per_page, "total": len(names), "pages": pages,
                "has_next": page < pages, "has_prev": page > 1}

    def name_of(self, prompt_id: Any) -> str | None:
        if prompt_id is None:
            return None
        if isinstance(prompt_id, str) and not prompt_id.isdigit():
            return prompt_id
        wanted = _int_or_none(prompt_id, "prompt_id")
        if wanted not in self._names:
            for name in self.source.names(None):
                self._names[shapes.prompt_id(name)] = name
        return self._names.get(wanted)  # type: ignore[arg-type]

    # -- requests ------------------------------------------------------------------------------
    def _insert(self, record: RequestRecord) -> int:
        with self._lock:
            self.log.insert(record)
            return int(self.log.seq_of(record.id))

    def track_request(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A request the SDK made itself (`run`, or its provider wrappers), reported after the fact."""
        kwargs = dict(body.get("kwargs") or {})
        provider = str(body.get("provider_type") or "openai")
        name = self.name_of(body.get("prompt_id"))
        pv = self.resolve(name, None, body.get("prompt_version")) if name and body.get("prompt_version") else None
        model = shapes.join_model(provider, str(kwargs.get("model") or (pv.model if pv else "unknown")), "unknown")
        messages = _kwargs_messages(kwargs)
        params = {k: v for k, v in kwargs.items() if k not in ("model", "messages", "system", "stream", "stream_options")}
        answer, prompt_tokens, completion_tokens = _answer(body.get("request_response") or {})
        status = str(body.get("status") or "SUCCESS")
        error = body.get("error_message") or ((body.get("error_type") or "ERROR") if status == "ERROR" else None)
        metadata = dict(body.get("metadata") or {})
        if body.get("group_id") is not None:
            metadata[GROUP_KEY] = str(_int_or_none(body.get("group_id"), "group_id"))
        seq = self._insert(_record(body, pv, name, model, messages, params, answer, error, metadata,
                                   prompt_tokens, completion_tokens, body.get("prompt_input_variables")))
        shown = None
        if pv is not None:
            shown = shapes.run_blueprint(pv, messages, answer, model, params, self.commit_message(pv))
        return {"success": True, "request_id": seq, "prompt_blueprint": shown, "message": "Request tracked"}

    def log_request(self, body: Mapping[str, Any]) -> dict[str, Any]:
        status = str(body.get("status") or "SUCCESS")
        if status not in ("SUCCESS", "WARNING", "ERROR"):
            raise BadInput(f"log_request: status must be SUCCESS, WARNING or ERROR, got {status!r}")
        provider, model_name = str(body.get("provider") or ""), str(body.get("model") or "")
        if not model_name:
            raise BadInput("log_request: model is required")
        model = shapes.join_model(provider or None, model_name, model_name)
        messages = shapes.template_messages(body.get("input") or {}, "user")
        answers = [m for m in shapes.template_messages(body.get("output") or {}, "assistant") if m["role"] == "assistant"]
        answer = answers[-1]["content"] if answers else None
        error = body.get("error_message") or ((body.get("error_type") or "ERROR") if status == "ERROR" else None)
        name = body.get("prompt_name") or self.name_of(body.get("prompt_id"))
        version = body.get("prompt_version_number")
        pv = self.resolve(name, None, version) if name and version else None
        metadata = dict(body.get("metadata") or {})
        record = _record(body, pv, name, model, messages, dict(body.get("parameters") or {}), answer, error,
                         metadata, body.get("input_tokens") or None, body.get("output_tokens") or None,
                         body.get("prompt_input_variables"), cost=body.get("price") or None)
        seq = self._insert(record)
        if body.get("score") or body.get("score_name"):
            self.log.set_score(seq, body.get("score") or 0, name=body.get("score_name"))
        shown = shapes.run_blueprint(pv, messages, answer, model, record.params, self.commit_message(pv)) if pv else None
        return {"id": seq, "request_id": seq, "prompt_version": shown, "prompt_name": name,
                "prompt_version_number": pv.version if pv else version, "status": status,
                "provider": provider, "model": model_name}

    def track_score(self, body: Mapping[str, Any]) -> dict[str, Any]:
        self.log.set_score(_request_id(body), body.get("score"), name=body.get("name") or body.get("score_name"))
        return {"success": True}

    def track_metadata(self, body: Mapping[str, Any]) -> dict[str, Any]:
        metadata = body.get("metadata")
        if not isinstance(metadata, Mapping):
            raise BadInput("metadata must be an object of strings")
        self.log.set_metadata(_request_id(body), check_metadata(metadata))
        return {"success": True}

    def track_prompt(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The request now belongs to this prompt version: a label is resolved to the version it names
        now, and the version's commit replaces the request's, so inputs never meet another version."""
        body = _unshift_async_track_prompt(body)
        inputs = body.get("prompt_input_variables") or {}
        if not isinstance(inputs, Mapping):
            raise BadInput("prompt_input_variables must be an object")
        label = body.get("label")
        pv = self.resolve(str(body.get("prompt_name")), label, body.get("version"))
        self.log.set_prompt(_request_id(body), pv.name, dict(inputs), version=pv.version, label=label, commit=pv.commit)
        return {"success": True}

    def track_group(self, body: Mapping[str, Any]) -> dict[str, Any]:
        group = _int_or_none(body.get("group_id"), "group_id")
        if group is None:
            raise BadInput("group_id is required")
        self.log.set_metadata(_request_id(body), {GROUP_KEY: str(group)})
        return {"success": True}

    def create_group(self) -> dict[str, Any]:
        return {"success": True, "id": new_group_id()}

    def close(self) -> None:
        self.source.close()
        self.log.close()

    def ingest_spans(self, spans: list[Span]) -> int:
        if spans:
            with self._lock:
                self.log.insert_spans(spans)
        return len(spans)


def _int_or_none(value: Any, what: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadInput(f"{what} must be an integer, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadInput(f"{what} must be an integer, got {value!r}") from None


def _request_id(body: Mapping[str, Any]) -> int | str:
    value = body.get("request_id")
    if isinstance(value, bool) or value is None or value == "":
        raise BadInput("request_id is required")
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return int(value)
    return str(value)


def _unshift_async_track_prompt(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """promptlayer 1.5.16's async `track.prompt` sends every argument one place to the right
    (request_id=throw_on_error, prompt_name=request_id, ...): put them back."""
    if isinstance(body.get("request_id"), bool) and isinstance(body.get("version"), Mapping):
        return {"request_id": body.get("prompt_name"), "prompt_name": body.get("prompt_input_variables"),
                "prompt_input_variables": body.get("version"), "version": body.get("label"), "label": None}
    return body


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(b.get("text", "")) for b in content if isinstance(b, Mapping))
    return "" if content is None else str(content)


def _kwargs_messages(kwargs: Mapping[str, Any]) -> list[dict[str, Any]]:
    messages = [{"role": str(m.get("role", "user")), "content": _text(m.get("content"))}
                for m in kwargs.get("messages") or [] if isinstance(m, Mapping)]
    if kwargs.get("system"):
        messages.insert(0, {"role": "system", "content": _text(kwargs["system"])})
    if not messages and kwargs.get("prompt"):
        messages = [{"role": "user", "content": _text(kwargs["prompt"])}]
    return messages


def _answer(response: Mapping[str, Any]) -> tuple[str | None, int | None, int | None]:
    """The answer and token counts of an OpenAI- or Anthropic-shaped provider response."""
    usage = response.get("usage") or {}
    prompt_tokens = usage.get("prompt_tokens", usage.get("input_tokens"))
    completion_tokens = usage.get("completion_tokens", usage.get("output_tokens"))
    choices = response.get("choices")
    if isinstance(choices, list) and choices:
        first = choices[0] or {}
        message = first.get("message") or {}
        text = message.get("content") if message else first.get("text")
        return (None if text is None else _text(text)), prompt_tokens, completion_tokens
    if isinstance(response.get("content"), list):
        return _text(response["content"]), prompt_tokens, completion_tokens
    return None, prompt_tokens, completion_tokens


def _record(body: Mapping[str, Any], pv: PromptVersion | None, name: str | None, model: str,
            messages: list[dict[str, Any]], params: dict[str, Any], answer: str | None, error: Any,
            metadata: dict[str, Any], prompt_tokens: Any, completion_tokens: Any, inputs: Any,
            cost: Any = None) -> RequestRecord:
    start = _timestamp(body.get("request_start_time"))
    end = _timestamp(body.get("request_end_time"))
    fields: dict[str, Any] = {}
    latency = None
    if start is not None:
        fields["time"] = start
        if end is not None:
            latency = max(0.0, end - start)
    tags = body.get("tags") or []
    if not isinstance(tags, list):
        raise BadInput("tags must be a list of strings")
    try:
        return RequestRecord.new(
            prompt_name=name, version=pv.version if pv else None, commit=pv.commit if pv else None,
            label=None, model=model, params=params, input_variables=dict(inputs or {}), messages=messages,
            output=answer, error=None if error is None else str(error), latency_s=latency,
            prompt_tokens=_int_or_none(prompt_tokens, "input_tokens"),
            completion_tokens=_int_or_none(completion_tokens, "output_tokens"),
            cost=float(cost) if cost is not None else None, tags=tuple(str(t) for t in tags),
            metadata=check_metadata(metadata), span_id=_span_id(body.get("span_id")), **fields,
        )
    except (TypeError, ValueError) as err:
        raise BadInput(f"malformed request: {err}") from None


def _timestamp(value: Any) -> float | None:
    """Seconds since the epoch: Python's SDK sends seconds, JavaScript's an ISO 8601 string or milliseconds."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value) / 1000 if value > 1e11 else float(value)
    if isinstance(value, str):
        from datetime import datetime

        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise BadInput(f"request time {value!r} is neither seconds nor ISO 8601") from None
    raise BadInput(f"request time {value!r} is neither seconds nor ISO 8601")


def _span_id(value: Any) -> str | None:
    return value if isinstance(value, str) and len(value) == 16 and value.strip("0") else None


def open_service(repo: str | Path | None, bundle: str | Path | None, log: str | None,
                 label_ttl: float | None) -> PromptLayerService:
    """The source (`repo`: a checkout or a followed remote; or a bundle) and the log, opened for writing
    in this process (PostgreSQL without the background queue, so each request's row id is known)."""
    from plg.log.store import open_log

    if bundle is not None:
        from plg.runtime.bundle import BundleSource

        source: Any = BundleSource(bundle)
    else:
        from plg.runtime.sources import open_source

        source = open_source(repo if repo is not None else ".", label_ttl)
    getattr(source, "registry", None)  # a remote is cloned or fetched now, before the first request waits on it
    root = source.root if getattr(source, "has_checkout", False) else Path.cwd()
    if log is None and not getattr(source, "has_checkout", False):
        from plg import config as plg_config

        log = str(plg_config.log_location(None))
    return PromptLayerService(source, open_log(log, root, background=False))
