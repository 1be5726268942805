"""Concurrent replicas under every conflict policy, checked against a model of what
each writer saw (see ``replicas``): no lost update, no value nobody wrote, every
replica equal to the remote at the end. ``make soak`` runs the same for thousands
of syncs."""

from __future__ import annotations

from pathlib import Path

import pytest
import replicas

from serverutil import running_server


@pytest.mark.parametrize("policy", replicas.POLICIES)
def test_concurrent_replicas_lose_no_update(tmp_path: Path, policy: str) -> None:
    with running_server(tmp_path, env={"DUCKSYNC_RATE_LIMIT": "0"}) as server:
        result = replicas.run(tmp_path, server.url, policy, replicas=3, rounds=5,
                              initial_rows=20, seed=14)
    assert result.clean, result
    assert result.syncs >= 3 * 5
    table = "t_" + policy.replace("-", "_").replace(":", "_")
    remote = replicas.remote_rows(server.remote, table)
    for i in range(3):
        assert replicas.replica_rows(tmp_path, i, table) == remote, f"replica {i}"


def _model(*writes: replicas.Write) -> replicas.Model:
    model = replicas.Model()
    model.add(replicas.Write(1, "1:init", None))
    for w in writes:
        model.add(w)
    return model


def test_the_model_sees_a_lost_update_a_foreign_value_and_a_divergence() -> None:
    """The checker can fail: two writers updated what they saw ("1:init"); the one
    that lost was never reported as a conflict."""
    a = replicas.Write(1, "1:0:1", "1:init", n=100, ts=1)
    b = replicas.Write(1, "1:1:1", "1:init", n=101, ts=2)
    won = {1: (1, "1:1:1", 101, 2)}
    out = replicas.Result("test")
    replicas.check(out, _model(a, b), [won, won], conflicted=set())
    assert out.lost == ["1: '1:0:1' (saw '1:init') lost to '1:1:1'"]
    ok = replicas.Result("test")
    replicas.check(ok, _model(a, b), [won, won], conflicted={1})
    assert ok.clean
    chain = replicas.Write(1, "1:1:2", "1:0:1", n=201, ts=3)  # saw a, wrote over it
    ok2 = replicas.Result("test")
    replicas.check(ok2, _model(a, chain), [{1: (1, "1:1:2", 201, 3)}], conflicted=set())
    assert ok2.clean
    bad = replicas.Result("test")
    replicas.check(bad, _model(a), [{1: (1, "1:9:9", 0, 0)}, {1: (1, "1:0:1", 100, 1)}],
                   conflicted={1})
    assert bad.unknown_values == ["1: '1:9:9' n=0 ts=0"] and bad.diverged == 2
    undeleted = replicas.Result("test")
    replicas.check(undeleted, _model(replicas.Write(1, None, "1:init")),
                   [{1: (1, "1:init", 0, 0)}], conflicted=set())
    assert undeleted.lost == ["1: delete (saw '1:init') undone by '1:init'"]
