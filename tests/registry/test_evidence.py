"""Signed evidence: a figure read from notes decides a gate only when an allowed signer signed it or this
clone produced it. Two clones and a bare remote, the real CLI, the loopback model counting calls."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import GitRepo, SigningKey, git, run_cli
from tests.gate.test_gate import KINDS, PIPELINE, PROMPT, answer, write_history
from tests.loopback_llm import LoopbackLLM


class Clones:
    """A bare remote, the maintainer's clone A (the `repo` fixture) and a collaborator's clone B, each
    with its own plg state (runs, cache), as on two machines."""

    def __init__(self, tmp: Path, a: GitRepo, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp, self.a, self.mp = tmp, a, monkeypatch
        self.remote = tmp / "remote.git"
        git(tmp, "init", "-q", "--bare", "-b", "main", str(self.remote))
        a.git("remote", "add", "origin", str(self.remote))
        a.git("push", "-q", "origin", "main")
        git(tmp, "clone", "-q", str(self.remote), str(tmp / "b"))
        self.b = GitRepo(tmp / "b")

    def work_in(self, clone: GitRepo) -> GitRepo:
        state = self.tmp / f"_state_{clone.path.name}"
        self.mp.chdir(clone.path)
        for key, sub in (("PLG_DIR", ""), ("PLG_CACHE", "cache.db"), ("PLG_LOG", "requests.db"), ("PLG_RUNS", "runs")):
            self.mp.setenv(key, str(state / sub) if sub else str(state))
        return clone


def write_cake(repo: GitRepo, signers: str | None = None) -> None:
    repo.write("evals/datasets/cakes.csv", "cake_type\n" + "\n".join(KINDS) + "\n")
    repo.write("evals/cake.yaml", PIPELINE.format(min_score=0.8, min_similarity=0.75, max_changed=0.25))
    write_history(repo)
    if signers is not None:
        repo.write(".github/plg-allowed-signers", signers)
    repo.write_prompt("cake", PROMPT.format(quality="GOOD v1"), "v1 good")


@pytest.fixture
def clones(repo: GitRepo, llm_server: LoopbackLLM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Clones:
    llm_server.respond(answer)
    write_cake(repo)
    repo.write_prompt("cake", PROMPT.format(quality="SLOPPY v2"), "v2 sloppy: fails the eval")
    return Clones(tmp_path, repo, monkeypatch)


def forge(clone: GitRepo, commit: str, edit) -> None:  # type: ignore[no-untyped-def]
    """Rewrite the note's lines the way anyone who can push `refs/notes/plg` can, and push it."""
    lines = [json.loads(x) for x in clone.git("notes", "--ref=plg", "show", commit).splitlines()]
    text = "\n".join(json.dumps(edit(line), sort_keys=True, separators=(",", ":")) for line in lines) + "\n"
    clone.write("_forged", text)
    clone.git("notes", "--ref=plg", "add", "-f", "-F", str(clone.path / "_forged"), commit)
    (clone.path / "_forged").unlink()
    clone.git("push", "-q", "-f", "origin", "refs/notes/plg:refs/notes/plg")


def passing(line: dict) -> dict:  # type: ignore[type-arg]
    """The issue's forgery: eval score 0.99, backtest similarity 1.0 with nothing changed."""
    if line["kind"] == "eval":
        return {**line, "score": 0.99, "pass_rate": 1.0, "passed_threshold": True}
    if line["kind"] == "backtest":
        perfect = {"similarity_mean": 1.0, "similarity_p10": 1.0, "similarity_p50": 1.0, "changed_fraction": 0.0}
        return {**line, "score": 1.0, "details": {**line["details"], **perfect}}
    return line


