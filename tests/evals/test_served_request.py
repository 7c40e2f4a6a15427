"""Endpoints are not prompt content, and the request the gate judges is the request Client.run sends."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from plg import Client
from plg.errors import PlgError
from tests.conftest import CAKE_V1, GitRepo, run_cli
from tests.evals.test_engine import write_cakes
from tests.loopback_llm import API_KEY, LoopbackLLM

REFUSAL = "set endpoints in plg.toml or the environment, not in a prompt"

PIPELINE = """prompt: cake
dataset: datasets/cakes.csv
{extra}
scorers:
  - type: contains
    value: "{{{{ cake_type }}}}"
gate:
  qa: {{min_score: 0.1}}
"""


def served_prompt(params: str) -> str:
    return CAKE_V1.replace("model: plg/offline", f"model: openai/served\nparams: {params}")


def commit_cake(repo: GitRepo, params: str, extra: str = "") -> GitRepo:
    repo.write("prompts/cake.prompt", served_prompt(params))
    repo.write("evals/cake.yaml", PIPELINE.format(extra=extra))
    write_cakes(repo)
    repo.commit("cake")
    return repo


def authorizations(server: LoopbackLLM) -> list[str | None]:
    return [h.get("authorization") for h in server.headers]


@pytest.fixture
def capture() -> Any:
    with LoopbackLLM() as server:
        yield server


def test_a_prompt_cannot_send_the_key_to_a_host_of_its_choosing(
    repo: GitRepo, llm_server: LoopbackLLM, capture: LoopbackLLM
) -> None:
    commit_cake(repo, f"{{temperature: 0.2, api_base: '{capture.base_url}'}}")
    evaluated = run_cli("eval", "cake")
    assert evaluated.code == 2, evaluated
    assert REFUSAL in evaluated.err and "api_base" in evaluated.err and len(evaluated.err.strip().splitlines()) == 1
    assert run_cli("lint", "cake").code != 0
    ci = run_cli("ci", "--no-notes", "--no-comment")
    assert ci.code != 0 and REFUSAL in ci.out + ci.err, ci  # CI reports the prompt failed, with the line
    with pytest.raises(PlgError, match=REFUSAL):
        Client(repo.path).run("cake", {"cake_type": "lemon"})
    assert capture.count == 0 and authorizations(capture) == []
    assert llm_server.count == 0


def test_an_allow_listed_endpoint_is_used(repo: GitRepo, llm_server: LoopbackLLM, capture: LoopbackLLM) -> None:
    repo.write("plg.toml", f'[endpoints]\nallow = ["{capture.base_url}/"]\n')
    commit_cake(repo, f"{{temperature: 0.2, api_base: '{capture.base_url}'}}")
    assert run_cli("eval", "cake").code == 0
    Client(repo.path).run("cake", {"cake_type": "lemon"})
    assert capture.chat_count() == 5 and llm_server.count == 0
    assert set(authorizations(capture)) == {f"Bearer {API_KEY}"}


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ("{api_key: sk-other}", "api_key"),
        ("{mock_response: APPROVED}", "mock_response"),
        ("{extra_headers: {X-Api-Key: k}}", "extra_headers"),
        ("{aws_secret_access_key: s}", "aws_secret_access_key"),
        ("{custom_llm_provider: openai}", "custom_llm_provider"),
    ],
)
def test_credentials_and_litellm_controls_are_refused_even_when_an_endpoint_is_allowed(
    repo: GitRepo, llm_server: LoopbackLLM, params: str, key: str
) -> None:
    repo.write("plg.toml", f'[endpoints]\nallow = ["{llm_server.base_url}"]\n')
    commit_cake(repo, params)
    result = run_cli("eval", "cake")
    assert result.code == 2 and REFUSAL in result.err and key in result.err, result
    with pytest.raises(PlgError, match=REFUSAL):
        Client(repo.path).run("cake", {"cake_type": "lemon"})
    assert llm_server.count == 0


def test_pipeline_params_cannot_mock_the_answer(repo: GitRepo, llm_server: LoopbackLLM) -> None:
    commit_cake(repo, "{temperature: 0.2}", extra="params: {mock_response: APPROVED}\nreplace_served_model: true")
    result = run_cli("eval", "cake")
    assert result.code == 2 and REFUSAL in result.err and "mock_response" in result.err, result
    promoted = run_cli("promote", "cake", "--label", "qa")
    assert promoted.code == 2 and "mock_response" in promoted.err, promoted
    assert run_cli("lint").code != 0


def test_every_litellm_credential_and_routing_field_is_refused() -> None:
    """litellm's own list of what routes a call and carries credentials: none of it may come from a prompt."""
    import dataclasses

    from litellm.types import litellm_params as lp

    from plg.config import ENDPOINT_KEYS, endpoint_problems

    groups = [lp.ProviderConnection, lp.BedrockBatchConnection, lp.AnthropicFederationConnection,
              lp.OpenAIFederationConnection, lp.DispatchOptions, lp.MockOptions]
    names = {f.name for group in groups for f in dataclasses.fields(group)} - {"max_retries"}
    names |= {"base_url", "extra_headers", "organization", "azure_ad_token", "vertex_credentials",
              "aws_access_key_id", "mock_tool_calls", "litellm_logging_obj"}
    params = {name: "x" for name in names}
    assert set(endpoint_problems(params, frozenset())) == names
    assert set(endpoint_problems(params, frozenset({"x"}))) == names - ENDPOINT_KEYS


