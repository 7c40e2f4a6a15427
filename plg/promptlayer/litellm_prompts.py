"""LiteLLM's generic prompt-management API (`GET /beta/litellm_prompt_management?prompt_id=NAME`), served
by `plg serve` beside PromptLayer's, so a LiteLLM gateway takes its prompts and labels from plg.

LiteLLM substitutes variables itself, by plain text replacement of `{name}` (then `{{name}}`, which the
first pass has already broken), so a prompt is served only when its sections need nothing more than that:
`{{ name }}` is sent as `{name}`, and a section
with any other Jinja2 (blocks, filters, expressions) is refused with a 400 naming it rather than sent
half-rendered. `label` and `version` come as query parameters, which LiteLLM's config passes through
`provider_specific_query_params`.
"""

from __future__ import annotations

import re
from typing import Any

from plg.errors import BadInput

_SIMPLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_OTHER_JINJA = re.compile(r"\{%|\{#|\{\{")


def litellm_prompt(service: Any, prompt_id: str | None, label: str | None, version: Any) -> dict[str, Any]:
    if not prompt_id:
        raise BadInput("prompt_id is required")
    pv = service.resolve(prompt_id, label or None, version)
    messages = []
    for section in pv.file.sections:
        text = _SIMPLE.sub(r"{\1}", section.source)
        if _OTHER_JINJA.search(_SIMPLE.sub("", section.source)):
            raise BadInput(
                f"{pv.ref}: its {section.role} section uses Jinja2 beyond {{{{ variable }}}}, which LiteLLM's "
                "text substitution cannot render; call it through plg (Client.run) instead"
            )
        messages.append({"role": section.role, "content": text})
    return {
        "prompt_id": pv.name,
        "prompt_template": messages,
        "prompt_template_model": pv.model,
        "prompt_template_optional_params": dict(pv.params),
        "prompt_version": pv.version,
        "prompt_label": pv.label,
    }
