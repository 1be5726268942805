"""How the remote worker turns an HTTP probe of our server into connected/offline/failed.

* the server does not answer at all (network error, browser offline) -> ``offline``:
  local work goes on and is synced later;
* ``/readyz`` answers 200 -> ``connected``;
* it answers anything else -> ``failed`` with the server's own error message
  (the server is up but the remote is not usable: wrong path, bad token).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ducksync import protocol


@dataclass(frozen=True, slots=True)
class HealthCheck:
    state: str
    reason: str | None = None
    remote: str | None = None

    def to_payload(self) -> dict[str, Any]:
        return {"status": self.state, "reason": self.reason, "remote": self.remote}


def classify_health(*, status: int | None, body: object = None,
                    error: str | None = None) -> HealthCheck:
    """``status`` is the HTTP status, or None when the request itself failed with ``error``."""
    if status is None:
        return HealthCheck(protocol.OFFLINE, reason=f"server unreachable: {error or 'no answer'}")
    data: Mapping[str, Any] = body if isinstance(body, Mapping) else {}
    if status == 200:
        remote = data.get("remote")
        return HealthCheck(protocol.CONNECTED, remote=str(remote) if remote else None)
    error_body = data.get("error")
    message = error_body.get("message") if isinstance(error_body, Mapping) else None
    return HealthCheck(protocol.FAILED, reason=str(message or f"server answered HTTP {status}"))
