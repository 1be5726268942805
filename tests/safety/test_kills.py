"""A ``ducksync`` process killed inside each phase loses nothing and duplicates nothing.

Each test copies a scenario (``harness``), runs the real CLI with ``DUCKSYNC_FAULT``
so that it (or the server) exits at one named point with no cleanup, runs it again
without the fault, then compares local, remote and the expected table row by row and
checks the local state settled (outbox empty, base = table keys, kept sums true).
Small sizes here; ``make soak`` kills at every occurrence of every point at 1M rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import harness as h
import pytest

from serverutil import running_server

# Every point the engine and the native remote store reach in these scenarios (the
# server adds "server.answer"): a new phase must be added here, and so gets killed.
ENGINE_POINTS = frozenset(
    p + s for p in ("reconcile", "bulk.check", "keys.check", "detect.local", "detect.base",
                    "detect.remote", "fetch", "plan", "pull.apply", "push.snapshot", "push.predict",
                    "push.export", "push.outbox", "push.remote_apply", "push.record", "finish")
    for s in ("", ".done")) | {"remote.commit", "remote.committed", "recover"}

# One kill per distinct crash window (points in one window are equivalent: e.g. every
# phase before the plan writes nothing durable). ``:2`` = the second time, mid-run.
# ``make soak`` kills at every point (first, middle and last occurrence) instead.
FIRST_PUSH_KILLS = [
    "bulk.check.done",  # the table was created remotely, nothing sent
    "push.predict:2",  # run outbox entry committed, one range applied
    "remote.commit:2",  # inside the remote transaction of the second range
    "remote.committed:3",  # third range committed remotely, its answer never read
    "push.record:2",  # answers pending, the second range's not recorded
    "push.record.done:6",  # every range recorded, the run's outbox entry still there
]
TWO_WAY_KILLS = [
    "plan.done",  # the kept base sums forgotten, plan built
    "pull.apply.done",  # pulled, nothing pushed
    "push.outbox.done",  # the first batch's outbox entry committed, not sent
    "remote.commit:2",  # inside the remote transaction of the second batch
    "remote.committed",  # the first batch committed remotely, answer never read
    "push.record:2",  # the first batch recorded, the second not
    "push.record.done:2",  # both recorded, not acknowledged
    "finish",
]


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> dict[str, h.Scenario]:
    root = tmp_path_factory.mktemp("templates")
    return {"first-push": h.first_push(root / "first-push", rows=3000, batch_rows=500),
            "two-way": h.two_way(root / "two-way", rows=400, batch_rows=50)}


def check(outcome: h.Outcome) -> None:
    assert outcome.killed, f"the process never reached {outcome.fault}:\n{outcome.log}"
    assert outcome.converged, f"no convergence after the crash:\n{outcome.log}"
    assert outcome.damage.clean, f"{outcome.damage}\n{outcome.log}"


def kill(scenario: h.Scenario, folder: Path, fault: str, **kw: Any) -> h.Outcome:
    scenario.copy_to(folder)
    return h.finish(h.kill_cli(scenario, folder, fault, **kw), folder)


def test_every_point_reached_is_listed(scenarios: dict[str, h.Scenario],
                                       tmp_path: Path) -> None:
    """The kill lists cover real points, and no phase goes untested unnoticed."""
    for name, scenario in scenarios.items():
        seen = h.points_reached(scenario.copy_to(tmp_path / name), scenario.mode,
                                scenario.extra)
        assert set(seen) <= ENGINE_POINTS, (
            f"new fault points {sorted(set(seen) - ENGINE_POINTS)}: add them to ENGINE_POINTS "
            "(and a kill to the lists below when they open a new crash window)")
        kills = FIRST_PUSH_KILLS if name == "first-push" else TWO_WAY_KILLS
        for fault in kills:
            point, _, nth = fault.partition(":")
            assert seen.count(point) >= int(nth or 1), (name, fault)


@pytest.mark.parametrize("fault", FIRST_PUSH_KILLS)
def test_cli_killed_during_a_first_push(scenarios: dict[str, h.Scenario], tmp_path: Path,
                                        fault: str) -> None:
    check(kill(scenarios["first-push"], tmp_path, fault))


@pytest.mark.parametrize("fault", TWO_WAY_KILLS)
def test_cli_killed_during_a_two_way_sync(scenarios: dict[str, h.Scenario], tmp_path: Path,
                                          fault: str) -> None:
    check(kill(scenarios["two-way"], tmp_path, fault))


@pytest.mark.parametrize(("name", "fault"), [("first-push", "push.record:2"),
                                             ("two-way", "remote.committed")])
def test_cli_killed_again_while_recovering(scenarios: dict[str, h.Scenario], tmp_path: Path,
                                           name: str, fault: str) -> None:
    """The run after the crash dies too, while settling the outbox."""
    check(kill(scenarios[name], tmp_path, fault, then_fault="recover"))


def test_cli_killed_after_the_remote_committed_and_the_answer_pruned(
        scenarios: dict[str, h.Scenario], tmp_path: Path) -> None:
    """The batch committed, the CLI died before hearing, and the remote pruned the
    answer before the next run: recovery settles it from the push journal (its keys
    alike on both sides), leaving neither outbox entry nor journal rows."""
    check(kill(scenarios["two-way"], tmp_path, "remote.committed", prune=True))


@pytest.mark.parametrize(("name", "fault"), [("two-way", "push.record:2")])
def test_cli_killed_while_syncing_through_the_server(scenarios: dict[str, h.Scenario],
                                                     tmp_path: Path, name: str,
                                                     fault: str) -> None:
    scenarios[name].copy_to(tmp_path)
    with running_server(tmp_path, env={"DUCKSYNC_RATE_LIMIT": "0"}) as server:
        outcome = h.kill_cli(scenarios[name], tmp_path, fault, remote=server.url)
    check(h.finish(outcome, tmp_path))


@pytest.mark.parametrize(("name", "fault"), [("first-push", "remote.committed:2"),
                                             ("two-way", "server.answer:2")])
def test_server_killed_while_applying(scenarios: dict[str, h.Scenario], tmp_path: Path,
                                      name: str, fault: str) -> None:
    """The server dies inside the remote transaction, after its commit, or before
    answering; it comes back and the client's next run settles everything."""
    scenarios[name].copy_to(tmp_path)
    check(h.kill_server(scenarios[name], tmp_path, fault))
