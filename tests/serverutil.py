"""Start real ``ducksync serve`` processes for tests: free port, readiness, output, stop;
and, where a test must share its process with the server, the app on a thread.

Imported by conftests and tests alike (``from serverutil import start_server``), so
there is one way to run a server in tests and never an import of a conftest.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


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

    def stop(self) -> None:
        """Terminate politely, then kill if it does not exit within 10 s."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server(tmp: Path, *, env: dict[str, str] | None = None,
                 extra_args: tuple[str, ...] = (), port: int | None = None) -> RunningServer:
    """Start ``ducksync serve`` with its remote at ``tmp/remote.duckdb``.

    Pass the ``port`` (and ``tmp``) of a stopped server to bring "the same server" back,
    as a reconnect test needs: same origin for the page, same remote file.
    """
    port = port or free_port()
    remote = tmp / "remote.duckdb"
    log_path = tmp / "server.log"
    with log_path.open("ab") as log_file:  # the child keeps its own copy; a restart appends
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


@contextmanager
def running_server(tmp: Path, *, env: dict[str, str] | None = None,
                   extra_args: tuple[str, ...] = (), port: int | None = None
                   ) -> Iterator[RunningServer]:
    """A server for the duration of a ``with`` block (or a fixture's yield)."""
    server = start_server(tmp, env=env, extra_args=extra_args, port=port)
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def app_in_thread(app: Any, port: int) -> Iterator[str]:
    """``app`` (``create_app``'s, on ``port``) served by uvicorn on a thread of this
    process until the block ends; its URL. For tests that must share this process with
    the server: to inject a stand-in reachable from Python only, or to run two servers on
    one DuckDB file (DuckDB lets one process at a time open it read-write)."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:  # readiness: uvicorn's own flag, bounded
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
