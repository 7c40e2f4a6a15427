"""PromptLayer's data shapes, converted at the edge from plg's values and back.

A "prompt blueprint" is PromptLayer's view of a prompt: messages whose content is a list of blocks
(`content[-1]["text"]`), and `metadata.model` with provider, name and parameters. plg's model string
`provider/name` is what litellm takes; the blueprint splits it. `publish_text` goes the other way: a
blueprint body becomes a `.prompt` file.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from plg.errors import BadInput
from plg.registry.versions import PromptVersion

_GUESSED_PROVIDERS = (
    (("gpt-", "o1", "o3", "o4", "chatgpt", "text-", "davinci"), "openai"),
    (("claude",), "anthropic"),
    (("gemini",), "google"),
    (("mistral", "mixtral", "codestral"), "mistral"),
)
_FSTRING_VAR = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}(?!\})")


class AttrDict(dict):  # type: ignore[type-arg]
    """A dict that also answers attribute access, nested: what a provider's response object allows
    (`raw_response.choices[0].message.content`) for answers that never went through litellm."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def attr_wrap(value: Any) -> Any:
    if isinstance(value, dict):
        return AttrDict({k: attr_wrap(v) for k, v in value.items()})
    if isinstance(value, list):
        return [attr_wrap(v) for v in value]
    return value


def split_model(model: str) -> tuple[str, str]:
    """`openai/gpt-4o-mini` -> (openai, gpt-4o-mini); a bare name gets the provider litellm would infer."""
    provider, sep, name = model.partition("/")
    if sep:
        return provider, name
    for prefixes, guess in _GUESSED_PROVIDERS:
        if model.startswith(prefixes):
            return guess, model
    return "openai", model


def join_model(provider: str | None, model: str | None, default: str) -> str:
    """`run(provider=..., model=...)` overrides as one litellm model string."""
    if model is None and provider is None:
        return default
    if model is None:
        return f"{provider}/{split_model(default)[1]}"
    if provider is None or "/" in model:
        return model
    return f"{provider}/{model}"


def blocks(messages: list[dict[str, Any]], template_format: str = "jinja2") -> list[dict[str, Any]]:
    return [
        {
            "role": m["role"],
            "content": [{"type": "text", "text": m["content"]}],
            "input_variables": [],
            "template_format": template_format,
        }
        for m in messages
    ]


def text_of(message: Mapping[str, Any]) -> str:
    """A blueprint message's text: its text blocks joined (or the plain string some callers send)."""
    content = message.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(str(b.get("text", "")) for b in content if isinstance(b, Mapping) and b.get("type", "text") == "text")


def template_messages(template: Mapping[str, Any], role: str) -> list[dict[str, str]]:
    """A `log_request` input or output as plg messages: a chat template's messages, or a completion
    template's content as one message from `role`."""
    if not isinstance(template, Mapping):
        raise BadInput(f"log_request: input and output must be prompt templates (dicts), got {type(template).__name__}")
    if template.get("type") == "completion":
        return [{"role": role, "content": text_of(template)}]
    return [{"role": m.get("role", role), "content": text_of(m)} for m in template.get("messages") or []]


def prompt_id(name: str) -> int:
    """PromptLayer's integer template id, stable per prompt name without a table: 48 bits of the name's
    SHA-256 (exact in a JavaScript number), the same in every process and on every server."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:6], "big") or 1


def llm_kwargs(provider: str, name: str, messages: list[dict[str, Any]], parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments the provider's own SDK takes, as PromptLayer gives them: Anthropic's system prompt is
    a top-level `system` and `max_tokens` is required; everyone else takes OpenAI's chat form."""
    if provider == "anthropic":
        system = "\n\n".join(str(m["content"]) for m in messages if m["role"] == "system")
        kwargs: dict[str, Any] = {"model": name, "messages": [m for m in messages if m["role"] != "system"]}
        if system:
            kwargs["system"] = system
        return {**kwargs, "max_tokens": 1024, **parameters}
    return {"model": name, "messages": list(messages), **parameters}


