"""The transport rules the remote worker applies (ducksync.worker.transport)."""

from __future__ import annotations

import pytest

from ducksync.errors import AuthError, ProtocolError, QueryError, RemoteUnavailableError
from ducksync.worker.transport import login_error, scrub, service_url

DEFAULT = "http://127.0.0.1:8000/dist/md_service.worker.js"


def test_a_custom_service_is_honoured_only_on_loopback_and_same_origin() -> None:
    assert service_url(None, default=DEFAULT, origin="https://app.example",
                       hostname="app.example") == DEFAULT
    got = service_url("/dist/loopback_sql.worker.js", default=DEFAULT,
                      origin="http://127.0.0.1:8000", hostname="127.0.0.1")
    assert got == "http://127.0.0.1:8000/dist/loopback_sql.worker.js"
    with pytest.raises(ProtocolError):
        service_url("/dist/x.js", default=DEFAULT, origin="https://app.example",
                    hostname="app.example")
    with pytest.raises(ProtocolError):
        service_url("https://evil.example/x.js", default=DEFAULT,
                    origin="http://127.0.0.1:8000", hostname="127.0.0.1")


def test_login_errors_are_typed_and_never_carry_the_token() -> None:
    token = "secret-token-123"
    err = login_error(f'Invalid token "{token}" (401)', token)
    assert isinstance(err, AuthError) and token not in str(err) and "***" in str(err)
    assert err.hint and "token" in err.hint
    assert isinstance(login_error("Failed to fetch app.motherduck.com", token),
                      RemoteUnavailableError)
    assert scrub("abc", "ab") == "abc"  # too short to mask safely


@pytest.mark.parametrize(("message", "kind"), [
    ("Request failed: Your request is not authenticated. Please check your MotherDuck token. "
     "(Jwt is not in the form of Header.Payload.Signature)", AuthError),
    ("Invalid token: authentication failed (HTTP 401)", AuthError),
    ("HTTP 403 Forbidden", AuthError),
    # "token" alone is not a refusal: a network failure fetching a token endpoint...
    ("Failed to fetch https://api.motherduck.com/token/refresh: NetworkError",
     RemoteUnavailableError),
    # ...and a parser message are not.
    ('Parser Error: syntax error at or near token ")"', RemoteUnavailableError),
    # A database the account does not have: the name is the fix, not the network.
    ('Catalog Error: Database "birdz" does not exist!', QueryError),
    ("Binder Error: No database/schema named 'birdz' found", QueryError),
    ("no database/share named 'birdz' found", QueryError),
    ("Failed to fetch app.motherduck.com", RemoteUnavailableError),
])
def test_login_errors_are_classified_by_what_to_fix(message: str, kind: type) -> None:
    err = login_error(message, "secret-token-123", "birdz")
    assert type(err) is kind, (message, err)
    if kind is QueryError:
        assert "`birdz`" in err.message and err.hint and "database name" in err.hint
