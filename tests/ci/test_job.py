"""`plg ci` end to end: real repositories with branches and merge commits, recorded GitHub event payloads,
the loopback model server counting calls, and the loopback GitHub API recording comments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import GitRepo, git, run_cli
from tests.loopback_github import LoopbackGitHub
from tests.loopback_llm import LoopbackLLM

FIXTURES = Path(__file__).parent.parent / "fixtures" / "github"

PROMPT = """---
model: openai/fake-model
inputs:
  {var}: string
---
system:
{style}
user:
Tell me about {{{{ {var} }}}}.
"""

PIPELINE = """prompt: {name}
dataset: datasets/{name}.csv
concurrency: 4
scorers:
  - type: contains
    value: "{{{{ {var} }}}}"
threshold:
  min_score: {min_score}
"""

TOPICS = {"cake": ["lemon", "plum", "fig"], "tea": ["oolong", "sencha"], "soup": ["miso", "pho"]}


def answer(messages: list[dict]) -> str:  # type: ignore[type-arg]
    """A prompt whose system line says TERSE forgets the subject, so its score drops."""
    system, user = messages[0]["content"], messages[-1]["content"]
    subject = user.removeprefix("Tell me about ").rstrip(".")
    return "It is food." if "TERSE" in system else f"All about {subject}: lovely."


def write_prompt(repo: GitRepo, name: str, style: str, min_score: float = 0.5, gate: str = "") -> None:
    var = f"{name}_kind"
    repo.write(f"prompts/{name}.prompt", PROMPT.format(var=var, style=style))
    repo.write(f"evals/{name}.yaml", PIPELINE.format(name=name, var=var, min_score=min_score) + gate)
    repo.write(f"evals/datasets/{name}.csv", f"{var}\n" + "\n".join(TOPICS[name]) + "\n")


@pytest.fixture
def project(repo: GitRepo, llm_server: LoopbackLLM) -> GitRepo:
    llm_server.respond(answer)
    for name in TOPICS:
        write_prompt(repo, name, "Be helpful.")
    repo.write("README.md", "prompts\n")
    repo.commit("three prompts")
    return repo


def pull_request(
    repo: GitRepo, style: str = "Be warm and helpful.", min_score: float = 0.5, gate: str = ""
) -> tuple[str, str]:
    """A feature branch changing `cake`, and the merge commit GitHub checks out for the PR."""
    base = repo.git("rev-parse", "main")
    repo.git("checkout", "-q", "-b", "feature")
    write_prompt(repo, "cake", style, min_score, gate)
    head = repo.commit("change cake")
    repo.git("checkout", "-q", "--detach", "main")
    repo.git("merge", "-q", "--no-ff", "-m", "Merge feature into main", "feature")
    return base, head


def github_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, fork: bool = False, **shas: str
) -> dict[str, Path]:
    text = (FIXTURES / f"{name}.json").read_text()
    replacements = {
        "@HEAD_OWNER@": "mallory" if fork else "acme",
        "@HEAD_IS_FORK@": "true" if fork else "false",
        "@REF@": "refs/heads/main",
        **{f"@{k.upper()}@": v for k, v in shas.items()},
    }
    for key, value in replacements.items():
        text = text.replace(key, value)
    event = tmp_path / f"event-{name}.json"
    event.write_text(text)
    files = {"summary": tmp_path / "summary.md", "output": tmp_path / "output.txt"}
    for f in files.values():
        f.write_text("")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_EVENT_NAME", name)
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/prompts")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(files["summary"]))
    monkeypatch.setenv("GITHUB_OUTPUT", str(files["output"]))
    return files


def outputs(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        key, sep, value = lines[i].partition("=")
        if sep:
            values[key] = value
            i += 1
            continue
        key, _, delimiter = lines[i].partition("<<")
        end = lines.index(delimiter, i + 1)
        values[key] = "\n".join(lines[i + 1 : end])
        i = end + 1
    return values


def printed_report(out: str) -> dict:  # type: ignore[type-arg]
    """The `--json` report, without the annotation lines printed after it."""
    return json.loads(out[: out.rindex("}") + 1])


def cake_calls(server: LoopbackLLM) -> tuple[int, int]:
    """(calls about cakes, calls about anything else)."""
    cakes = sum(1 for r in server.requests if any(k in json.dumps(r) for k in TOPICS["cake"]))
    return cakes, server.chat_count() - cakes


def test_pull_request_evaluates_only_the_changed_prompt_and_keeps_one_comment(
    project: GitRepo,
    llm_server: LoopbackLLM,
    github_api: LoopbackGitHub,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    base, head = pull_request(project)
    files = github_env(monkeypatch, tmp_path, "pull_request", base_sha=base, head_sha=head)

    first = run_cli("ci", "--no-notes")
    assert first.code == 0, first
    assert cake_calls(llm_server) == (6, 0)  # 3 rows for the head version, 3 for the base; tea and soup: none
    assert "cake" in first.out and "tea" not in first.out
    summary = files["summary"].read_text()
    assert "1 changed prompt, all passed" in summary and "`cake`" in summary
    values = outputs(files["output"])
    assert values["passed"] == "true" and json.loads(values["changed"]) == ["cake"]
    scores = json.loads(values["scores"])["cake"]["openai/fake-model"]
    assert scores["head"] == pytest.approx(1.0) and scores["base"] == pytest.approx(1.0)
    assert [w.method for w in github_api.writes()] == ["POST"]
    assert all(r.authorization == "Bearer " + github_api_token() for r in github_api.requests)

    llm_server.reset()
    second = run_cli("ci", "--no-notes")
    assert second.code == 0, second
    assert llm_server.chat_count() == 0  # both versions' evals are recorded in notes now
    assert [w.method for w in github_api.writes()] == ["POST", "PATCH"]
    assert (
        len(github_api.comments[42]) == 1 and "<!-- plg-ci-report -->" in github_api.comments[42][0]["body"]
    )


def github_api_token() -> str:
    from tests.loopback_github import TOKEN

    return TOKEN


def test_a_failed_threshold_turns_the_check_red_with_an_annotation(
    project: GitRepo, github_api: LoopbackGitHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    base, head = pull_request(project, style="TERSE.", min_score=0.5)
    files = github_env(monkeypatch, tmp_path, "pull_request", base_sha=base, head_sha=head)
    result = run_cli("ci", "--no-notes")
    assert result.code == 1, result
    assert "::error file=prompts/cake.prompt,title=plg%3A eval threshold failed::cake" in result.out
    assert "1 changed prompt(s) failed: cake" in result.err
    assert outputs(files["output"])["passed"] == "false"
    body = github_api.comments[42][0]["body"]
    assert "1 failed" in body and "▼ -1.000" in body


def test_a_fork_gets_an_artifact_and_the_privileged_job_posts_it_safely(
    project: GitRepo, github_api: LoopbackGitHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    base, head = pull_request(project)
    github_env(monkeypatch, tmp_path, "pull_request", fork=True, base_sha=base, head_sha=head)
    report_dir = tmp_path / "plg-report"
    result = run_cli("ci", "--no-notes", "--report-dir", str(report_dir))
    assert result.code == 0, result
    assert github_api.writes() == []
    assert "read-only token" in result.out and str(report_dir) in result.out
    report = json.loads((report_dir / "report.json").read_text())
    assert report["pr_head_sha"] == head and report["prompts"][0]["name"] == "cake"

    # A hostile fork edits its artifact: it cannot make the comment ping or link anyone.
    report["prompts"][0]["base_note"] = "[win a prize](https://evil.test) @admins <img src=x>"
    (report_dir / "report.json").write_text(json.dumps(report))
    github_env(monkeypatch, tmp_path, "workflow_run", head_sha=head)
    github_api.pulls = [{"number": 42, "head": {"sha": head}}, {"number": 7, "head": {"sha": base}}]
    posted = run_cli("ci", "--post-artifact", str(report_dir))
    assert posted.code == 0, posted
    assert "created the comment on #42" in posted.out
    body = github_api.comments[42][0]["body"]
    assert "](https://evil.test)" not in body and "@admins" not in body
    assert "<img" not in body.replace("\\<img", "")  # only as escaped text
    assert "win a prize" in body

    report["prompts"][0]["shell"] = "rm -rf /"
    (report_dir / "report.json").write_text(json.dumps(report))
    refused = run_cli("ci", "--post-artifact", str(report_dir))
    assert refused.code == 2 and "not a valid plg report" in refused.err

    (report_dir / "report.json").write_text("[" * 500_000 + "]" * 500_000)  # before: an internal error
    nested = run_cli("ci", "--post-artifact", str(report_dir))
    assert nested.code == 2 and "not a valid plg report (JSON nested too deeply)" in nested.err, nested

    github_env(monkeypatch, tmp_path, "workflow_run", head_sha=base)
    report["prompts"][0].pop("shell")
    (report_dir / "report.json").write_text(json.dumps(report))
    mismatch = run_cli("ci", "--post-artifact", str(report_dir))
    assert mismatch.code == 2 and "not posted" in mismatch.err


def test_a_token_that_cannot_write_falls_back_to_the_artifact(
    project: GitRepo, github_api: LoopbackGitHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    base, head = pull_request(project)
    github_env(monkeypatch, tmp_path, "pull_request", base_sha=base, head_sha=head)
    github_api.read_only = True
    monkeypatch.chdir(project.path)
    result = run_cli("ci", "--no-notes")
    assert result.code == 0, result
    assert "HTTP 403" in result.out and "plg-report/" in result.out
    assert (project.path / "plg-report" / "report.md").read_text().startswith("<!-- plg-ci-report -->")


def test_push_to_main_records_scores_and_pushes_notes_that_a_pull_request_reuses(
    project: GitRepo, llm_server: LoopbackLLM, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    remote = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    project.git("remote", "add", "origin", str(remote))
    before = project.git("rev-parse", "HEAD")
    write_prompt(project, "tea", "Be brief and helpful.")
    after = project.commit("tea v2")
    project.git("push", "-q", "origin", "main")
    github_env(monkeypatch, tmp_path, "push", before_sha=before, head_sha=after)

    pushed = run_cli("ci")
    assert pushed.code == 0, pushed
    assert "pushed recorded scores (refs/notes/plg) to origin" in pushed.out
    assert project.git("ls-remote", str(remote), "refs/notes/plg")
    note = git(tmp_path, "--git-dir", str(remote), "notes", "--ref=plg", "show", after)
    assert '"prompt":"tea"' in note and '"version":2' in note

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(remote), str(clone))
    monkeypatch.chdir(clone)
    clone_repo = GitRepo(clone)
    clone_repo.git("checkout", "-q", "-b", "feature")
    clone_repo.write("prompts/tea.prompt", PROMPT.format(var="tea_kind", style="Be very helpful."))
    head = clone_repo.commit("tea v3")
    github_env(monkeypatch, tmp_path, "pull_request", base_sha=after, head_sha=head)
    llm_server.reset()
    result = run_cli("ci", "--no-comment")
    assert result.code == 0, result
    assert "fetched recorded scores from origin" in result.out
    assert llm_server.chat_count() == 2  # the head version's two rows; the base's score came from notes


def test_changed_inputs_count_and_unrelated_changes_cost_nothing(
    project: GitRepo, llm_server: LoopbackLLM
) -> None:
    base = project.git("rev-parse", "HEAD")
    project.write("README.md", "prompts, documented\n")
    project.commit("docs")
    quiet = run_cli("ci", "--base", base)
    assert quiet.code == 0 and "0 changed" in quiet.out and llm_server.chat_count() == 0

    project.write("evals/datasets/soup.csv", "soup_kind\nmiso\npho\nborscht\n")
    project.commit("more soup")
    result = run_cli("ci", "--base", base, "--json")
    assert result.code == 0, result
    report = printed_report(result.out)
    (soup,) = report["prompts"]
    assert soup["name"] == "soup" and soup["status"] == "inputs"
    assert soup["changed"] == ["evals/datasets/soup.csv"]
    assert soup["head"][0]["rows"] == 3
    assert "prompt text unchanged" in soup["base_note"]


def test_bad_base_and_broken_prompt_are_one_line_errors(project: GitRepo) -> None:
    missing = run_cli("ci", "--base", "no-such-branch")
    assert missing.code == 2 and "no-such-branch" in missing.err and "Traceback" not in missing.err

    base = project.git("rev-parse", "HEAD")
    project.write("prompts/cake.prompt", "---\nmodel: [unclosed\n---\nhi\n")
    project.commit("break cake")
    broken = run_cli("ci", "--base", base)
    assert broken.code == 1, broken
    assert "::error file=prompts/cake.prompt,title=plg%3A cannot evaluate::cake" in broken.out


def test_a_shallow_clone_is_bad_input_not_a_failed_prompt(
    project: GitRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: every prompt "failed" on the truncated history, exit 1, as if it had been judged."""
    write_prompt(project, "cake", "Be brief.")
    project.commit("second cake")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{project.path}", str(shallow))
    monkeypatch.chdir(shallow)

    result = run_cli("ci")

    assert result.code == 2, result
    assert result.err.strip().splitlines()[-1].startswith("plg: error: ") and "shallow clone" in result.err
    assert "git fetch --unshallow" in result.err and "::error" not in result.out


