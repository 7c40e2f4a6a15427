"""Prompt files saved by careless editors: a byte-order mark no longer hides the front matter (which was
then sent to the model as text), and bytes that are not UTF-8 or NUL bytes are one line naming the file and
line in every command (before: rendered as U+FFFD or sent as they were, exit 0)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import TOPIC_PROMPT, GitRepo, run_cli


def test_a_byte_order_mark_does_not_hide_the_front_matter(repo: GitRepo) -> None:
    repo.write("prompts/topic.prompt", "")
    (repo.path / "prompts/topic.prompt").write_bytes(b"\xef\xbb\xbf" + TOPIC_PROMPT.replace("plg/offline", "openai/x").encode())
    repo.commit("bom")

    shown = run_cli("show", "topic@1", "--json")
    rendered = run_cli("render", "topic", "-v", "topic=owls", "--json")

    assert shown.code == 0 and json.loads(shown.out)["model"] == "openai/x", shown
    assert rendered.code == 0, rendered
    assert [m["content"] for m in json.loads(rendered.out)] == ["Tell me about owls."]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (TOPIC_PROMPT.encode().replace(b"Tell me", b"Caf\xe9: tell me"), "line 7: not UTF-8 text"),
        (TOPIC_PROMPT.encode().replace(b"Tell me", b"Tell\x00me"), "line 7: contains NUL bytes"),
    ],
)
def test_a_prompt_that_is_not_utf8_text_is_one_line_everywhere(data: bytes, expected: str, repo: GitRepo) -> None:
    repo.write("prompts/topic.prompt", "")
    (repo.path / "prompts/topic.prompt").write_bytes(data)
    repo.commit("not text")
    where = "prompts/topic.prompt"

    for args in (("render", "topic", "-v", "topic=owls"), ("show", "topic"), ("show", "topic@1")):
        result = run_cli(*args)
        assert result.code == 2, (args, result)
        assert result.err.count("\n") == 1 and expected in result.err, (args, result)
    linted = run_cli("lint")
    assert linted.code == 1 and f"{where}: error: {expected}" in linted.err, linted
    listed = run_cli("list")
    assert listed.code == 0 and "(invalid: " in listed.out and expected in listed.out, listed


def test_a_prompt_linked_outside_the_repository_is_never_read(repo: GitRepo, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Before: `plg render evil` rendered ~/.ssh/id_rsa (or whatever the link named) and `plg eval` sent
    it to the model; `plg lint` passed it and `plg list` showed its description."""
    secret = tmp_path / "secret.txt"
    secret.write_text("---\ndescription: SECRET-DESCRIPTION\n---\nSECRET-TEXT {{ x }}\n")
    (repo.path / "prompts").mkdir()
    (repo.path / "prompts/evil.prompt").symlink_to(secret)
    outside_dir = tmp_path / "outside"
    outside_dir.mkdir()
    (outside_dir / "other.prompt").write_text("SECRET-TEXT")
    (repo.path / "prompts/linked").symlink_to(outside_dir)
    (repo.path / "prompts/real.prompt").write_text(TOPIC_PROMPT)
    (repo.path / "prompts/alias.prompt").symlink_to("real.prompt")  # a link inside the repository is fine

    for args in (("render", "evil", "-v", "x=1"), ("show", "evil"), ("show", "linked/other")):
        result = run_cli(*args)
        assert result.code == 2, (args, result)
        assert result.err.count("\n") == 1 and "outside the repository" in result.err, (args, result)
        assert "SECRET" not in result.out + result.err
    listed = run_cli("list")
    linted = run_cli("lint")

    assert "SECRET" not in listed.out and "(invalid: prompts/evil.prompt leads to" in listed.out, listed
    assert linted.code == 1 and "prompts/evil.prompt: error: leads to" in linted.err, linted
    assert run_cli("render", "alias", "-v", "topic=owls").code == 0
