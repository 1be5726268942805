"""Multi-tab: one owner tab runs the workers (Web Lock); followers go through it; takeover.

Two pages of one browser context share an origin, hence OPFS: only the owner may open
the database. The follower's queries are answered by the owner's workers; when the
owner's page closes, the follower takes the lock, boots its own workers and reads the
same OPFS data.
"""

from __future__ import annotations

from typing import Any

import pytest
from pageutil import evaluate_error, forward_console, wait_ready

pytestmark = pytest.mark.browser

ROLE = "() => window.ducksync.status().tab.role"
OWNER_READY = ("() => window.ducksync && window.ducksync.status().tab.role === 'owner'"
               " && window.ducksync.status().local.phase === 'ready'")


def new_page(context: Any, url: str) -> Any:
    page = context.new_page()
    forward_console(page)
    page.goto(url)
    return wait_ready(page)


def test_second_tab_follows_the_owner_then_takes_over(browser: Any, server_url: str) -> None:
    context = browser.new_context()
    try:
        first = new_page(context, server_url)
        first.evaluate("""async () => {
            await window.ducksync.exec("CREATE TABLE birds (id INTEGER, name VARCHAR)");
            await window.ducksync.exec("INSERT INTO birds VALUES (1, 'mallard'), (2, 'teal')");
        }""")
        second = new_page(context, server_url)

        owner, follower = first.evaluate("window.ducksync.status().tab"), \
            second.evaluate("window.ducksync.status().tab")
        assert owner["role"] == "owner" and follower["role"] == "follower"
        assert follower["owner"] == owner["id"]
        # The follower mirrors the owner's workers and says where the database is open.
        assert second.evaluate("window.ducksync.status().local.phase") == "ready"
        assert second.locator("#status-tab").get_attribute("data-role") == "follower"
        assert owner["id"] in (second.locator("#status-tab").text_content() or "")
        assert first.locator("#status-tab").get_attribute("data-role") == "owner"
        # No worker of its own: the follower never touched OPFS.
        assert len(second.workers) == 0

        # Its requests are answered by the owner (Arrow bytes forwarded, errors typed).
        assert second.evaluate("window.ducksync.query('SELECT * FROM birds ORDER BY id')") \
            == [{"id": 1, "name": "mallard"}, {"id": 2, "name": "teal"}]
        second.evaluate("window.ducksync.exec(\"INSERT INTO birds VALUES (3, 'wigeon')\")")
        assert first.evaluate("window.ducksync.query('SELECT count(*) AS n FROM birds')") \
            == [{"n": 3}]
        error = evaluate_error(second, "window.ducksync.query('SELEC 1')")
        assert error["isError"] and error["name"] == "QueryError" and error["code"] == "query"
        assert second.evaluate("window.ducksync.ping('peer')")["peer"]["worker"] == "remote"

        # The owner closes: the follower takes the lock, boots its workers, same OPFS data.
        first.close()
        second.wait_for_function(OWNER_READY, timeout=90_000)
        assert len(second.workers) >= 2
        assert second.evaluate("window.ducksync.query('SELECT name FROM birds ORDER BY id')") \
            == [{"name": "mallard"}, {"name": "teal"}, {"name": "wigeon"}]
        assert second.locator("#status-tab").get_attribute("data-role") == "owner"

        # A tab opened now follows the new owner.
        third = new_page(context, server_url)
        assert third.evaluate("window.ducksync.status().tab.owner") == follower["id"]
        assert third.evaluate("window.ducksync.query('SELECT count(*) AS n FROM birds')") \
            == [{"n": 3}]
    finally:
        context.close()


def test_request_pending_at_the_owner_when_it_closes_fails_retryably(
        browser: Any, server_url: str) -> None:
    context = browser.new_context()
    try:
        first = new_page(context, server_url)
        second = new_page(context, server_url)
        assert second.evaluate(ROLE) == "follower"
        # The owner's workers stop answering (a query that is still running, say) ...
        first.evaluate("window.ducksync.local.bind({request: () => new Promise(() => {})})")
        second.evaluate("""() => {
            window.pending = window.ducksync.query("SELECT 1 AS one")
                .then(() => ({settled: "resolved"}),
                      (e) => ({settled: "rejected", name: e.name, code: e.code, hint: e.hint}));
        }""")
        # ... and its page closes with the follower's request still there.
        first.close()
        outcome = second.evaluate("window.pending")
        assert outcome["settled"] == "rejected"
        assert outcome["name"] == "OwnerGoneError" and outcome["code"] == "owner_gone"
        assert "retry" in outcome["hint"]
        second.wait_for_function(OWNER_READY, timeout=90_000)
        assert second.evaluate("window.ducksync.query('SELECT 1 AS one')") == [{"one": 1}]
    finally:
        context.close()
