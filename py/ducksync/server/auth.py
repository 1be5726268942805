"""Who may call the sync API: users with scrypt passwords, machine API keys, signed sessions.

The seed's flow, with the standard library only (no JWT dependency):

* users come from ``DUCKSYNC_USERS`` / ``DUCKSYNC_USERS_FILE`` as ``name:scrypt$...``
  lines (``python -m ducksync.server.auth NAME`` prints one), so the server never
  holds a clear password;
* machines present an API key; the server keeps only its SHA-256 (keys are long
  random strings, so a slow hash buys nothing);
* ``POST /api/v1/auth/login`` trades either for a short-lived *session token*:
  ``v1.<payload>.<hmac-sha256>`` signed with ``DUCKSYNC_SECRET`` (or a per-process
  random secret), sent as an HttpOnly SameSite=Strict cookie and in the body for
  bearer use. ``refresh`` re-signs a still-valid token up to a maximum lifetime;
* an app with its own identity provider sends that provider's JWTs as bearer tokens
  (verified by :mod:`ducksync.server.jwt_auth`; their claims ride on the principal).

``MOTHERDUCK_TOKEN`` plays no part here: clients never see or send it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ducksync.errors import AuthError
from ducksync.server.jwt_auth import JwtVerifier, looks_like_jwt

TOKEN_VERSION = "v1"
COOKIE_NAME = "ducksync_session"
API_KEY_PREFIX = "sha256:"
MAX_SESSION_AGE_S = 24 * 3600
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_LOGIN_HINT = "log in again: POST /api/v1/auth/login, or send a valid API key"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash``: the only form in which a password is stored."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R,
                            p=_SCRYPT_P, dklen=32)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = hashlib.scrypt(password.encode(), salt=_unb64(salt), n=int(n), r=int(r),
                                p=int(p), dklen=len(_unb64(digest)), maxmem=64 * 1024 * 1024)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, _unb64(digest))


def hash_api_key(key: str) -> str:
    """Digest of a machine key; an entry already written as ``sha256:HEX`` is kept as is."""
    if key.startswith(API_KEY_PREFIX):
        return key[len(API_KEY_PREFIX):].lower()
    return hashlib.sha256(key.encode()).hexdigest()


def parse_users(entries: Iterable[str]) -> dict[str, str]:
    """``name:scrypt$...`` lines → {name: hash}; blank lines and ``#`` comments skipped."""
    users: dict[str, str] = {}
    for raw in entries:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, stored = line.partition(":")
        if not sep or not stored.startswith("scrypt$"):
            raise AuthError(f"user entry for {name!r} is not 'name:scrypt$...'",
                            hint="create entries with: python -m ducksync.server.auth NAME")
        users[name.strip()] = stored.strip()
    return users


@dataclass(frozen=True, kw_only=True, slots=True)
class Principal:
    """The caller of one request. ``session`` keys the rate limiter.

    ``subject`` is who the caller is (sync rules' ``$user``); ``claims`` are the
    verified claims of a JWT (``$claims.*``; empty for other kinds). Fields are only
    ever added, so rules and routes can rely on the ones they read.
    """

    subject: str
    kind: str  # "user" | "api_key" | "dev" | "jwt"
    session: str
    auth_time: int = 0
    expires: int = 0
    claims: Mapping[str, Any] = field(default_factory=dict)