def test_a_forged_line_pushed_to_notes_is_not_reused(clones: Clones, llm_server: LoopbackLLM) -> None:
    b = clones.work_in(clones.b)
    assert run_cli("promote", "cake", "--label", "production").code == 1  # the honest verdict, recorded
    forge(b, b.git("rev-parse", "HEAD"), passing)

    clones.work_in(clones.a)
    assert run_cli("fetch", "origin").code == 0
    calls = llm_server.count
    result = run_cli("promote", "cake", "--label", "production")
    assert result.code == 1, result
    assert "gate failed (eval score" in result.err
    assert "recorded score on openai/fake-model is unsigned: evaluating" in result.err
    assert llm_server.count > calls  # evaluated again: the real score decided
    assert clones.a.git("tag") == ""


def test_a_forged_line_merged_over_an_honest_failing_one_does_not_win(
    clones: Clones, llm_server: LoopbackLLM
) -> None:
    a = clones.work_in(clones.a)
    assert run_cli("promote", "cake", "--label", "production").code == 1  # v2's honest figures, recorded here
    b = clones.work_in(clones.b)  # meanwhile B records the same figures and forges them
    assert run_cli("promote", "cake", "--label", "production").code == 1

    def newer_and_passing(line: dict) -> dict:  # type: ignore[type-arg]
        # A later time, and figures that sort first: cat_sort_uniq puts these lines above the honest ones.
        forged = passing(line)
        if line["kind"] == "eval":
            forged["details"] = {**line["details"], "cost": -1}
        return {**forged, "time": "2099-01-01T00:00:00+00:00"}

    forge(b, b.git("rev-parse", "HEAD"), newer_and_passing)
    clones.work_in(a)
    assert run_cli("fetch", "origin").code == 0
    merged = a.git("notes", "--ref=plg", "show", "HEAD").splitlines()
    kept = [json.loads(line) for line in merged]
    evals = [line["score"] for line in kept if line["kind"] == "eval"]
    assert len(evals) == 2 and evals[0] == 0.99  # both kept, the forged one sorted first

    result = run_cli("promote", "cake", "--label", "production")
    assert result.code == 1, result
    assert "gate failed (eval score" in result.err and a.git("tag") == ""


def _signed_record_is_reused(
    tmp_path: Path, repo: GitRepo, llm_server: LoopbackLLM, monkeypatch: pytest.MonkeyPatch,
    key: SigningKey, sign: bool,
) -> tuple[int, str]:
    llm_server.respond(answer)
    write_cake(repo, signers=key.allowed)
    clones = Clones(tmp_path, repo, monkeypatch)
    a = clones.work_in(clones.a)
    if sign:
        monkeypatch.setenv("PLG_SIGNING_KEY", key.path.read_text())  # the key's text, as a CI secret holds it
    assert run_cli("promote", "cake", "--label", "production").code == 0
    monkeypatch.delenv("PLG_SIGNING_KEY", raising=False)
    a.git("push", "-q", "origin", "refs/notes/plg")

    clones.work_in(clones.b)
    clones.b.git("pull", "-q", "origin", "main")
    assert run_cli("fetch", "origin").code == 0
    calls = llm_server.count
    result = run_cli("promote", "cake", "--label", "production")
    assert result.code == 0, result
    return llm_server.count - calls, result.err


def test_a_record_signed_in_one_clone_is_reused_in_another_with_no_model_call(
    tmp_path: Path, repo: GitRepo, llm_server: LoopbackLLM, monkeypatch: pytest.MonkeyPatch,
    signing_key: SigningKey,
) -> None:
    calls, err = _signed_record_is_reused(tmp_path, repo, llm_server, monkeypatch, signing_key, sign=True)
    assert calls == 0 and "evaluating" not in err
    note = [json.loads(x) for x in repo.git("notes", "--ref=plg", "show", "HEAD").splitlines()]
    assert all(n["signature"].startswith("-----BEGIN SSH SIGNATURE-----") for n in note)


