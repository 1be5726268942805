"""Sign-in in the page: one local database per user on a shared browser, offline included.

One real server with two users (``DUCKSYNC_USERS``) and one browser context shared by both,
as on a family computer. Alice signs in (the page syncs with her session token through
``connect({getToken})``), writes a row that she syncs and one she does not; with the server
unreachable, the page still opens her data; when her session ends, signing in again resumes
syncing in place. She signs out, leaving a row unsynced; Bob signs in on the same browser:
his database is another OPFS file without her rows, and his full sync, under the server's
sync rules (``owner = $user``), neither brings hers nor pushes anything. Signing out with
"delete my data" removes his file only. The same server accepts an identity provider's JWTs,
which an app hands over with ``connect({getToken})``: the JWT's subject is ``$user`` too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import duckdb
import jwt
import pytest
from pageutil import (
    READY_TIMEOUT_MS,
    ex,
    forward_console,
    manual,
    q,
    sync,
    wait_ready,
)

from ducksync.server.auth import hash_password
from serverutil import RunningServer, running_server

pytestmark = pytest.mark.browser

PASSWORDS = {"alice": "alice-password-1", "bob": "bob-password-2"}
JWT_SECRET = "the-identity-providers-hs256-secret-0123456789"
ISSUER, AUDIENCE = "https://id.test/", "ducksync-test"
SIGN_IN_SHOWN = ("() => document.body.dataset.ready === 'signin'"
                 " && !document.getElementById('signin').hidden")
RULES = '[tables.notes]\nfilter = "owner = $user"\naccess = "read-write"\n'
OPFS_FILES = """async () => {
    const names = [];
    for await (const name of (await navigator.storage.getDirectory()).keys()) names.push(name);
    return names;
}"""


@pytest.fixture(scope="module")
def users_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("signin")
    with duckdb.connect(str(tmp / "remote.duckdb")) as con:
        con.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, owner VARCHAR, body VARCHAR)")
        con.execute("INSERT INTO notes VALUES (100, 'carol', 'carol on the server')")
    (tmp / "rules.toml").write_text(RULES)
    env = {"DUCKSYNC_RULES": str(tmp / "rules.toml"),
           "DUCKSYNC_USERS": ",".join(f"{u}:{hash_password(p)}" for u, p in PASSWORDS.items()),
           "DUCKSYNC_SECRET": "signin-test-secret", "DUCKSYNC_RATE_LIMIT": "0",
           "DUCKSYNC_JWT_SECRET": JWT_SECRET, "DUCKSYNC_JWT_ISSUER": ISSUER,
           "DUCKSYNC_JWT_AUDIENCE": AUDIENCE}
    with running_server(tmp, env=env) as running:
        yield running


def app_jwt(subject: str, audience: str = AUDIENCE) -> str:
    now = int(time.time())
    return jwt.encode({"sub": subject, "iss": ISSUER, "aud": audience, "iat": now,
                       "exp": now + 600}, JWT_SECRET, algorithm="HS256")


def sign_in(page: Any, user: str) -> None:
    page.wait_for_function(SIGN_IN_SHOWN, timeout=READY_TIMEOUT_MS)
    page.fill("#signin-user", user)
    page.fill("#signin-password", PASSWORDS[user])
    page.click("#signin-submit")  # the page reloads with this user's database
    wait_ready(page)
    assert page.text_content("#account-user") == f"signed in as {user}"


def sign_out(page: Any, *, clear: bool = False) -> None:
    if clear:
        page.check("#signout-clear")
    page.click("#signout")
    page.wait_for_function(SIGN_IN_SHOWN, timeout=READY_TIMEOUT_MS)


def database(page: Any) -> str:
    name: str = page.evaluate("() => window.ducksyncSession.state().database")
    return name


def test_connect_get_token_hands_the_apps_jwt_to_the_remote_worker(
        browser: Any, users_server: RunningServer) -> None:
    """An app with its own identity provider: the worker asks getToken at its first call and
    again after the server refused a token (wrong audience), then syncs as the JWT's user
    (her row arrives, her new row goes up); the token appears in no status or event."""
    context = browser.new_context()
    page = context.new_page()
    forward_console(page)
    page.goto(users_server.url + "/healthz")  # a same-origin page without the demo app
    good = app_jwt("carol")
    outcome = page.evaluate("""async ([refused, good]) => {
        const { connect } = await import("/dist/ducksync.js");
        const tokens = [refused, good], asked = [], seen = [];
        const db = await connect({ db: "opfs://ducksync-app-carol.duckdb", autoSync: false,
                                   getToken: async ({ reason }) => { asked.push(reason);
                                                                    return tokens.shift(); } });
        for (const event of ["status", "sync", "log", "phase"]) db.on(event, (e) => seen.push(e));
        const first = await db.sync();
        await db.exec("INSERT INTO notes VALUES (101, 'carol', 'from the app')");
        const second = await db.sync();
        return { asked, pulled: first.pulled, pushed: second.pushed,
                 leaked: JSON.stringify([db.status(), seen]).includes(good.split(".")[2]) };
    }""", [app_jwt("carol", audience="someone-else"), good])
    assert outcome == {"asked": ["start", "refused"], "pulled": 1, "pushed": 1, "leaked": False}
    context.close()


def test_two_users_on_one_browser_never_share_local_data(browser: Any,
                                                         users_server: RunningServer) -> None:
    context = browser.new_context()
    page = context.new_page()
    forward_console(page)
    page.goto(manual(users_server.url))
    page.wait_for_function(SIGN_IN_SHOWN, timeout=READY_TIMEOUT_MS)
    assert not page.evaluate("() => window.ducksyncClient")  # no database before sign-in
    page.fill("#signin-user", "alice")
    page.fill("#signin-password", "wrong")
    page.click("#signin-submit")
    page.wait_for_selector("#signin-error:not([hidden])")
    assert "wrong username or password" in (page.text_content("#signin-error") or "").lower()
    assert page.input_value("#signin-password") == ""  # never left in the form

    sign_in(page, "alice")
    alice_db = database(page)
    assert alice_db.startswith("opfs://ducksync-u") and "alice" not in alice_db
    first = sync(page)
    assert first["converged"], f"{first}"  # her slice of notes: none of carol's rows
    ex(page, "INSERT INTO notes VALUES (1, 'alice', 'alice synced')")
    assert sync(page)["pushed"] == 1  # with her session token, via getToken
    ex(page, "INSERT INTO notes VALUES (2, 'alice', 'alice written offline later synced')")

    # The server unreachable: her data opens anyway (the last signed-in user).
    page.route("**/api/**", lambda route: route.abort())
    page.route("**/readyz", lambda route: route.abort())
    page.reload()
    wait_ready(page)
    assert page.evaluate("() => window.ducksyncSession.state().mode") == "offline"
    assert "alice (offline" in (page.text_content("#account-user") or "")
    assert [r["id"] for r in q(page, "SELECT id FROM notes ORDER BY id")] == [1, 2]
    # Back online, but her session ended meanwhile (cookie gone: expired, or signed out
    # elsewhere): sync says so, the form asks for her again over her data, and signing in
    # resumes syncing in place.
    context.clear_cookies()
    page.unroute_all()
    page.evaluate("() => window.ducksync.remoteHealth()")  # back online now, not in 5 s
    page.evaluate("() => { window.sameDocument = true; }")
    refused = sync(page)
    assert refused["outcome"] == "error" and refused["pushed"] == 0
    assert refused["error"]["code"] == "auth" and "session of alice ended" in \
        refused["error"]["message"]
    page.wait_for_selector("#signin:not([hidden])")
    assert page.input_value("#signin-user") == "alice"
    assert "alice (signed out" in (page.text_content("#account-user") or "")
    page.fill("#signin-password", PASSWORDS["alice"])
    page.click("#signin-submit")
    page.wait_for_function("() => window.ducksyncSession.state().mode === 'signed-in'")
    resumed = sync(page)  # (the page's own sync after sign-in may have sent row 2 already)
    assert resumed["outcome"] != "error" and resumed["converged"], resumed
    assert page.evaluate("() => window.sameDocument")  # no reload for the same user
    ex(page, "INSERT INTO notes VALUES (3, 'alice', 'alice local only')")

    sign_out(page)
    sign_in(page, "bob")
    bob_db = database(page)
    assert bob_db != alice_db
    assert q(page, "SELECT count(*) AS n FROM duckdb_tables() WHERE table_name = 'notes'") \
        == [{"n": 0}]
    report = sync(page)  # a full sync: his slice only
    assert report["converged"] and report["pushed"] == 0
    assert q(page, "SELECT count(*) AS n FROM notes") == [{"n": 0}]
    page.select_option("#remote-transport", "motherduck")  # says it bypasses sign-in
    assert page.is_visible("#remote-single-user")

    sign_out(page, clear=True)
    files = page.evaluate(OPFS_FILES)
    assert alice_db.removeprefix("opfs://") in files  # hers stays: she did not ask
    assert not [f for f in files if f.startswith(bob_db.removeprefix("opfs://"))]
    context.close()

    users_server.stop()
    with duckdb.connect(str(users_server.remote), read_only=True) as con:
        assert con.execute("SELECT id FROM notes WHERE owner <> 'carol' ORDER BY id").fetchall() \
            == [(1,), (2,)]  # alice's row 3 never left her database; bob sent nothing
        assert con.execute("SELECT count(*) FROM notes WHERE id = 100").fetchall() == [(1,)]

