"""The plugin as an app's test suite sees it: an inner pytest run of a file using the kit.

The inner run (a subprocess) loads the plugin by its entry-point name (``-p``), as an
installed ``ducksync[testing]`` does, and uses a tiny app page (no ducksync boot) so that what is
checked here is the kit: failure messages, server logs, console errors, readiness.
"""

from __future__ import annotations

import re

import httpx
import pytest

pytest_plugins = ["pytester"]

INNER = '''
from pathlib import Path

import duckdb
import pytest
from ducksync.testing import assert_converged, start_server

APP = """<script>window.app = {ping: () => "pong"};
console.error("boom: the app broke");</script>"""


class Frozen:
    def __init__(self, name, rows):
        self.name, self.rows = name, rows

    def query(self, sql):
        return [{"col": "id"}] if "duckdb_constraints" in sql else self.rows


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    app = tmp_path_factory.mktemp("app")
    (app / "index.html").write_text(APP)
    (app / "blank.html").write_text("<p>no client here</p>")
    server = start_server(tmp_path_factory.mktemp("server"), web_root=app)
    yield server
    server.stop()


def test_pair_not_converged(ducksync_server, tmp_path):
    with duckdb.connect(str(tmp_path / "r.duckdb")) as con:
        con.execute("CREATE TABLE todos AS "
                    "SELECT * FROM (VALUES (1, 'milk'), (2, 'eggs')) t(id, text)")
    server = ducksync_server(remote=tmp_path / "r.duckdb")
    (Path.cwd() / "url").write_text(server.url)
    a = Frozen("A", [{"id": "1", "text": "milk"}, {"id": "2", "text": "eggs"}])
    b = Frozen("B", [{"id": "1", "text": "milk"}, {"id": "2", "text": "EGGS"}])
    assert_converged(server, a, b, table="todos")


def test_console_error_fails_the_test(app_server, ducksync_device):
    device = ducksync_device(app_server, client="window.app")
    assert device.call("ping") == "pong"


def test_expected_console_error_passes(app_server, ducksync_device):
    device = ducksync_device(app_server, client="window.app", allow_console_errors=["^boom"])
    with device.expect_console_errors("boom: the app"):
        device.reload()


def test_expected_error_that_never_comes_fails(app_server, ducksync_device):
    device = ducksync_device(app_server, client="window.app", allow_console_errors=["boom"])
    with device.expect_console_errors("never printed"):
        device.call("ping")


def test_page_without_the_client(app_server, ducksync_device):
    ducksync_device(app_server, path="/blank.html", client="window.app", ready_timeout_ms=500)
'''


def test_an_apps_suite_gets_diffs_logs_and_console_errors(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_app=INNER)
    # In a subprocess: pytest-playwright keeps process-wide state (its soft-assertion scope).
    result = pytester.runpytest_subprocess("-p", "ducksync.testing.plugin",
                                           "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=3, errors=1)
    out = result.stdout.str()
    # the non-converged pair: which device, which key, which column, both values
    assert "table 'todos' has not converged (remote: 2 rows; A: 2 rows; B: 2 rows):" in out
    assert "B differs from the remote on 1 key:" in out
    assert "id='2': remote {text: 'eggs'}, B {text: 'EGGS'}" in out
    assert "A differs" not in out
    # ... with the server's log, and the server stopped at teardown
    assert re.search(r"ducksync server http://127\.0\.0\.1:\d+ log", out)
    assert "POST\", \"route\": \"/api/v1/console/query\"" in out
    with pytest.raises(httpx.TransportError):
        httpx.get((pytester.path / "url").read_text() + "/healthz", timeout=2)
    # a console error fails the test that caused it, at teardown, naming the device
    assert "ERROR at teardown of test_console_error_fails_the_test" in out
    assert "browser console errors" in out and "A: boom: the app broke" in out
    assert "status of 404" not in out  # Chromium's own favicon request is not the app's error
    # an expectation that never showed fails; a page that never exposes its client says so
    assert "device A: expected console errors matching ['never printed'] but none came" in out
    assert re.search(r"device A: window\.app was not set within 0\.5 s at http://127\.0\.0\.1:\d+"
                     r"/blank\.html; the page must expose its ducksync client there", out)
