"""The benchmark's pure parts: the seed baseline, the result schema, target evaluation.

No timings are asserted; the benchmark itself is ``ducksync bench`` (not in ``make test``).
"""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pytest

from ducksync.bench import data, seed
from ducksync.bench.results import (
    BEGIN,
    END,
    TARGETS,
    Results,
    Target,
    carry_over,
    evaluate,
    markdown,
    median,
    phases,
    splice,
    validate,
)


def _source(rows: int) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(data.create_sql())
    con.execute(data.fill_sql(rows))
    return con


def test_seed_baseline_copies_the_rows_exactly() -> None:
    src, dst = _source(2500), duckdb.connect()
    dst.execute(data.create_sql())
    run = seed.run_native(src, dst, table=data.TABLE, rows=2500)
    assert (run.rows, run.statements) == (2500, 3)  # 1000 + 1000 + 500
    got = dst.execute(f"SELECT * FROM {data.TABLE} ORDER BY id").fetchall()
    assert got == src.execute(f"SELECT * FROM {data.TABLE} ORDER BY id").fetchall()


def test_seed_sample_is_a_prefix() -> None:
    src, dst = _source(1200), duckdb.connect()
    dst.execute(data.create_sql())
    run = seed.run_native(src, dst, table=data.TABLE, rows=300, per_statement=100)
    assert (run.rows, run.statements) == (300, 3)
    assert dst.execute(f"SELECT min(id), max(id) FROM {data.TABLE}").fetchone() == (0, 299)


def test_literals_round_trip_awkward_values() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (a VARCHAR, b DOUBLE, c TIMESTAMP, d BOOLEAN, e INTEGER)")
    stamp = dt.datetime(2024, 2, 29, 23, 59, 59, 123456)
    rows = [("it's; -- \"q\" é", 1.5e-300, stamp, True, None),
            (None, float("nan"), None, False, -7)]
    for sql in seed.values_statements("t", rows):
        con.execute(sql)
    got = con.execute("SELECT * FROM t").fetchall()
    assert got[0] == rows[0]
    assert got[1][0] is None and got[1][1] != got[1][1] and got[1][2:] == (None, False, -7)


def test_extrapolation_is_linear() -> None:
    run = seed.SeedRun(rows=50_000, seconds=2.0, statements=50)
    assert run.rows_per_s == 25_000
    assert run.extrapolated_s(1_000_000) == pytest.approx(40.0)


def test_change_sql_touches_exactly_the_changed_rows() -> None:
    con = _source(20_000)
    con.execute(data.change_sql(20_000))
    assert con.execute(f"SELECT count(*) FROM {data.TABLE} WHERE name LIKE '%*'").fetchone() \
        == (data.CHANGED_ROWS,)


def _results() -> Results:
    res = Results(command="ducksync bench --rows 10", rows=10, started_at="2026-01-01T00:00:00",
                  machine={"cpus": 2, "summary": "2 CPUs"})
    res.add("native", "push http rows/s", 1_000_000, "rows/s")
    res.add("native", "seed rows/s", 10_000, "rows/s")
    res.add("native", "push http ms", 1000, "ms", "median of 3", samples=[1200, 1000, 900])
    res.add("native", "reference arrow round trip ms", 500, "ms")
    res.add("native", "no-op sync ms", 80, "ms")
    res.add("start", "warm first query ms", 2400, "ms")
    res.add("native", "1k change bytes", None, "B")
    return res


def test_targets_pass_miss_and_skip() -> None:
    by_name = {t.name: t for t in evaluate(_results().measurements)}
    assert by_name["native push (via server) >= 50x seed"].status == "PASS"
    assert by_name["native push (via server) >= 50x seed"].value == 100
    assert by_name["native push (via server) <= 3x local Arrow round trip"].status == "PASS"
    assert by_name["native no-op sync <= 5% of initial push"].status == "MISS"
    assert by_name["warm start to first query <= 2.5 s"].status == "PASS"
    skipped = by_name["native 1k change < 1% of table bytes"]
    assert skipped.status == "SKIP" and "native/1k change bytes" in skipped.detail
    assert by_name["browser push >= 50x seed"].status == "SKIP"


def test_strict_limit_is_strict() -> None:
    t = Target(name="x", numerator="a/b", denominator="a/c", op="<", limit=0.01)
    assert t.evaluate({"a/b": 1, "a/c": 100}).status == "MISS"
    assert t.evaluate({"a/b": 0.99, "a/c": 100}).status == "PASS"