def test_the_same_record_unsigned_is_evaluated_again(
    tmp_path: Path, repo: GitRepo, llm_server: LoopbackLLM, monkeypatch: pytest.MonkeyPatch,
    signing_key: SigningKey,
) -> None:
    calls, err = _signed_record_is_reused(tmp_path, repo, llm_server, monkeypatch, signing_key, sign=False)
    assert calls > 0 and "is unsigned: evaluating" in err


def test_a_signature_over_other_figures_or_by_an_unknown_key_is_not_evidence(
    clones: Clones, llm_server: LoopbackLLM, signing_key: SigningKey, tmp_path: Path,
) -> None:
    a = clones.work_in(clones.a)
    a.write(".github/plg-allowed-signers", signing_key.allowed)
    a.commit("trust the CI key")
    a.git("push", "-q", "origin", "main")
    b = clones.work_in(clones.b)
    b.git("pull", "-q", "origin", "main")
    clones.mp.setenv("PLG_SIGNING_KEY", str(signing_key.path))
    assert run_cli("eval", "cake@2", "--record").code == 0  # signed by the trusted key
    clones.mp.delenv("PLG_SIGNING_KEY")
    commit = b.git("rev-parse", "HEAD~1")
    forge(b, commit, passing)  # the figures changed under the signature

    clones.work_in(a)
    assert run_cli("fetch", "origin").code == 0
    result = run_cli("promote", "cake@2", "--label", "production")
    assert result.code == 1 and "signature that does not verify: evaluating" in result.err

    other = tmp_path / "_keys" / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    clones.work_in(b)
    clones.mp.setenv("PLG_SIGNING_KEY", str(other))
    b.git("notes", "--ref=plg", "remove", commit)
    assert run_cli("eval", "cake@2", "--record").code == 0
    clones.mp.delenv("PLG_SIGNING_KEY")
    b.git("push", "-q", "-f", "origin", "refs/notes/plg:refs/notes/plg")
    clones.work_in(a)
    a.git("update-ref", "-d", "refs/notes/plg")
    assert run_cli("fetch", "origin").code == 0
    result = run_cli("promote", "cake@2", "--label", "production")
    assert result.code == 1 and "signer not in the allowed signers: evaluating" in result.err


def test_git_replace_objects_do_not_change_what_is_judged(
    clones: Clones, llm_server: LoopbackLLM
) -> None:
    """`refs/replace/<bad blob> -> <good blob>`: plg reads the bad text every other clone serves."""
    a = clones.work_in(clones.a)
    bad = a.git("rev-parse", "HEAD:prompts/cake.prompt")
    a.write("_good", PROMPT.format(quality="GOOD v1"))
    good = a.git("hash-object", "-w", "_good")
    (a.path / "_good").unlink()
    a.git("replace", bad, good)
    assert "GOOD v1" in a.git("cat-file", "blob", bad)  # git itself now answers with the good text

    shown = run_cli("show", "cake@2")
    assert shown.code == 0 and "SLOPPY v2" in shown.out, shown
    result = run_cli("promote", "cake", "--label", "production")
    assert result.code == 1 and "gate failed (eval score" in result.err, result


SMALL_PROMPT = """---
model: plg/offline
inputs:
  topic: string
---
user:
Tell me about {{ topic }}.
"""