def blueprint(
    pv: PromptVersion,
    messages: list[dict[str, Any]] | None,
    model: str | None = None,
    params: Mapping[str, Any] | None = None,
    commit_message: str | None = None,
) -> dict[str, Any]:
    """The template as PromptLayer's `templates.get` returns it: rendered when `messages` are given,
    else each role's template source (and `llm_kwargs` carry that source)."""
    model = model or pv.model
    parameters = dict(params if params is not None else pv.params)
    provider, name = split_model(model)
    if messages is None:
        shown = [
            {"role": s.role, "content": [{"type": "text", "text": s.source}], "input_variables": sorted(s.variables),
             "template_format": "jinja2"}
            for s in pv.file.sections
        ]
        sent = [{"role": s.role, "content": s.source} for s in pv.file.sections]
    else:
        shown = blocks(messages)
        sent = list(messages)
    return {
        "id": prompt_id(pv.name),
        "prompt_name": pv.name,
        "version": pv.version,
        "commit": pv.commit,
        "commit_message": commit_message,
        "label": pv.label,
        "tags": list(pv.front.tags),
        "prompt_template": {"type": "chat", "messages": shown, "input_variables": sorted(pv.file.variables)},
        "metadata": {"model": {"provider": provider, "name": name, "parameters": parameters,
                               "api_type": "chat-completions"}},
        "llm_kwargs": llm_kwargs(provider, name, sent, parameters),
    }


def run_blueprint(
    pv: PromptVersion, messages: list[dict[str, Any]], answer: str | None, model: str, params: Mapping[str, Any],
    commit_message: str | None = None,
) -> dict[str, Any]:
    """`run`'s (and `track-request`'s) blueprint: the rendered messages and the model's answer last."""
    shown = [*messages, {"role": "assistant", "content": answer}] if answer is not None else list(messages)
    result = blueprint(pv, shown, model, params, commit_message)
    provider, name = split_model(model)
    result["llm_kwargs"] = llm_kwargs(provider, name, list(messages), dict(params))
    return result


def raw_completion(model: str, text: str, prompt_tokens: int | None, completion_tokens: int | None) -> AttrDict:
    """An OpenAI-shaped response for answers that have no provider object (the offline model, the cache)."""
    return attr_wrap(
        {
            "object": "chat.completion",
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": (prompt_tokens or 0) + (completion_tokens or 0),
            },
        }
    )


def publish_text(body: Mapping[str, Any]) -> tuple[str, str, str]:
    """(name, .prompt file text, commit message) from a `templates.publish` body; f-string variables
    (PromptLayer's default format) become Jinja2 ones."""
    import yaml

    name = body.get("prompt_name")
    if not isinstance(name, str) or not name:
        raise BadInput("templates.publish: prompt_name is required")
    if body.get("release_labels"):
        raise BadInput(
            "templates.publish: release_labels are not moved on publish; labels move through "
            "`plg promote NAME@N --label L`, which runs the gate"
        )
    template = body.get("prompt_template")
    if not isinstance(template, Mapping) or template.get("type", "chat") != "chat":
        raise BadInput("templates.publish: prompt_template must be a chat template ({'type': 'chat', 'messages': [...]})")
    sections = []
    declared = set(template.get("input_variables") or [])
    for message in template.get("messages") or []:
        role = message.get("role")
        if role not in ("system", "user", "assistant"):
            raise BadInput(f"templates.publish: role {role!r} is not supported (system, user, assistant)")
        text = text_of(message)
        if message.get("template_format", "f-string") != "jinja2":
            text = _FSTRING_VAR.sub(lambda m: "{{ " + m.group(1) + " }}", text)
        declared |= set(message.get("input_variables") or [])
        sections.append(f"{role}:\n{text.rstrip()}\n")
    if not sections:
        raise BadInput("templates.publish: prompt_template has no messages")
    model_meta = ((body.get("metadata") or {}).get("model") or {}) if isinstance(body.get("metadata"), Mapping) else {}
    model = join_model(model_meta.get("provider"), model_meta.get("name"), "plg/offline")
    front: dict[str, Any] = {"model": model}
    if model_meta.get("parameters"):
        front["params"] = dict(model_meta["parameters"])
    if body.get("tags"):
        front["tags"] = list(body["tags"])
    from plg.registry.prompt import parse_prompt

    draft = "---\n" + yaml.safe_dump(front, sort_keys=False) + "---\n" + "\n".join(sections)
    variables = declared | set(parse_prompt(draft, f"prompts/{name}.prompt").variables)
    if variables:
        front["inputs"] = sorted(variables)
    text = "---\n" + yaml.safe_dump(front, sort_keys=False) + "---\n" + "\n".join(sections)
    message = str(body.get("commit_message") or f"Publish {name} (templates.publish)")
    return name, text, message
