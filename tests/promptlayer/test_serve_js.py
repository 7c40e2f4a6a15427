"""PromptLayer's own JavaScript SDK (the npm package, unmodified, loaded with require()) against `plg serve`,
with only its baseURL changed. `.ci/run` installs it with the machine's npm into a scratch folder and
passes that folder's node_modules as PLG_PROMPTLAYER_JS; on CI a missing package is a failure."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from plg.gate.promotion import promote
from plg.registry.versions import Registry
from plg.runtime.track import GROUP_KEY
from tests.conftest import GitRepo
from tests.loopback_llm import LoopbackLLM
from tests.promptlayer.serving import KEY, plg_serve
from tests.promptlayer.test_serve_python import POET

ON_CI = os.environ.get("CI") == "true"  # read at import: the autouse fixture clears CI for each test
MODULES = os.environ.get("PLG_PROMPTLAYER_JS")

SCRIPT = r"""
const { PromptLayer } = require("promptlayer");
(async () => {
  const pl = new PromptLayer({ apiKey: process.env.KEY, baseURL: process.env.BASE_URL });
  const out = {};
  out.byLabel = await pl.templates.get("ai-poet", { label: "prod" });
  out.byVersion = await pl.templates.get("ai-poet", { version: 2, input_variables: { topic: "tea" } });
  out.all = await pl.templates.all();
  const run = await pl.run({ promptName: "ai-poet", promptReleaseLabel: "prod", inputVariables: { topic: "rain" },
                             tags: ["js"] });
  out.requestId = run.request_id;
  out.answer = run.raw_response.choices[0].message.content;
  out.score = await pl.track.score({ request_id: run.request_id, score: 42 });
  out.metadata = await pl.track.metadata({ request_id: run.request_id, metadata: { lang: "js" } });
  out.group = await pl.group.create();
  out.tracked = await pl.track.group({ request_id: run.request_id, group_id: out.group });
  const now = Date.now() / 1000;
  out.logged = await pl.logRequest({ provider: "openai", model: "gpt-4o-mini",
    input: { type: "chat", messages: [{ role: "user", content: [{ type: "text", text: "Hi" }] }] },
    output: { type: "chat", messages: [{ role: "assistant", content: [{ type: "text", text: "Hello" }] }] },
    request_start_time: now - 1, request_end_time: now });
  const traced = new PromptLayer({ apiKey: process.env.KEY, baseURL: process.env.BASE_URL, enableTracing: true });
  const shout = traced.wrapWithSpan("shout", (word) => word.toUpperCase(), { step: "outer" });
  out.shouted = await shout("hey");
  await new Promise((resolve) => setTimeout(resolve, 500));
  try { await pl.templates.get("no-such-prompt"); out.missing = "found"; } catch (e) { out.missing = String(e.message); }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
"""


def _modules() -> Path:
    if MODULES and (Path(MODULES) / "promptlayer").is_dir() and shutil.which("node"):
        return Path(MODULES)
    if ON_CI:
        pytest.fail("PLG_PROMPTLAYER_JS must name a node_modules with promptlayer (.ci/run installs it), and node must run")
    pytest.skip("the npm promptlayer package is not installed (set PLG_PROMPTLAYER_JS; .ci/run does)")


def test_js_sdk_against_plg_serve(repo: GitRepo, tmp_path: Path, llm_server: LoopbackLLM) -> None:
    modules = _modules()
    repo.write_prompt("ai-poet", POET, "First poet")
    repo.write_prompt("ai-poet", POET.replace("a poet", "a famous poet"), "Make the poet famous")
    promote(Registry(repo.path), "ai-poet@1", "prod", gated=False)
    script = tmp_path / "app.js"
    script.write_text(SCRIPT)
    with plg_serve("--repo", str(repo.path), log=tmp_path / "served.db") as served:
        env = {**os.environ, "NODE_PATH": str(modules), "KEY": KEY, "BASE_URL": served.base_url,
               "OPENAI_BASE_URL": llm_server.base_url}
        done = subprocess.run(["node", str(script)], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout.strip().splitlines()[-1])
        store = served.store()
        record = store.get(out["requestId"])
        logged = store.get(out["logged"]["id"])
        shouts = [s for s in store.iter_spans() if s.name == "shout"]
    assert out["byLabel"]["version"] == 1 and isinstance(out["byLabel"]["id"], int)
    assert out["byVersion"]["llm_kwargs"]["messages"][1]["content"] == "Write a short poem about tea."
    assert [t["prompt_name"] for t in out["all"]] == ["ai-poet"]
    assert isinstance(out["requestId"], int) and llm_server.requests[-1]["model"] == "fake-model"
    assert record.output == out["answer"] and record.version == 1 and record.tags == ("js",)
    assert record.input_variables == {"topic": "rain"}
    assert out["score"] is True and record.scores["default"] == 42
    assert record.metadata["lang"] == "js" and record.metadata[GROUP_KEY] == str(out["group"])
    assert logged.output == "Hello" and logged.model == "openai/gpt-4o-mini"
    assert out["missing"] == "unknown prompt 'no-such-prompt'"  # the 404's message, not a retried 5xx
    assert out["shouted"] == "HEY" and shouts and shouts[0].attributes["step"] == "outer"
    assert record.latency_s is not None and 0 <= record.latency_s < 30
