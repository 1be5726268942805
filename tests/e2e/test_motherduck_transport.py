"""The ``motherduck`` transport end to end, against a loopback stand-in for the service.

The remote worker's direct transport (docs/transports.md) runs here for real: the
embedding API, the remote worker, its nested SQL service worker, the connector and
SqlRemoteStore. Only the service at the far end is replaced: a plain DuckDB-WASM
(``tests/e2e/loopback_sql.worker.mjs``, loaded because the page is on a loopback
origin) that checks the token and, like the real client, *poisons itself* after a bad
one. So a good token working after a bad one on the same client proves each attempt
is isolated. The token must never reach the console, storage, or any message or error
the page sees. The page's Remote section (``web/ui_remote.py``) is driven the same way.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pageutil import READY_TIMEOUT_MS, ex, forward_console, q, sync, wait_ready

pytestmark = pytest.mark.browser

TOKEN = "loopback-good-token-4e1f"  # the only token the loopback service accepts
BAD = "wrong-token-9c2d-do-not-leak"
SERVICE = "/dist/loopback_sql.worker.js"

# Records every message a worker posts to the page (the page's whole view of the workers).
SPY = """(() => {
  const seen = [];
  window.__fromWorkers = seen;
  const text = (v) => { try {
    return JSON.stringify(v, (k, x) => typeof x === "bigint" ? String(x)
      : ArrayBuffer.isView(x) ? `<${x.byteLength} bytes>` : x);
  } catch { return String(v); } };
  const Original = window.Worker;
  window.Worker = class extends Original {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (e) => seen.push(text(e.data)));
    }
  };
})()"""

CONNECT = """async ({db, token, service}) => {
  const m = await import("/dist/ducksync.js");
  try {
    const c = await m.connect({db, transport: "motherduck", token, service, autoSync: false});
    c.configureSync({interval: 0, onWrite: false});
    (window.__clients ??= {})[db] = c;
    return {ok: true, remote: c.status().remote};
  } catch (e) { return {ok: false, name: e.name, code: e.code, message: e.message, hint: e.hint}; }
}"""

# The loopback service's counts so far ({calls, roundTrips}), asked on its channel.
COUNTS = """() => new Promise((resolve) => {
  const channel = new BroadcastChannel("ducksync-loopback-counts");
  channel.onmessage = ({data}) => { channel.close(); resolve(data); };
  channel.postMessage({ask: true});
})"""


def run_on(page: Any, db: str, script: str, arg: Any = None) -> Any:
    return page.evaluate(f"async ([db, arg]) => {{ const c = window.__clients[db]; {script} }}",
                         [db, arg])


@pytest.fixture
def page(browser: Any, server_url: str) -> Any:
    context = browser.new_context()
    page = context.new_page()
    forward_console(page)
    page.__console = []  # type: ignore[attr-defined]
    page.on("console", lambda msg: page.__console.append(msg.text))  # type: ignore[attr-defined]
    page.add_init_script(SPY)
    page.goto(server_url + "/readyz")  # a plain page of the app's origin: no default client
    yield page
    context.close()


def test_sync_bad_token_isolation_and_no_token_leaks(page: Any, server_url: str) -> None:
    # 1. A wrong token: a clear AuthError naming the fix, without the token.
    bad = page.evaluate(CONNECT, {"db": "opfs://md-a.duckdb", "token": BAD, "service": SERVICE})
    assert not bad["ok"] and bad["name"] == "AuthError" and bad["code"] == "auth", bad
    assert "token" in bad["hint"] and "app.motherduck.com" in bad["hint"]
    assert BAD not in json.dumps(bad)

    # 2. The same client, bad then good: the service poisoned itself, so this works only
    #    because every attempt gets a fresh service worker.
    page.evaluate("""async () => { const m = await import("/dist/ducksync.js");
        const c = await m.connect({db: "opfs://md-a.duckdb", autoSync: false});
        c.configureSync({interval: 0, onWrite: false});
        (window.__clients ??= {})["opfs://md-a.duckdb"] = c; }""")
    again = run_on(page, "opfs://md-a.duckdb", """try {
        await c.setTransport({transport: "motherduck", token: arg.bad, service: arg.service});
        return {ok: true}; } catch (e) { return {ok: false, name: e.name}; }""",
                   {"bad": BAD, "service": SERVICE})
    assert again == {"ok": False, "name": "AuthError"}
    good = run_on(page, "opfs://md-a.duckdb",
                  "return c.setTransport({transport: 'motherduck', token: arg.t, service: arg.s});",
                  {"t": TOKEN, "s": SERVICE})
    assert good["transport"] == "motherduck" and good["remote"].startswith("md:")

    # 3. Device A pushes through the motherduck path (not the server: it never sees "birds").
    run_on(page, "opfs://md-a.duckdb", """
        await c.exec("CREATE TABLE birds (id INTEGER PRIMARY KEY, name VARCHAR, n HUGEINT)");
        await c.exec(`INSERT INTO birds VALUES (1, 'mallard', 1), (2, 'teal', 2),
                      (3, 'eider', 3)`);""")
    rep = run_on(page, "opfs://md-a.duckdb", "return c.sync();")
    assert rep["pushed"] == 3 and rep["conflicts"] == 0, json.dumps(rep)
    tables = run_on(page, "opfs://md-a.duckdb", "return c.remoteTables();")
    assert [t["name"] for t in tables["tables"]] == ["birds"]
    server_tables = page.evaluate(
        "async () => (await (await fetch('/api/v1/remote/tables')).json())")
    # (by name: other tests' tables on the shared server may contain the word)
    assert "birds" not in [t["name"] for t in server_tables["tables"]], server_tables
    run_on(page, "opfs://md-a.duckdb", "c.close();")

    # 4. Device B (another local database) pulls, changes a row; A pulls it back.
    b = page.evaluate(CONNECT, {"db": "opfs://md-b.duckdb", "token": TOKEN, "service": SERVICE})
    assert b["ok"], b
    assert run_on(page, "opfs://md-b.duckdb", "return c.sync();")["pulled"] == 3
    run_on(page, "opfs://md-b.duckdb", """
        await c.exec("UPDATE birds SET name = 'common eider' WHERE id = 3");
        return c.sync();""")
    run_on(page, "opfs://md-b.duckdb", "c.close();")
    a = page.evaluate(CONNECT, {"db": "opfs://md-a.duckdb", "token": TOKEN, "service": SERVICE})
    assert a["ok"], a
    assert run_on(page, "opfs://md-a.duckdb", "return c.sync();")["pulled"] == 1
    got = run_on(page, "opfs://md-a.duckdb",
                 "return c.query('SELECT id, name, n::VARCHAR AS n FROM birds ORDER BY id');")
    assert got == [{"id": 1, "name": "mallard", "n": "1"}, {"id": 2, "name": "teal", "n": "2"},
                   {"id": 3, "name": "common eider", "n": "3"}]

    # 4b. The round-trip budget on this transport, counted by the service (calls that
    #     reach it; as tests/engine/test_cloud_standin.py counts the server's): the store
    #     knows the catalog now, and a write's transaction is one script, one call.
    before = page.evaluate(COUNTS)
    assert run_on(page, "opfs://md-a.duckdb", "return c.sync();")["pulled"] == 0
    noop = page.evaluate(COUNTS)
    run_on(page, "opfs://md-a.duckdb", "await c.exec(\"UPDATE birds SET n = 4 WHERE id = 3\");")
    assert run_on(page, "opfs://md-a.duckdb", "return c.sync();")["pushed"] == 1
    pushed = page.evaluate(COUNTS)
    assert noop["roundTrips"] - before["roundTrips"] == 1, (before, noop)
    assert pushed["roundTrips"] - noop["roundTrips"] <= 3, (noop, pushed)

    # 5. Neither token anywhere the page can see or keep.
    kept = page.evaluate("""() => JSON.stringify({
        local: {...localStorage}, session: {...sessionStorage},
        marks: performance.getEntriesByType("mark").map((m) => [m.name, m.detail]),
        workers: window.__fromWorkers})""")
    seen = kept + "\n".join(page.__console)  # type: ignore[attr-defined]
    assert TOKEN not in seen and BAD not in seen
    assert len(json.loads(kept)["workers"]) > 20  # the spy did see the traffic


def test_remote_section_switches_transport_from_the_page(browser: Any, server_url: str) -> None:
    """The page's Remote section drives the same path: a refused token in plain words
    (and gone from the input), then a good one, a sync through it, and back to proxy."""
    context = browser.new_context()
    page = context.new_page()
    forward_console(page)
    console: list[str] = []
    page.on("console", lambda msg: console.append(msg.text))
    # the loopback stand-in (loopback origin); only the syncs asked for here (they count rows)
    page.goto(f"{server_url}/?service={SERVICE}&sync=manual")
    wait_ready(page)
    result = page.locator("#remote-result")

    def connect(state: str) -> str:
        page.click("#remote-connect")
        page.locator(f'#remote-result[data-state="{state}"]').wait_for(timeout=READY_TIMEOUT_MS)
        return str(result.text_content())

    assert page.locator("#remote-transport").input_value() == "proxy"
    assert page.locator("#remote-md").is_hidden()  # no token field for the proxy
    page.select_option("#remote-transport", "motherduck")
    token = page.locator("#remote-token")
    assert token.get_attribute("type") == "password"

    token.fill(BAD)
    refused = connect("failed")
    assert refused.startswith("MotherDuck refused the token: paste a fresh token from "
                              "app.motherduck.com"), refused
    assert BAD not in refused and token.input_value() == ""

    token.fill(TOKEN)
    connected = connect("done")
    assert connected.startswith("Connected to MotherDuck (md:"), connected
    assert token.input_value() == ""
    ex(page, "CREATE TABLE ui_geese (id INTEGER PRIMARY KEY, name VARCHAR); "
             "INSERT INTO ui_geese VALUES (1, 'greylag')")
    assert sync(page, tables=["ui_geese"])["pushed"] == 1
    server = "async () => JSON.stringify(await (await fetch('/api/v1/remote/tables')).json())"
    assert "ui_geese" not in page.evaluate(server)  # it went to the service, not our server

    page.select_option("#remote-transport", "proxy")
    assert page.locator("#remote-md").is_hidden()
    assert connect("done") == "Using our server (proxy)."
    # proxy works again, and the table synced through the other remote is NOT read as
    # "deleted on this remote" (regression: its state is per remote database now):
    # this remote gets its row, the page keeps it.
    ex(page, "CREATE TABLE ui_ducks (id INTEGER PRIMARY KEY); INSERT INTO ui_ducks VALUES (1)")
    report = sync(page, tables=["ui_ducks", "ui_geese"])
    assert report["pushed"] == 2 and report["pulled"] == 0, report
    assert q(page, "SELECT name FROM ui_geese") == [{"name": "greylag"}]
    assert "ui_ducks" in page.evaluate(server) and "ui_geese" in page.evaluate(server)

    kept = page.evaluate("""() => JSON.stringify({local: {...localStorage},
        session: {...sessionStorage}, inputs: [...document.querySelectorAll("input")]
          .map((i) => i.value + " " + (i.getAttribute("value") ?? "")),
        marks: performance.getEntriesByType("mark").map((m) => [m.name, m.detail])})""")
    seen = kept + "\n".join(console)
    assert TOKEN not in seen and BAD not in seen
    context.close()


READER = "loopback-reader-token-7a3b"  # the loopback service's "another account" token


def test_a_share_reader_cannot_push_and_is_told_the_way_out(page: Any) -> None:
    """Only the owning account writes (the service's documented model): a device signed in
    as another account reads a share, and its push stops with the typed error and the
    way out (the proxy with the owner's token), each call ~20 ms away."""
    service = SERVICE + "?latency_ms=20"
    ok = page.evaluate(CONNECT, {"db": "opfs://md-reader.duckdb", "token": READER,
                                 "service": service})
    assert ok["ok"], ok
    got = run_on(page, "opfs://md-reader.duckdb", """
        await c.exec("CREATE TABLE reader_t (id INTEGER PRIMARY KEY)");
        await c.exec("INSERT INTO reader_t VALUES (1)");
        try { return {ok: true, report: await c.sync({tables: ["reader_t"]})}; }
        catch (e) { return {ok: false, name: e.name, code: e.code, message: e.message,
                            hint: e.hint}; }""")
    text = json.dumps(got)
    assert "read_only_remote" in text and "read-only" in text, text
    assert "owner" in text and "ducksync serve" in text, text
    assert READER not in text