def test_result_json_follows_the_schema() -> None:
    doc = json.loads(json.dumps(_results().to_dict()))
    assert validate(doc) == []
    assert len(doc["targets"]) == len(TARGETS)
    doc["measurements"].append({"suite": "gpu", "name": "x", "value": 1, "unit": "ms"})
    del doc["rows"]
    problems = validate(doc)
    assert any("rows" in p for p in problems) and any("measurements[" in p for p in problems)


def test_docs_block_is_replaced_not_duplicated() -> None:
    table = markdown(_results().to_dict())
    assert "| native push (via server) >= 50x seed | 100.0x | >= 50.0x | **PASS** |" in table
    once = splice("# Benchmarks\n\nintro\n", table)
    twice = splice(once.replace("intro", "intro edited"), table.replace("PASS", "MISS"))
    assert twice.count(BEGIN) == 1 and twice.count(END) == 1
    assert "intro edited" in twice and "**MISS**" in twice and "**PASS**" not in twice


def test_phases_are_shares_of_the_biggest_steps() -> None:
    assert phases({"push.remote_apply": 50, "push.record": 30, "reconcile": 20}, top=2) \
        == "phases: remote_apply 50%, record 30%"
    assert phases(None) == ""


def test_partial_run_carries_the_other_suites_over() -> None:
    previous = json.loads(json.dumps(_results().to_dict()))
    partial = Results(command="ducksync bench --only start", rows=1, started_at="later",
                      machine={"summary": "now"})
    partial.add("start", "warm first query ms", 2000.0, "ms")
    assert carry_over(partial, previous, ["start"]) == ["native"]
    doc = partial.to_dict()
    assert partial.get("start/warm first query ms") == 2000.0  # this run's, not the old 2400
    assert partial.get("native/push http ms") == 1000
    assert {m["suite"] for m in doc["measurements"]} == {"start", "native"}
    assert "carried over" in partial.notes[0] and "this run measured start" in partial.notes[0]
    assert carry_over(partial, {"schema": "other"}, ["start"]) == []


def test_median_keeps_every_sample_and_says_so() -> None:
    value, how = median([2100.0, 1800.0, 4000.0], "ms")
    assert value == 2100.0
    assert how == "median of 3 runs (2,100 ms / 1,800 ms / 4,000 ms)"
    assert median([5.0], "ms") == (5.0, "")  # one run: no claim of a median


def test_samples_survive_the_json_and_a_carry_over() -> None:
    previous = json.loads(json.dumps(_results().to_dict()))
    kept = next(m for m in previous["measurements"] if m["name"] == "push http ms")
    assert kept["samples"] == [1200, 1000, 900]
    partial = Results(command="ducksync bench --only start", rows=1, started_at="later",
                      machine={"summary": "now"})
    carry_over(partial, previous, ["start"])
    assert next(m for m in partial.measurements if m.name == "push http ms").samples \
        == [1200, 1000, 900]
    kept["samples"] = ["slow"]
    assert any("samples" in p for p in validate(previous))


def test_a_suite_that_runs_the_page_builds_the_page_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """The page runs what ``web/dist`` holds, not the checkout: ``ducksync bench`` run
    alone measured a build of older code (a missing phase gave it away). A suite that
    runs the page builds it first; a native-only run does not."""
    from ducksync.bench import browser, native, repo
    from ducksync.bench import run as bench

    calls: list[str] = []
    monkeypatch.setattr(repo, "build_assets", lambda: calls.append("build"))
    monkeypatch.setattr(browser, "run", lambda *a, **kw: calls.append("browser"))
    monkeypatch.setattr(native, "run", lambda *a, **kw: calls.append("native"))
    bench.run(bench.Options(only=("browser",)))
    assert calls == ["build", "browser"]
    calls.clear()
    bench.run(bench.Options(only=("native",)))
    assert calls == ["native"]


def test_each_page_pull_is_judged_against_the_floor_of_its_own_state() -> None:
    """A new device's pull against a new device's wire floor, a newly held table's pull
    (warm code) against the warm reference: never a cold pull against a warm floor."""
    res = Results(command="x", rows=10, started_at="now", machine={})
    res.add("browser", "pull ms", 1900, "ms")
    res.add("browser", "new-device wire floor ms", 1600, "ms")
    res.add("browser", "held-table pull ms", 1700, "ms")
    res.add("browser", "reference arrow round trip ms", 1000, "ms")
    by_name = {t.name: t for t in evaluate(res.measurements)}
    cold = by_name["browser initial pull, new device <= 1.5x a new device's wire floor"]
    warm = by_name["browser initial pull, newly held table <= 1.5x local Arrow round trip "
                   "(both warm)"]
    assert (cold.status, round(cold.value or 0, 4)) == ("PASS", round(1900 / 1600, 4))
    assert (warm.status, warm.value) == ("MISS", 1.7)
