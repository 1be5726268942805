"""The kit's fixtures: ``ducksync_server``, ``ducksync_device`` and the browser launch.

Registered by :mod:`ducksync.testing.plugin`. Devices come from pytest-playwright's
``new_context``, so ``--headed``, ``--slowmo``, ``--browser-channel``, ``--tracing``,
``--video`` and ``--screenshot`` apply to them as to any Playwright test.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from ducksync.testing.browser import complete_launch_args
from ducksync.testing.device import DEFAULT_CLIENT, READY_TIMEOUT_MS, Device, DeviceError
from ducksync.testing.plugin import fixtures_key
from ducksync.testing.server import DucksyncServer, Users

ServerFactory = Callable[..., DucksyncServer]
DeviceFactory = Callable[..., Device]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any], browser_type: Any,
                             browser_name: str | None) -> dict[str, Any]:
    """pytest-playwright's launch options, plus a Chromium that exists on this machine
    (``DUCKSYNC_CHROMIUM``, Playwright's download, or ``chromium`` on PATH) and its flags."""
    return complete_launch_args(browser_type_launch_args, browser_name=browser_name,
                                bundled_executable=browser_type.executable_path)


@pytest.fixture
def ducksync_server(request: pytest.FixtureRequest,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    """``ducksync_server(remote=None, env=None, users=None, rules=None, web_root=None)``:
    a started real ``ducksync serve`` on a free port with a fresh remote DuckDB file.

    ``users``: names (password ``NAME-password``) or ``{name: password}``; ``rules``: a
    sync-rules file path or TOML text (``DUCKSYNC_RULES``); ``web_root``: your app's folder,
    served at ``/`` with ducksync's ``/dist/`` and ``/sw.js`` filling in. Stopped at
    teardown; a failing test shows its log.
    """
    servers = request.node.stash.setdefault(fixtures_key("servers"), [])

    def start(remote: str | Path | None = None, env: dict[str, str] | None = None,
              users: Users | None = None, rules: str | Path | None = None,
              web_root: str | Path | None = None) -> DucksyncServer:
        server = DucksyncServer(tmp_path_factory.mktemp("ducksync-server"), remote=remote,
                                env=env, users=users, rules=rules, web_root=web_root)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def ducksync_device(request: pytest.FixtureRequest, new_context: Any) -> Iterator[DeviceFactory]:
    """``ducksync_device(server, user=None, path="/")``: the app in a new browser context
    (its own OPFS and service worker), returned once its ducksync client is ready.

    Also ``password=`` (default: the server's), ``name=`` (default ``A``, ``B``, ...),
    ``client=`` (the JS expression of the app's client, ``window.ducksync``),
    ``context_args=`` (for ``browser.new_context``), ``allow_console_errors=`` (regexes,
    from the first load on). Console errors of any device fail the test at teardown unless
    allowed (that, or ``device.allow_console_errors``) or expected
    (``with device.expect_console_errors(...)``).
    """
    devices = request.node.stash.setdefault(fixtures_key("devices"), [])

    def open_device(server: DucksyncServer, user: str | None = None, path: str = "/", *,
                    password: str | None = None, name: str | None = None,
                    client: str = DEFAULT_CLIENT, context_args: dict[str, Any] | None = None,
                    allow_console_errors: Sequence[str] = (),
                    ready_timeout_ms: int = READY_TIMEOUT_MS) -> Device:
        context = new_context(**(context_args or {}))
        device = Device(context, server, name=name or _device_name(len(devices)), path=path,
                        client=client)
        device.allow_console_errors(*allow_console_errors)
        devices.append(device)
        if user is not None:
            _log_in(device, server, user, password)
        return device.open(timeout_ms=ready_timeout_ms)

    yield open_device
    unexpected = [f"{device.name}: {error}" for device in devices
                  for error in device.console_errors]
    if unexpected:
        pytest.fail("browser console errors (allow them with device.allow_console_errors(...) "
                    "or expect them with `with device.expect_console_errors(...)`):\n  "
                    + "\n  ".join(unexpected), pytrace=False)


def _device_name(index: int) -> str:
    letters = string.ascii_uppercase
    return letters[index] if index < len(letters) else f"device{index + 1}"


def _log_in(device: Device, server: DucksyncServer, user: str, password: str | None) -> None:
    """Sign the context in (the session cookie is the context's, as after a login form)."""
    secret = password if password is not None else server.users.get(user)
    if secret is None:
        raise DeviceError(f"device {device.name}: no password for user {user!r}; start the "
                          f"server with users=[{user!r}] or pass password=")
    response = device.context.request.post(f"{server.url}/api/v1/auth/login",
                                           data={"username": user, "password": secret})
    if not response.ok:
        raise DeviceError(f"device {device.name}: login as {user!r} refused "
                          f"({response.status}): {response.text()}")
