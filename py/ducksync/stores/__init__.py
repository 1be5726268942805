"""Store implementations the engine drives (see :mod:`ducksync.engine.store`).

:func:`open_store` is the one place a REMOTE spec becomes a store, so new
transports plug in here: a path or ``:memory:`` and ``md:DB`` are native today;
``http(s)://`` (the proxy server) is reserved for the HTTP store.
"""

from __future__ import annotations

from ducksync.engine.store import LocalStore, RemoteStore
from ducksync.errors import DucksyncError

__all__ = ["open_local", "open_store"]


def open_store(spec: str) -> RemoteStore:
    """The remote store for ``spec``: a DuckDB path, ``md:DB`` or (later) ``http(s)://``."""
    if spec.startswith(("http://", "https://")):
        # --- HTTP proxy transport (server engineer, issue 4): ducksync serve's sync API ---
        from ducksync.stores.http import HttpRemoteStore

        return HttpRemoteStore(url=spec)
    if not spec:
        raise DucksyncError("empty REMOTE", hint="pass a DuckDB file path or md:DB")
    from ducksync.stores.native import NativeRemoteStore

    return NativeRemoteStore(spec=spec)


def open_local(spec: str) -> LocalStore:
    """The local (engine-owned) store: a DuckDB file path or ``md:DB``."""
    if spec.startswith(("http://", "https://")):
        raise DucksyncError(f"LOCAL must be a DuckDB database, not {spec}",
                            hint="pass the local DuckDB file first, the remote second")
    from ducksync.stores.native import NativeLocalStore

    return NativeLocalStore(spec=spec)
