"""Fixtures shared by every test: a real server on a free port and real Chromium.

One server and one browser per test session (starting them dominates the cost);
each browser test gets a fresh context, so OPFS and caches start empty unless a
test reloads its own page.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("ducksync.tests")


def _load_playwright_config() -> Any:
    config_file = ROOT / "playwright.config.py"
    spec = importlib.util.spec_from_file_location("playwright_config", config_file)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


playwright_config = _load_playwright_config()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], log_path: Path,
                       timeout: float = 30.0) -> None:
    """Poll ``/healthz`` until it answers; fail with the server's output if it dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n"
                               f"{log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.05)
    raise RuntimeError(f"server not healthy after {timeout}s:\n{log_path.read_text()}")


class RunningServer:
    """A ``ducksync serve`` subprocess; ``output()`` is what it printed so far."""

    def __init__(self, *, url: str, remote: Path, log_path: Path,
                 process: subprocess.Popen[bytes]) -> None:
        self.url = url
        self.remote = remote
        self.log_path = log_path
        self.process = process

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(tmp: Path, *, env: dict[str, str] | None = None,
                 extra_args: tuple[str, ...] = ()) -> RunningServer:
    port = free_port()
    remote = tmp / "remote.duckdb"
    log_path = tmp / "server.log"
    with log_path.open("wb") as log_file:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "ducksync", "serve", "--port", str(port),
             "--remote", str(remote), *extra_args],
            cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process, log_path)
    except Exception:
        process.kill()
        raise
    return RunningServer(url=url, remote=remote, log_path=log_path, process=process)


_SERVER_KEY = pytest.StashKey[RunningServer]()
_SERVER_FIXTURES = {"server", "server_url", "app_page"}


@pytest.fixture(scope="session")
def server(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The real server, with an empty embedded remote in a temp folder."""
    running = start_server(tmp_path_factory.mktemp("server"))
    request.config.stash[_SERVER_KEY] = running
    yield running
    running.process.terminate()
    try:
        running.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        running.process.kill()


@pytest.fixture(scope="session")
def server_url(server: RunningServer) -> str:
    return server.url


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """When a test that used the server fails, show what the server printed."""
    outcome = yield
    report = outcome.get_result()
    running = item.config.stash.get(_SERVER_KEY, None)
    used_server = _SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ()))
    if report.failed and running is not None and used_server:
        report.sections.append(("ducksync server output", running.output()[-20000:]))


# --- Browser (pytest-playwright) -------------------------------------------------------

@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Launch Debian's chromium; Playwright's own download is unavailable here."""
    return {**browser_type_launch_args, **playwright_config.launch_options()}


@pytest.fixture
def page(page: Any) -> Any:
    """pytest-playwright's page with the browser console (page and workers) in the test log."""
    page.on("console", lambda msg: log.info("[browser %s] %s", msg.type, msg.text))
    page.on("pageerror", lambda exc: log.error("[browser pageerror] %s", exc))
    page.on("worker", lambda worker: log.info("[browser] worker started: %s", worker.url))
    return page


APP_READY_TIMEOUT_MS = 90_000


def open_app(page: Any, url: str) -> Any:
    """Navigate to the app and wait until the page says both workers are ready."""
    page.goto(url)
    page.wait_for_function("() => window.ducksync && document.body.dataset.ready === 'true'",
                           timeout=APP_READY_TIMEOUT_MS)
    return page


@pytest.fixture
def app_page(page: Any, server_url: str) -> Any:
    """A page at the app with ``window.ducksync`` connected (both workers ready)."""
    return open_app(page, server_url)
