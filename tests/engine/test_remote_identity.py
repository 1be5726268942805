"""The sync state belongs to one remote database: another remote is a first sync.

Regression: a table synced with one remote, then synced with another whose copy was
empty (switching the browser from the proxy to a MotherDuck database), read every row
as "deleted on the remote" and deleted it locally.
"""

from __future__ import annotations

from engine_helpers import do_sync, local_db, remote_db, rows, run


def test_each_remote_database_has_a_stable_id() -> None:
    r, other = remote_db(), remote_db()
    first = run(r.remote_id())
    assert first == run(r.remote_id()) and len(first) == 36
    assert run(other.remote_id()) != first


def test_switching_to_another_remote_merges_and_deletes_nothing() -> None:
    a, r1, r2 = local_db(), remote_db(), remote_db()
    a.con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR)")
    a.con.execute("INSERT INTO t SELECT i, 'v' || i FROM range(100) x(i)")
    assert do_sync(a, r1).tables[0].converged
    r2.con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR)")
    r2.con.execute("INSERT INTO t VALUES (5, 'v5'), (500, 'only on r2')")
    rep = do_sync(a, r2).tables[0]
    assert "remote-changed" in rep.paths and rep.converged
    assert a.con.execute("SELECT count(*) FROM t").fetchone() == (101,)  # nothing deleted
    assert rows(a) == rows(r2)
    # and back: r1 never saw row 500, so it is pushed there, not deleted here
    rep = do_sync(a, r1).tables[0]
    assert "remote-changed" in rep.paths and rows(a) == rows(r1)
    assert a.con.execute("SELECT count(*) FROM t").fetchone() == (101,)
    assert do_sync(a, r1).tables[0].paths == ["local-unchanged", "remote-unchanged"]
