from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import CAKE_V1, GitRepo, run_cli

BROKEN = "---\nmodel: [unclosed\n---\nuser:\nhi\n"


def test_show_and_list_come_from_the_blob_cache_and_follow_edits(repo: GitRepo) -> None:
    repo.write_prompt("cake", CAKE_V1)
    first = run_cli("show", "cake@1", "--json")
    assert first.code == 0, first
    again = run_cli("show", "cake@1", "--json")
    assert json.loads(again.out) == json.loads(first.out)
    shown = json.loads(first.out)
    assert shown["model"] == "plg/offline" and shown["inputs"]["serving_size"] == {"type": "integer", "default": 8}
    assert shown["template"].startswith("system:")
    repo.write("prompts/cake.prompt", CAKE_V1.replace("plg/offline", "openai/gpt-4o-mini"))
    edited = run_cli("show", "cake", "--json")  # the working tree is a new blob: a new summary
    assert json.loads(edited.out)["model"] == "openai/gpt-4o-mini"
    assert json.loads(run_cli("show", "cake@1", "--json").out)["model"] == "plg/offline"
    listed = run_cli("list")
    assert listed.code == 0 and "openai/gpt-4o-mini" in listed.out


def test_an_invalid_prompt_is_reported_every_time_not_cached(repo: GitRepo) -> None:
    repo.write_prompt("cake", CAKE_V1)
    repo.write("prompts/cake.prompt", BROKEN)
    for _ in range(2):
        result = run_cli("show", "cake")
        assert result.code == 2 and "malformed front matter" in result.err
        assert "(invalid:" in run_cli("list").out


def test_show_from_the_cache_imports_no_yaml_pydantic_or_jinja(repo: GitRepo) -> None:
    repo.write_prompt("cake", CAKE_V1)
    assert run_cli("show", "cake@1").code == 0
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "plg.cli", "show", "cake@1"],
        capture_output=True, text=True, env=os.environ,
    )
    assert proc.returncode == 0 and "Write a recipe for a {{ cake_type }}" in proc.stdout
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert not {"yaml", "pydantic", "jinja2"} & imported
