"""Scores are per pipeline: `plg log`, `plg scores` and the viewer show the prompt's own (gating)
pipeline's score, and name the pipeline when they show another's."""

from __future__ import annotations

import json

from tests.cli.test_fast import _plg_loading
from tests.conftest import TOPIC_PIPELINE, GitRepo, commit_topic_eval, run_cli

GRADING = """prompt: topic
dataset: topics.csv
scorers:
  - type: contains
    value: "a phrase no answer has"
"""


def recorded_on_two_pipelines(repo: GitRepo) -> GitRepo:
    commit_topic_eval(repo, TOPIC_PIPELINE, "topic\ncats\ndogs\n")
    repo.write("evals/grading.yaml", GRADING)
    repo.commit("a grading pipeline beside the gating one")
    assert run_cli("eval", "topic", "--record").code == 0
    assert run_cli("eval", "topic", "--pipeline", "evals/grading.yaml", "--record").code == 0  # later, 0.00
    return repo


def test_log_shows_the_gating_pipelines_score_not_the_latest_of_any(repo: GitRepo) -> None:
    recorded_on_two_pipelines(repo)
    line = next(x for x in run_cli("log", "topic").out.splitlines() if x.startswith("v1"))
    assert "1.00" in line and "0.00" not in line, line


def test_scores_lists_the_own_pipeline_and_names_the_others(repo: GitRepo) -> None:
    recorded_on_two_pipelines(repo)
    shown = run_cli("scores", "topic")
    assert shown.code == 0 and "1 recorded result(s) on evals/topic.yaml" in shown.out, shown
    assert "also recorded on other pipelines: evals/grading.yaml" in shown.out
    every = json.loads(run_cli("scores", "topic", "--all", "--json").out)
    assert sorted(s["pipeline"] for s in every) == ["evals/grading.yaml", "evals/topic.yaml"]


def test_the_viewer_shows_the_gating_score(repo: GitRepo) -> None:
    from plg.registry.versions import Registry
    from plg.view.prompts import prompt_page, prompt_rows

    recorded_on_two_pipelines(repo)
    registry = Registry(repo.path)
    assert [r.score for r in prompt_rows(registry) if r.entry.name == "topic"] == ["1.00 [1.00, 1.00]"]
    row = prompt_page(registry, "topic").versions[0]
    assert [s.pipeline for s in row.scores] == ["evals/topic.yaml"] and row.other_pipeline is None


def test_another_pipelines_score_is_shown_with_its_name(repo: GitRepo) -> None:
    from plg.registry.versions import Registry
    from plg.view.prompts import prompt_page, prompt_rows

    commit_topic_eval(repo, TOPIC_PIPELINE, "topic\ncats\ndogs\n")
    repo.write("evals/grading.yaml", GRADING)
    repo.commit("a grading pipeline")
    assert run_cli("eval", "topic", "--pipeline", "evals/grading.yaml", "--record").code == 0
    line = next(x for x in run_cli("log", "topic").out.splitlines() if x.startswith("v1"))
    assert "0.00 [0.00, 0.00] [evals/grading.yaml]" in line, line
    registry = Registry(repo.path)
    assert [r.score for r in prompt_rows(registry) if r.entry.name == "topic"] == ["0.00 [0.00, 0.00] [evals/grading.yaml]"]
    assert prompt_page(registry, "topic").versions[0].other_pipeline == "evals/grading.yaml"


SOME_CATS = """prompt: topic
dataset: topics.csv
scorers:
  - type: contains
    value: "cat"
"""


def test_log_scores_and_the_viewer_print_the_interval_plg_eval_recorded(repo: GitRepo) -> None:
    """A version's score was a bare 0.60 in `plg log` and the viewer, as if 5 rows decided it to two
    digits. 3 of 5 rows pass (scores 1, 0): 0.6 -/+ t(0.95, 4) * 0.548/sqrt(5) = [0.078, 1.000]; Wilson
    at z = 1.645 on 3 of 5 gives [27-86%]. Every reader prints the bounds `plg eval` printed."""
    from plg.view.links import Links
    from plg.view.site import Site

    commit_topic_eval(repo, SOME_CATS, "topic\ncats\ndogs\ncattle\nbirds\ncatfish\n")
    evaluated = run_cli("eval", "topic", "--record")
    assert evaluated.code == 0 and "0.60 [0.08, 1.00]" in evaluated.out and "60% [27-86%]" in evaluated.out, evaluated

    line = next(x for x in run_cli("log", "topic").out.splitlines() if x.startswith("v1"))
    assert "0.60 [0.08, 1.00]" in line, line
    assert "0.60 [0.08, 1.00]" in run_cli("scores", "topic").out
    # the `plg` command's fast path prints the recorded bounds, computing nothing: no scipy, no evals
    out, loaded = _plg_loading(repo, ["log", "topic"], ("scipy", "plg.evals", "typing", "click"))
    assert "0.60 [0.08, 1.00]" in out and loaded == [], (out, loaded)

    site = Site.open(repo.path)
    listing = " ".join(site.prompts(Links()).split())
    assert "0.60 [0.08, 1.00]" in listing
    page = " ".join(site.prompt(Links(), "topic").split())
    assert "0.600</span> <span" in page and ">[0.078, 1.000]</span>" in page and "pass 60% [27-86%]" in page
