"""Rollback walks back: to the most recent earlier holder that passed its gate, never onto a version forced
past it unless named with --to and --force --reason; and label history reads in the order moves happened."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from plg.registry.labels import label_state
from plg.registry.versions import Registry
from tests.conftest import GitRepo, run_cli
from tests.gate.test_gate import PROMPT, gated  # noqa: F401  (fixture)


@pytest.fixture
def three(gated: GitRepo) -> GitRepo:  # noqa: F811
    """v1 -> v2 through the gate, then v3 forced past it."""
    assert run_cli("promote", "cake", "--label", "production").code == 0
    gated.write_prompt("cake", PROMPT.format(quality="GOOD v2 revised"), "v2 good")
    assert run_cli("promote", "cake", "--label", "production").code == 0
    gated.write_prompt("cake", PROMPT.format(quality="SLOPPY v3"), "v3 sloppy")
    forced = run_cli("promote", "cake", "--label", "production", "--force", "--reason", "hotfix")
    assert forced.code == 0 and "FORCED" in forced.out, forced
    return gated


def test_two_rollbacks_walk_back_past_the_forced_version(three: GitRepo) -> None:
    """Before: v3 -> v2 -> v3, re-deploying the forced version as a plain rollback."""
    first = run_cli("rollback", "cake", "--label", "production")
    assert first.code == 0 and "v3 -> v2" in first.out, first

    second = run_cli("rollback", "cake", "--label", "production")

    assert second.code == 0 and "v2 -> v1" in second.out, second
    state = label_state(Registry(three.path), "cake", "production")
    assert state is not None and state.version == 1
    last = state.history[-1]
    assert (last.kind, last.from_version, last.to_version) == ("rollback", 2, 1)
    assert not last.forced
    assert [m.seq for m in state.history] == [1, 2, 3, 4, 5]
    nothing = run_cli("rollback", "cake", "--label", "production")
    assert nothing.code == 2 and "no earlier version" in nothing.err, nothing


def test_a_rollback_skips_a_forced_holder_and_records_it(gated: GitRepo) -> None:  # noqa: F811
    assert run_cli("promote", "cake", "--label", "production").code == 0
    gated.write_prompt("cake", PROMPT.format(quality="SLOPPY v2"), "v2 sloppy")
    assert run_cli("promote", "cake", "--label", "production", "--force", "--reason", "hotfix").code == 0
    gated.write_prompt("cake", PROMPT.format(quality="GOOD v3"), "v3 good")
    assert run_cli("promote", "cake", "--label", "production").code == 0

    result = run_cli("rollback", "cake", "--label", "production")

    assert result.code == 0 and "v3 -> v1" in result.out and "skipped v2: forced past its gate" in result.out
    last = label_state(Registry(gated.path), "cake", "production").history[-1]  # type: ignore[union-attr]
    assert last.skipped == ("v2: forced past its gate",)
    assert "skipped v2: forced past its gate" in run_cli("labels", "cake", "--history").out


def test_rolling_back_onto_a_forced_version_needs_to_force_and_reason(three: GitRepo) -> None:
    assert run_cli("rollback", "cake", "--label", "production").code == 0  # v3 -> v2

    refused = run_cli("rollback", "cake", "--label", "production", "--to", "cake@3")
    assert refused.code == 1 and "never passed it" in refused.err, refused
    assert run_cli("rollback", "cake", "--label", "production", "--to", "cake@3", "--force").code == 1

    moved = run_cli(
        "rollback", "cake", "--label", "production", "--to", "cake@3", "--force", "--reason", "v2 is worse"
    )

    assert moved.code == 0 and "v2 -> v3" in moved.out and "FORCED" in moved.out, moved
    last = label_state(Registry(three.path), "cake", "production").history[-1]  # type: ignore[union-attr]
    assert (last.kind, last.to_version, last.forced, last.reason) == ("rollback", 3, True, "v2 is worse")


def test_history_lists_moves_of_the_same_second_newest_first(
    gated: GitRepo, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    """Before: moves in one second kept their oldest-first order, so newest-first read as v2 -> v3."""

    class SameSecond(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[no-untyped-def,override]
            return datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)

    monkeypatch.setattr("plg.registry.labels.datetime", SameSecond)
    for n in (2, 3):
        gated.write_prompt("cake", PROMPT.format(quality=f"GOOD v{n}"), f"v{n}")
    for n in (1, 2, 3):
        assert run_cli("promote", f"cake@{n}", "--label", "staging").code == 0

    out = run_cli("labels", "cake", "--history").out

    rows = [line.split()[3:5] for line in out.splitlines() if "staging" in line]
    assert rows == [["v2", "v3"], ["v1", "v2"], ["-", "v1"]], out


def test_history_written_before_sequence_numbers_reads_in_its_order() -> None:
    import json

    from plg.registry.labels import HISTORY_MARKER, read_history

    fields = {"from_commit": None, "from_version": None, "kind": "promote", "label": "production", "time": "t"}
    old = [json.dumps({**fields, "to_commit": c * 40, "to_version": n, "who": "ada"}) for n, c in ((1, "a"), (2, "b"))]
    moves = read_history("\n".join(["plg: x", "", HISTORY_MARKER, *old, ""]))

    assert [(m.seq, m.to_version, m.skipped) for m in moves] == [(1, 1, ()), (2, 2, ())]
