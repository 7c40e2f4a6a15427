"""LiteLLM's own generic prompt manager (litellm's code, unmodified) taking its prompt from `plg serve`: the
label it asks for is the version it gets, and variables are filled in by LiteLLM's substitution."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from plg.gate.promotion import promote
from plg.registry.versions import Registry
from tests.conftest import GitRepo
from tests.promptlayer.serving import KEY, plg_serve
from tests.promptlayer.test_serve_python import POET


def test_litellm_generic_prompt_manager_reads_plg(repo: GitRepo, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # as plg's litellm door sets it: no network
    from litellm.integrations.generic_prompt_management.generic_prompt_manager import GenericPromptManager

    repo.write_prompt("ai-poet", POET, "First poet")
    repo.write_prompt("ai-poet", POET.replace("a poet", "a famous poet"), "Make the poet famous")
    repo.write_prompt("looping", POET.replace("{{ topic }}", "{% for t in [1] %}{{ topic }}{% endfor %}"))
    promote(Registry(repo.path), "ai-poet@1", "prod", gated=False)
    with plg_serve("--repo", str(repo.path), log=tmp_path / "l.db") as served:
        manager = GenericPromptManager(api_base=served.base_url, api_key=KEY,
                                       additional_provider_specific_query_params={"label": "prod"})
        model, messages, params = manager.get_chat_completion_prompt(
            model="gpt-4o", messages=[], non_default_params={}, prompt_id="ai-poet",
            prompt_variables={"topic": "rain"}, dynamic_callback_params={})
        assert messages == [{"role": "system", "content": "You are a poet."},
                            {"role": "user", "content": "Write a short poem about rain."}]
        assert model == "openai/fake-model" and params.get("temperature") == 0.7
        request = urllib.request.Request(f"{served.base_url}/beta/litellm_prompt_management?prompt_id=looping",
                                         headers={"Authorization": f"Bearer {KEY}"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 400 and "Jinja2" in json.loads(refused.value.read())["message"]
        wrong = urllib.request.Request(f"{served.base_url}/beta/litellm_prompt_management?prompt_id=ai-poet",
                                       headers={"Authorization": "Bearer nope"})
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(wrong, timeout=10)
        assert denied.value.code == 401