def test_a_repository_with_no_commits_says_so(repo: GitRepo) -> None:
    """Before: `unknown revision 'HEAD'`."""
    write_prompt(repo, "cake", "Be brief.")

    result = run_cli("ci")

    assert result.code == 2, result
    assert result.err == (
        "plg: error: the repository has no commits yet: plg ci compares commits (commit your prompts first)\n"
    )


def test_a_failing_production_gate_fails_the_check_unless_warn_only(
    project: GitRepo, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    gate = "gate:\n  production:\n    min_score: 0.0\n    backtest: {min_similarity: 0.9, max_changed: 0.1}\n"
    write_prompt(project, "cake", "Be helpful.", 0.0, gate)
    history = [
        json.dumps({"input_variables": {"cake_kind": k}, "output": f"All about {k}: lovely."})
        for k in TOPICS["cake"]
    ]
    project.write("evals/history/cake.jsonl", "\n".join(history) + "\n")
    project.commit("gate cake")
    base, head = pull_request(project, style="TERSE.", min_score=0.0, gate=gate)
    files = github_env(monkeypatch, tmp_path, "pull_request", base_sha=base, head_sha=head)
    enforced = run_cli("ci", "--no-notes", "--no-comment")
    assert enforced.code == 1, enforced
    assert "::error file=prompts/cake.prompt,title=plg%3A production gate::cake would not pass" in enforced.out
    assert "production gate would fail: backtest similarity" in enforced.err
    summary = files["summary"].read_text()
    assert "1 changed prompt, 1 failed" in summary and "all passed" not in summary
    assert "❌ `cake`: production gate would fail: backtest similarity" in summary
    assert "**`production` gate**: would FAIL" in summary and "**Backtest** on real traffic: 3 rows" in summary
    assert outputs(files["output"])["passed"] == "false"
    strict = run_cli("ci", "--no-notes", "--no-comment", "--strict-gate")  # kept for existing workflows
    assert strict.code == 1 and "production gate would fail" in strict.err
    lenient = run_cli("ci", "--no-notes", "--no-comment", "--gate-warn-only")
    assert lenient.code == 0, lenient
    assert (
        "::warning file=prompts/cake.prompt,title=plg%3A production gate::cake would not pass" in lenient.out
    )
    assert "(warning only)" in files["summary"].read_text().split("<!-- plg-ci-report -->")[-1]


def test_a_prompt_without_a_pipeline_is_reported_not_failed_unless_required(project: GitRepo) -> None:
    base = project.git("rev-parse", "HEAD")
    project.write("prompts/draft.prompt", "Say hello.\n")
    project.commit("draft prompt, no eval yet")
    result = run_cli("ci", "--base", base)
    assert result.code == 0, result
    assert "::warning file=prompts/draft.prompt,title=plg%3A no eval::draft: not evaluated" in result.out
    required = run_cli("ci", "--base", base, "--require-eval")
    assert required.code == 1 and "failed: draft" in required.err


def test_an_edited_code_evaluator_is_evaluated_again_not_reused(
    project: GitRepo, llm_server: LoopbackLLM
) -> None:
    project.write("evals/checks/polite.py", "def score(output, row):\n    return 1.0\n")
    pipeline = PIPELINE.format(name="tea", var="tea_kind", min_score=0.5).replace(
        "scorers:\n", "scorers:\n  - type: python\n    function: checks/polite.py:score\n"
    )
    project.write("evals/tea.yaml", pipeline)
    base = project.commit("tea gets a code evaluator")
    assert run_cli("ci", "--base", f"{base}^").code == 0
    project.write("evals/checks/polite.py", "def score(output, row):\n    return 0.0\n")
    project.commit("stricter evaluator")
    llm_server.reset()
    result = run_cli("ci", "--base", base, "--json")
    assert result.code == 0, result
    (tea,) = printed_report(result.out)["prompts"]
    assert tea["status"] == "inputs" and tea["changed"] == ["evals/checks/polite.py"]
    assert not tea["head"][0]["reused"] and tea["head"][0]["scorers"]["python"] == 0.0
    assert (
        llm_server.chat_count() == 0
    )  # the model's answers come from the response cache; only scoring reran


def test_a_matrix_of_shards_then_one_merge_reports_what_one_job_would(
    project: GitRepo,
    llm_server: LoopbackLLM,
    github_api: LoopbackGitHub,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    base, head = pull_request(project)
    github_env(monkeypatch, tmp_path, "pull_request", base_sha=base, head_sha=head)
    whole = run_cli("ci", "--no-notes", "--no-comment", "--json")
    assert whole.code == 0, whole
    project.git("update-ref", "-d", "refs/notes/plg")  # forget the recorded scores: evaluate again
    llm_server.reset()

    dirs = [tmp_path / f"shard-{i}" for i in (1, 2, 3)]
    for i, directory in enumerate(dirs, 1):
        shard = run_cli(
            "ci", "--no-notes", "--no-cache", "--shard", f"{i}/3", "--report-dir", str(directory)
        )
        assert shard.code == 0, shard
        assert json.loads((directory / "report.json").read_text())["shard"] == f"{i}/3"
    assert cake_calls(llm_server) == (6, 0)  # head and base, each row once across the three runners
    assert github_api.writes() == [] and project.git("notes", "--ref", "plg", "list") == ""
    refused = run_cli("ci", "--post-artifact", str(dirs[0]))
    assert refused.code == 2 and "partial report" in refused.err

    missing = run_cli("ci", "--no-notes", "--no-comment", "--merge-shards", str(dirs[0]), "--merge-shards", str(dirs[1]))
    assert missing.code == 1 and "shard 3/3 missing" in missing.out
    llm_server.reset()
    merged = run_cli("ci", "--no-notes", *(a for d in dirs for a in ("--merge-shards", str(d))), "--json")
    assert merged.code == 0, merged
    assert llm_server.chat_count() == 0
    assert printed_report(merged.out)["prompts"] == printed_report(whole.out)["prompts"]
    assert [w.method for w in github_api.writes()] == ["POST"]  # one comment, from the merge
    assert project.git("notes", "--ref", "plg", "list") != ""  # recorded once, by the merge


def test_the_comment_names_its_pass_rate_for_what_it_counts() -> None:
    """`pass rate 0%` beside a ✅ read as a failure: it counts rows passing every scorer (issue 28)."""
    from plg.ci.report import CiReport, Figures, PromptResult, render_markdown

    figures = Figures(
        model="plg/offline", score=0.5, pass_rate=0.0, rows=4, scorers={"contains": 1.0, "exact": 0.0},
        scorer_pass={"contains": 1.0, "exact": 0.0},
    )
    prompt = PromptResult(name="cake", status="modified", file="prompts/cake.prompt", head=[figures])
    text = render_markdown(CiReport(event="pull_request", head_sha="a" * 40, prompts=[prompt]))

    header = next(line for line in text.splitlines() if line.startswith("| | prompt"))
    assert "rows passing every scorer" in header and "pass rate" not in header, header
    row = next(line for line in text.splitlines() if "`cake`" in line and "plg/offline" in line)
    assert "| 0% (contains 100%, exact 0%) |" in row, row
    assert not row.startswith("| ✅"), row  # no bar judged it: no green tick beside a 0%


def test_the_report_gives_intervals_and_the_paired_delta_against_the_base(
    project: GitRepo, github_api: LoopbackGitHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    base, head = pull_request(project, style="TERSE.", min_score=0.0)
    files = github_env(monkeypatch, tmp_path, "pull_request", base_sha=base, head_sha=head)
    result = run_cli("ci", "--no-notes", "--json")
    report = printed_report(result.out)
    cake = next(p for p in report["prompts"] if p["name"] == "cake")
    fig = cake["head"][0]
    # every row fell from 1 to 0: Δ -1 exactly on the 3 rows both versions ran
    assert fig["delta_interval"] == [-1.0, -1.0, -1.0, 3]
    assert fig["score_interval"] == [0.0, 0.0] and cake["base"][0]["score_interval"] == [1.0, 1.0]
    body = github_api.comments[42][0]["body"]
    assert "▼ -1.000 [-1.000, -1.000] (3 paired rows)" in body
    scores = json.loads(outputs(files["output"])["scores"])
    assert scores["cake"]["openai/fake-model"]["paired_rows"] == 3