def test_pipeline_params_that_change_the_served_request_are_refused_for_the_gate(
    repo: GitRepo, llm_server: LoopbackLLM
) -> None:
    commit_cake(repo, "{temperature: 0.7}", extra="params: {temperature: 0}")
    refused = run_cli("promote", "cake", "--label", "qa", "--dry-run")
    assert refused.code == 2 and "temperature" in refused.err and len(refused.err.strip().splitlines()) == 1
    assert llm_server.count == 0
    repo.write("evals/cake.yaml", PIPELINE.format(extra="params: {temperature: 0}\nreplace_served_model: true"))
    repo.commit("judge another request, and say so")
    decided = run_cli("promote", "cake", "--label", "qa", "--dry-run")
    assert decided.code == 0, decided
    assert "with the pipeline's params, which replace the request cake is served with" in decided.out
    assert {r["temperature"] for r in llm_server.requests} == {0}


def _request(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k != "stream"}


def test_the_judged_request_is_the_served_request(repo: GitRepo, llm_server: LoopbackLLM) -> None:
    """Whatever a pipeline says, the gate either sends exactly what Client.run sends for the same version
    and inputs (model, params, messages: the whole body), or is refused before sending anything."""
    commit_cake(repo, "{temperature: 0.7, max_tokens: 300}")
    for pipeline_params in ("", "params: {temperature: 0.7, max_tokens: 300}", "params: {temperature: 0}"):
        repo.write("evals/cake.yaml", PIPELINE.format(extra=pipeline_params))
        repo.commit(f"pipeline {pipeline_params or 'without params'}")
        llm_server.reset()
        for cached in Path(os.environ["PLG_CACHE"]).parent.glob("cache.db*"):
            cached.unlink()  # every request reaches the server, so every one is compared
        judged = run_cli("promote", "cake", "--label", "qa", "--dry-run")
        if judged.code == 2:
            assert llm_server.count == 0
            continue
        assert judged.code == 0, judged
        evaluated = sorted((_request(r) for r in llm_server.requests), key=str)
        llm_server.reset()
        client = Client(repo.path)
        for kind, size in (("lemon", "4"), ("carrot", "5"), ("chocolate", "6"), ("plum", "7")):
            client.run("cake", {"cake_type": kind, "serving_size": size})
        served = sorted((_request(r) for r in llm_server.requests), key=str)
        assert evaluated == served, pipeline_params
