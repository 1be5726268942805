"""Sync rules seen from the page: only this user's rows arrive, and a row written for
someone else is rejected, shown in the sync panel, kept, and discarded from there.

The server runs with a rules file in open loopback dev mode (the page's sign-in form is
another piece of issue 16), so the page's principal is ``dev``: ``owner = $user`` gives it
the ``dev`` rows only. One page, one server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
from pageutil import ex, manual, q, sync

from serverutil import running_server

pytestmark = pytest.mark.browser


def test_the_page_syncs_its_slice_and_shows_a_rejection_it_can_discard(
        open_app: Any, tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "remote.duckdb")) as con:
        con.execute("CREATE TABLE todos (id INTEGER PRIMARY KEY, owner VARCHAR, title VARCHAR)")
        con.execute("INSERT INTO todos VALUES (1, 'dev', 'mine'), (2, 'bob', 'not mine'), "
                    "(3, 'dev', 'mine too')")
    (tmp_path / "rules.toml").write_text('[tables.todos]\nfilter = "owner = $user"\n')
    with running_server(tmp_path, env={"DUCKSYNC_RULES": str(tmp_path / "rules.toml")}) as srv:
        page = open_app(manual(srv.url))
        assert sync(page)["converged"]
        assert q(page, "SELECT id FROM todos ORDER BY id") == [{"id": 1}, {"id": 3}]
        ex(page, "INSERT INTO todos VALUES (9, 'bob', 'planted for bob')")
        page.click("#sync-now")
        item = page.locator('#rejection-list li.rejection[data-table="todos"][data-key="9"]')
        item.wait_for()
        assert page.is_visible("#rejections") and page.inner_text("#rejections-count") == "1"
        assert "would not be yours" in item.inner_text()
        assert "planted for bob" in item.inner_text()  # this device's row, kept
        assert "rejected by the server's sync rules" in page.inner_text("#sync-detail")
        assert page.evaluate("window.ducksync.status().sync.rejections") == 1
        item.locator('button[data-act="discard"]').click()
        page.wait_for_function("document.getElementById('rejections').hidden")
        assert sync(page)["converged"]
        assert q(page, "SELECT id FROM todos ORDER BY id") == [{"id": 1}, {"id": 3}]
    with duckdb.connect(str(tmp_path / "remote.duckdb")) as con:
        assert con.execute("SELECT id, owner FROM todos ORDER BY id").fetchall() == [
            (1, "dev"), (2, "bob"), (3, "dev")]
