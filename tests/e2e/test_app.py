"""The app in real Chromium against the real server: isolation, workers, queries, OPFS, remote."""

from __future__ import annotations

from typing import Any

import pytest
from pageutil import evaluate_error, wait_ready

pytestmark = pytest.mark.browser


def test_page_is_cross_origin_isolated(shared_app: Any) -> None:
    assert shared_app.evaluate("crossOriginIsolated") is True


def test_both_workers_report_ready_in_api_and_status_bar(shared_app: Any) -> None:
    status = shared_app.evaluate("window.ducksync.status()")
    assert status["local"]["phase"] == "ready"
    assert status["local"]["duckdb"] == {"mode": "async", "version": "v1.4.3",
                                         "path": "opfs://ducksync-local.duckdb"}
    assert status["remote"]["phase"] == "connected"
    assert status["online"] is True
    assert shared_app.locator("#status-local").get_attribute("data-phase") == "ready"
    assert shared_app.locator("#status-remote").get_attribute("data-phase") == "connected"
    assert shared_app.locator("#status-online").text_content() == "online"
    # no user on an open server: no "Sign out" nor "delete my data" (the account bar's
    # display: flex overrode its hidden attribute)
    assert shared_app.locator("#account").is_hidden()


def test_workers_answer_ping_and_reach_each_other_over_their_channel(shared_app: Any) -> None:
    local = shared_app.evaluate("window.ducksync.ping('local')")
    peer = shared_app.evaluate("window.ducksync.ping('peer')")
    assert local["worker"] == "local"
    assert peer["peer"]["worker"] == "remote"  # answered by the remote worker, via the port
    assert peer["peer"]["phase"] == "connected"


def test_query_round_trip_returns_plain_rows(shared_app: Any) -> None:
    rows = shared_app.evaluate("""async () => {
        const db = window.ducksync;
        await db.exec("CREATE OR REPLACE TABLE roundtrip (id INTEGER, name VARCHAR, "
                      + "big BIGINT, price DECIMAL(10,2), day DATE, ts TIMESTAMP)");
        await db.exec("INSERT INTO roundtrip VALUES "
                      + "(1, 'duck', 9007199254740993, 12.50, DATE '2024-02-29', "
                      + "TIMESTAMP '2024-02-29 12:34:56'), (2, NULL, 7, -0.05, NULL, NULL)");
        return db.query("SELECT * FROM roundtrip ORDER BY id");
    }""")
    assert rows == [
        {"id": 1, "name": "duck", "big": "9007199254740993", "price": "12.50",
         "day": "2024-02-29", "ts": "2024-02-29T12:34:56.000Z"},
        {"id": 2, "name": None, "big": 7, "price": "-0.05", "day": None, "ts": None},
    ]


def test_bad_sql_rejects_with_duckdbs_message(shared_app: Any) -> None:
    error = evaluate_error(shared_app, "window.ducksync.query('SELEC 1')")
    assert error["rejected"] and error["isError"]
    assert error["name"] == "QueryError" and error["code"] == "query"
    assert 'syntax error at or near "SELEC"' in error["message"]
    missing = evaluate_error(shared_app, "window.ducksync.exec('DROP TABLE no_such_table')")
    assert "no_such_table" in missing["message"] and missing["name"] == "QueryError"


def test_local_table_survives_a_reload(open_app: Any, server_url: str) -> None:
    app_page = open_app(server_url)
    # Reopen before any write first: DuckDB-WASM 1.32 then leaves an empty WAL behind that
    # used to make every later commit fail (see workers/duck.mjs, registerPreparedWal).
    app_page.reload()
    wait_ready(app_page)
    app_page.evaluate("""async () => {
        await window.ducksync.exec("CREATE TABLE kept AS SELECT 7 AS n, 'persisted' AS s");
    }""")
    # the console's history is in the database too (recorded just after the run answers)
    marker = "SELECT 'kept in the history' AS h"
    assert app_page.evaluate("""async (m) => {
        await window.ducksync.consoleRun(m);
        for (let i = 0; i < 100; i++) {
            if ((await window.ducksync.consoleHistory())[0]?.sql === m) return true;
        }
        return false;
    }""", marker)
    app_page.reload()
    wait_ready(app_page)
    rows = app_page.evaluate("window.ducksync.query('SELECT n, s FROM kept')")
    assert rows == [{"n": 7, "s": "persisted"}]
    app_page.wait_for_function(
        "(m) => document.querySelector('#history-list code')?.textContent === m", arg=marker)


def test_remote_worker_lists_a_table_created_in_the_remote_file(open_app: Any,
                                                                seeded_server: Any) -> None:
    page = open_app(seeded_server.url)
    assert page.evaluate("window.ducksync.status().remote.phase") == "connected"
    health = page.evaluate("window.ducksync.remoteHealth()")
    assert health["status"] == "connected"
    listing = page.evaluate("window.ducksync.remoteTables()")
    assert [(t["schema"], t["name"]) for t in listing["tables"]] == [("main", "birds")]