class Authenticator:
    """Checks credentials and issues/validates session tokens. Thread-safe (immutable)."""

    def __init__(self, *, users: Mapping[str, str], api_key_hashes: Iterable[str],
                 secret: bytes, ttl_s: int, open_mode: bool,
                 jwt: JwtVerifier | None = None) -> None:
        self._users = dict(users)
        self.jwt = jwt
        self._keys = frozenset(api_key_hashes)
        self._secret = secret
        self.ttl_s = ttl_s
        self.open_mode = open_mode
        self._dummy_hash = hash_password("timing-equaliser")

    @classmethod
    def from_settings(cls, *, users: Iterable[str], users_file: Path | None,
                      api_key_hashes: Iterable[str], secret: str | None, ttl_s: int,
                      open_mode: bool, jwt: JwtVerifier | None = None) -> Authenticator:
        entries = list(users)
        if users_file is not None:
            try:
                entries.extend(users_file.read_text().splitlines())
            except OSError as exc:
                raise AuthError(f"cannot read DUCKSYNC_USERS_FILE {users_file}: {exc.strerror}",
                                hint="check the path and the file's permissions") from exc
        key = secret.encode() if secret else secrets.token_bytes(32)
        return cls(users=parse_users(entries), api_key_hashes=api_key_hashes, secret=key,
                   ttl_s=ttl_s, open_mode=open_mode, jwt=jwt)

    # -- credentials ---------------------------------------------------------------
    def login_password(self, username: str, password: str) -> Principal:
        stored = self._users.get(username)
        ok = verify_password(password, stored or self._dummy_hash)
        if stored is None or not ok:
            raise AuthError("wrong username or password", hint="check both and try again")
        return self._new_principal(subject=username, kind="user")

    def check_api_key(self, key: str) -> Principal:
        digest = hash_api_key(key) if not key.startswith(API_KEY_PREFIX) else ""
        if not digest or not any(hmac.compare_digest(digest, k) for k in self._keys):
            raise AuthError("unknown API key", hint="check DUCKSYNC_API_KEY against the "
                            "server's DUCKSYNC_API_KEYS")
        # One limiter bucket per key: a short, non-reversible id.
        return Principal(subject=f"key:{digest[:12]}", kind="api_key",
                         session=f"key:{digest[:16]}")

    def _new_principal(self, *, subject: str, kind: str, auth_time: int | None = None,
                       ) -> Principal:
        now = int(time.time())
        return Principal(subject=subject, kind=kind, session=secrets.token_urlsafe(12),
                         auth_time=auth_time or now, expires=now + self.ttl_s)

    # -- session tokens ------------------------------------------------------------
    def issue(self, principal: Principal) -> tuple[str, Principal]:
        """A signed token for ``principal`` (an API-key caller gets its own session)."""
        if principal.kind != "user" or not principal.expires:
            principal = self._new_principal(subject=principal.subject, kind=principal.kind)
        return self._encode(principal), principal

    def verify(self, token: str) -> Principal:
        """The principal a token names; forged, malformed or expired → :class:`AuthError`."""
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != TOKEN_VERSION:
            raise AuthError("malformed session token", hint=_LOGIN_HINT)
        signed = f"{parts[0]}.{parts[1]}"
        if not hmac.compare_digest(self._sign(signed), parts[2]):
            raise AuthError("invalid session token signature", hint=_LOGIN_HINT)
        try:
            payload: dict[str, Any] = json.loads(_unb64(parts[1]))
            principal = Principal(subject=str(payload["sub"]), kind=str(payload["knd"]),
                                  session=str(payload["sid"]), auth_time=int(payload["iat"]),
                                  expires=int(payload["exp"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise AuthError("malformed session token", hint=_LOGIN_HINT) from exc
        if principal.expires <= time.time():
            raise AuthError("session expired", hint=_LOGIN_HINT)
        if principal.kind == "user" and principal.subject not in self._users:
            raise AuthError("user no longer exists", hint=_LOGIN_HINT)
        return principal

    def refresh(self, token: str) -> tuple[str, Principal]:
        """A fresh token for a still-valid one, within :data:`MAX_SESSION_AGE_S` of login."""
        old = self.verify(token)
        if time.time() - old.auth_time > MAX_SESSION_AGE_S:
            raise AuthError("session too old to refresh", hint=_LOGIN_HINT)
        now = int(time.time())
        fresh = Principal(subject=old.subject, kind=old.kind, session=old.session,
                          auth_time=old.auth_time, expires=now + self.ttl_s)
        return self._encode(fresh), fresh

    def _encode(self, principal: Principal) -> str:
        payload = {"sub": principal.subject, "knd": principal.kind, "sid": principal.session,
                   "iat": principal.auth_time, "exp": principal.expires}
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        signed = f"{TOKEN_VERSION}.{body}"
        return f"{signed}.{self._sign(signed)}"

    def _sign(self, signed: str) -> str:
        return _b64(hmac.new(self._secret, signed.encode(), hashlib.sha256).digest())

    def check_jwt(self, token: str) -> Principal:
        """The principal a verified JWT of the app's identity provider names."""
        if self.jwt is None:
            raise AuthError("this server does not accept JWTs",
                            hint="set DUCKSYNC_JWT_SECRET or DUCKSYNC_JWT_JWKS_FILE on the "
                                 "server (docs/auth.md), or log in with a password")
        verified = self.jwt.verify(token)
        return Principal(subject=verified.subject, kind="jwt", session=verified.session,
                         auth_time=verified.issued_at, expires=verified.expires,
                         claims=verified.claims)

    # -- per request ---------------------------------------------------------------
    def authenticate(self, *, authorization: str | None, api_key: str | None,
                     cookie: str | None, client: str) -> Principal:
        """Bearer token (session, JWT or API key), ``X-API-Key``, then the cookie; open mode
        last."""
        if api_key:
            return self.check_api_key(api_key)
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise AuthError("unsupported Authorization header", hint="send 'Bearer TOKEN'")
            value = value.strip()
            if value.startswith(f"{TOKEN_VERSION}."):
                return self.verify(value)
            if looks_like_jwt(value):
                return self.check_jwt(value)
            return self.check_api_key(value)
        if cookie:
            return self.verify(cookie)
        if self.open_mode:
            return Principal(subject="dev", kind="dev", session=f"ip:{client}")
        raise AuthError("authentication required", hint=_LOGIN_HINT)


def main(argv: list[str] | None = None) -> int:
    """``python -m ducksync.server.auth NAME``: read a password, print a users-file line."""
    import getpass

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m ducksync.server.auth USERNAME", file=sys.stderr)
        return 2
    password = getpass.getpass(f"password for {args[0]}: ")
    print(f"{args[0]}:{hash_password(password)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