def test_concurrent_records_each_persist(repo: GitRepo) -> None:
    names = [f"p{n}" for n in range(6)]
    repo.write("evals/topics.csv", "topic\ncats\ndogs\n")
    for name in names:
        repo.write(f"prompts/{name}.prompt", SMALL_PROMPT)
        repo.write(f"evals/{name}.yaml", f"prompt: {name}\ndataset: topics.csv\nscorers:\n  - type: contains\n    value: about\n")
    commit = repo.commit("six prompts, one commit")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "plg.cli", "eval", name, "--record"],
            cwd=repo.path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for name in names
    ]
    results = [(p.wait(timeout=120), p.communicate()) for p in procs]
    assert all(code == 0 for code, _ in results), results
    recorded = [json.loads(x) for x in repo.git("notes", "--ref=plg", "show", commit).splitlines()]
    assert sorted(r["prompt"] for r in recorded) == names
    refs = [line.split()[-1] for line in repo.git("for-each-ref", "refs/notes/").splitlines()]
    assert refs == ["refs/notes/plg"]  # no scratch ref left behind


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("/nonexistent/key", "is not a file"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----\n", "not an OpenSSH"),
    ],
)
def test_a_signing_key_that_cannot_sign_is_one_clear_line(
    repo: GitRepo, monkeypatch: pytest.MonkeyPatch, given: str, said: str
) -> None:
    from tests.conftest import TOPIC_PIPELINE, commit_topic_eval

    commit_topic_eval(repo, TOPIC_PIPELINE, "topic\ncats\n")
    monkeypatch.setenv("PLG_SIGNING_KEY", given)
    result = run_cli("eval", "topic", "--record")
    assert result.code == 2 and "PLG_SIGNING_KEY: " in result.err and said in result.err, result
    assert repo.git("for-each-ref", "refs/notes/") == ""  # nothing written unsigned instead


def test_the_allowed_signers_path_is_set_in_plg_toml_and_stays_in_the_repository(repo: GitRepo) -> None:
    from plg.errors import BadInput
    from plg.registry.evidence import allowed_signers_path

    assert allowed_signers_path(repo.path) == ".github/plg-allowed-signers"
    repo.write("plg.toml", 'allowed_signers = "keys/signers"\n')
    assert allowed_signers_path(repo.path) == "keys/signers"
    repo.write("plg.toml", 'allowed_signers = "../elsewhere"\n')
    with pytest.raises(BadInput, match="inside the repository"):
        allowed_signers_path(repo.path)


def test_a_change_cannot_bring_the_key_that_signs_its_own_figures(
    repo: GitRepo, llm_server: LoopbackLLM, monkeypatch: pytest.MonkeyPatch, signing_key: SigningKey
) -> None:
    """A pull request that adds its author's key to the allowed signers, and pushes a note for its head
    signed with that key, is judged on figures plg ci measures itself: it trusts the base's signers."""
    import dataclasses
    import shutil

    from plg.config import state_dir
    from plg.registry.evidence import sign_all
    from plg.registry.gitstore import GitStore
    from plg.registry.scores import read_scores, record_scores

    llm_server.respond(answer)
    write_cake(repo)
    base = repo.git("rev-parse", "HEAD")
    repo.git("checkout", "-q", "-b", "sloppy")
    repo.write(".github/plg-allowed-signers", signing_key.allowed)
    repo.write_prompt("cake", PROMPT.format(quality="SLOPPY v2"), "v2 sloppy, and my key is allowed")
    assert run_cli("eval", "cake", "--record").code in (0, 1)  # the honest figures, recorded here
    head = repo.git("rev-parse", "HEAD")
    store = GitStore(repo.path)
    honest = next(s for s in read_scores(store, head) if s.kind == "eval")
    assert honest.score is not None and honest.score < 0.9
    forged = [
        dataclasses.replace(s, score=0.99, pass_rate=1.0, passed_threshold=True, signature=None, signer=None)
        for s in read_scores(store, head)
    ]
    monkeypatch.setenv("PLG_SIGNING_KEY", str(signing_key.path))
    record_scores(store, head, sign_all(forged))  # re-signed with the key the change itself allows
    monkeypatch.delenv("PLG_SIGNING_KEY")
    shutil.rmtree(state_dir(repo.path) / "evidence")  # the forger's clone wrote it, not the one CI runs in

    calls = llm_server.count
    result = run_cli("ci", "--base", base, "--no-notes", "--json")
    assert llm_server.count > calls, result  # measured again, not taken from the forged note
    report = json.loads(result.out[: result.out.rindex("}") + 1])
    head_figures = next(p for p in report["prompts"] if p["name"] == "cake")["head"][0]
    assert head_figures["score"] == pytest.approx(honest.score) and head_figures["reused"] is False
