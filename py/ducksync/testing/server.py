"""A real ``ducksync serve`` for a test: free port, fresh remote, logs, kill and restart.

The server is the real CLI in a subprocess (the same code users deploy), so a test can
kill it mid-push and bring "the same server" back on the same port and remote file.
Reading the remote while it runs goes through the server's own read-only console
(``POST /api/v1/console/query``, switched on for test servers): the server holds the
DuckDB file's lock, and a second process must not open it behind its back.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

HEALTH_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
# Test servers answer the console with every row: a comparison must see the whole table.
CONSOLE_MAX_ROWS = 10_000_000
Users = Mapping[str, str] | Iterable[str]


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def default_password(user: str) -> str:
    """The password ``users=["alice"]`` gives ``alice`` (``users={...}`` names them)."""
    return f"{user}-password"


class ServerError(RuntimeError):
    """The test server did not start, or answered a kit request with an error."""


class DucksyncServer:
    """One ``ducksync serve`` process with its own folder, port and remote.

    Made by the ``ducksync_server`` fixture (or :func:`start_server`); ``kill()`` and
    ``restart()`` keep the port and the remote file, so pages reconnect to the same origin.
    """

    def __init__(self, folder: Path, *, remote: str | Path | None = None,
                 env: Mapping[str, str] | None = None, users: Users | None = None,
                 rules: str | Path | None = None, web_root: str | Path | None = None,
                 port: int | None = None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.remote = str(remote) if remote is not None else str(folder / "remote.duckdb")
        self.log_path = folder / "server.log"
        self.users: dict[str, str] = _user_passwords(users)
        self._api_key: str | None = None
        self._env = self._server_env(dict(env or {}), rules=rules, web_root=web_root)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def remote_path(self) -> Path | None:
        """The remote DuckDB file (None for an ``md:`` remote)."""
        return None if self.remote.startswith("md:") else Path(self.remote)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _server_env(self, env: dict[str, str], *, rules: str | Path | None,
                    web_root: str | Path | None) -> dict[str, str]:
        defaults = {"DUCKSYNC_READONLY_CONSOLE": "1",
                    "DUCKSYNC_CONSOLE_MAX_ROWS": str(CONSOLE_MAX_ROWS),
                    # one session key for all runs: a signed-in device stays signed in
                    # across kill() and restart(), as with a deployed DUCKSYNC_SECRET
                    "DUCKSYNC_SECRET": secrets.token_hex(32)}
        if self.users:
            from ducksync.server.auth import hash_password

            entries = [f"{name}:{hash_password(password)}" for name, password in
                       self.users.items()]
            env["DUCKSYNC_USERS"] = ",".join(filter(None, [env.get("DUCKSYNC_USERS"),
                                                           *entries]))
        if self.users or {"DUCKSYNC_USERS", "DUCKSYNC_USERS_FILE",
                          "DUCKSYNC_API_KEYS"} & env.keys():
            # With auth on, the kit reads the remote as a machine of its own.
            self._api_key = "kit-" + secrets.token_urlsafe(16)
            env["DUCKSYNC_API_KEYS"] = ",".join(filter(None, [env.get("DUCKSYNC_API_KEYS"),
                                                              self._api_key]))
        if rules is not None:
            env["DUCKSYNC_RULES"] = str(_rules_file(rules, self.folder))
        if web_root is not None:
            env["DUCKSYNC_APP_ROOT"] = str(Path(web_root).resolve())
        return {**defaults, **env}

    def start(self) -> DucksyncServer:
        """Start the process and wait for ``/healthz`` (the log says why if it dies)."""
        if self.running:
            raise ServerError(f"the server at {self.url} is already running")
        with self.log_path.open("ab") as log_file:  # the child keeps its copy; restarts append
            self._process = subprocess.Popen(
                [sys.executable, "-m", "ducksync", "serve", "--port", str(self.port),
                 "--remote", self.remote],
                cwd=self.folder, stdout=log_file, stderr=subprocess.STDOUT,
                env={**os.environ, **self._env})
        try:
            self._wait_healthy()
        except BaseException:
            self.kill()
            raise
        return self

    def _wait_healthy(self) -> None:
        import httpx

        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise ServerError(f"ducksync serve exited with {self._process.returncode} "
                                  f"before answering:\n{self.logs()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)  # polling a port that is not open yet, not a readiness guess
        raise ServerError(f"ducksync serve did not answer /healthz within {HEALTH_TIMEOUT_S:.0f}"
                          f" s:\n{self.logs()}")

    def stop(self) -> None:
        """Terminate politely (in-flight requests finish), kill after 10 s."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL: the server dies mid-request, as in a crash or an OOM kill."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
        if self._process is not None:
            self._process.wait()

    def restart(self) -> DucksyncServer:
        """Stop if running, then the same server again: same port, remote and settings."""
        self.stop()
        return self.start()

    def logs(self) -> str:
        """Everything the server printed so far (all its runs)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Rows of one ``SELECT`` on the remote, as dicts of Python values.

        While the server runs, through its read-only console (it owns the file); once it
        is stopped or killed, from the file itself, opened read-only.
        """
        import pyarrow as pa  # type: ignore[import-untyped]

        if not self.running:
            if self.remote_path is None:
                raise ServerError("the server is not running: an md: remote is read through it")
            import duckdb

            with duckdb.connect(str(self.remote_path), read_only=True) as con:
                table = con.execute(sql).to_arrow_table()
            return list(table.to_pylist())
        import httpx

        headers = {"x-api-key": self._api_key} if self._api_key else {}
        response = httpx.post(f"{self.url}/api/v1/console/query", json={"sql": sql},
                              headers=headers, timeout=60)
        if response.status_code != 200:
            raise ServerError(f"the remote refused {sql!r}: {response.text}")
        rows: list[dict[str, Any]] = pa.ipc.open_stream(response.content).read_all().to_pylist()
        return rows

    def __repr__(self) -> str:
        return f"DucksyncServer({self.url}, remote={self.remote!r})"


def _user_passwords(users: Users | None) -> dict[str, str]:
    if users is None:
        return {}
    if isinstance(users, Mapping):
        return {str(name): str(password) for name, password in users.items()}
    if isinstance(users, str):
        raise TypeError("users= takes names or a {name: password} mapping, not one string: "
                        f"write users=[{users!r}]")
    return {name: default_password(name) for name in users}


def _rules_file(rules: str | Path, folder: Path) -> Path:
    """A rules file path as given, or TOML text written to ``folder/rules.toml``."""
    if isinstance(rules, Path):
        return rules.resolve()
    if "\n" not in rules and "=" not in rules:
        return Path(rules).resolve()
    path = folder / "rules.toml"
    path.write_text(rules)
    return path


def start_server(folder: Path, **options: Any) -> DucksyncServer:
    """A started :class:`DucksyncServer` in ``folder`` (for module- or session-scoped
    fixtures; stop it yourself). Options as for the ``ducksync_server`` fixture."""
    return DucksyncServer(folder, **options).start()
