"""JWTs from the app's own identity provider (Auth0, Clerk, Supabase, Keycloak, …).

Embedders already sign their users in; the server only has to *verify* the tokens
their provider issues, so they can be sent as ``Authorization: Bearer <JWT>`` (by
``connect({getToken})`` in the page, or any HTTP client). Verification is PyJWT's
(with ``cryptography``), never hand-written crypto. The key decides the algorithm,
never the token:

* ``DUCKSYNC_JWT_SECRET``: HS256 tokens, checked against that shared secret only;
* ``DUCKSYNC_JWT_JWKS_FILE``: RS256 / ES256 tokens, checked against the public key
  whose ``kid`` the token names (a local file: no fetch at request time, so no
  outbound call an attacker could steer, and rotation is a file change + restart).

An HS256 token is never verified with a public key (the "algorithm confusion" attack),
``alg: none`` is refused, and ``iss``, ``aud``, ``exp`` and ``sub`` are required and
checked. The verified claims ride on the principal (``Principal.claims``) so sync
rules can bind ``$claims.*``; the subject becomes the principal's subject (``$user``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import jwt

from ducksync.errors import AuthError

HMAC_ALGORITHMS: Final = ("HS256",)
PUBLIC_KEY_ALGORITHMS: Final = ("RS256", "ES256")
REQUIRED_CLAIMS: Final = ("exp", "sub", "iss", "aud")
_TOKEN_HINT = "get a fresh token from the app's identity provider (connect({getToken}) does)"


def looks_like_jwt(value: str) -> bool:
    """Three dot-separated parts whose header is base64url JSON (``eyJ`` = ``{"``)."""
    return value.count(".") == 2 and value.startswith("eyJ")


@dataclass(frozen=True, kw_only=True, slots=True)
class VerifiedToken:
    """What a good token proves: who (``subject``), until when, and every claim."""

    subject: str
    issuer: str
    issued_at: int
    expires: int
    claims: Mapping[str, Any]

    @property
    def session(self) -> str:
        """A stable rate-limiter bucket per (issuer, subject), not reversible to either."""
        digest = hashlib.sha256(f"{self.issuer}\0{self.subject}".encode()).hexdigest()
        return f"jwt:{digest[:16]}"


class JwtVerifier:
    """Verifies bearer JWTs against one HS256 secret and/or a JWKS of public keys.

    Immutable after construction (thread-safe); built once at start, where every
    mistake in the configuration refuses to start with the variable to fix.
    """

    def __init__(self, *, issuer: str, audience: Sequence[str], secret: bytes | None = None,
                 public_keys: Mapping[str, jwt.PyJWK] | None = None,
                 leeway_s: int = 30) -> None:
        if not secret and not public_keys:
            raise AuthError("JWT verification needs a key",
                            hint="set DUCKSYNC_JWT_SECRET (HS256) or DUCKSYNC_JWT_JWKS_FILE "
                                 "(RS256/ES256 public keys)")
        if not issuer or not audience:
            missing = "DUCKSYNC_JWT_ISSUER" if not issuer else "DUCKSYNC_JWT_AUDIENCE"
            raise AuthError(f"JWTs are enabled but {missing} is not set",
                            hint=f"set {missing} to the value your identity provider puts in "
                                 "its tokens: tokens are only accepted for this server")
        if secret is not None and len(secret) < 32:
            raise AuthError("DUCKSYNC_JWT_SECRET is shorter than 32 bytes",
                            hint="use the full HS256 signing secret of your identity provider "
                                 "(at least 256 bits)")
        self.issuer = issuer
        self.audience = tuple(audience)
        self.leeway_s = leeway_s
        self._secret = secret
        self._keys = dict(public_keys or {})

    @classmethod
    def from_config(cls, *, secret: str | None, jwks_file: Path | None, issuer: str | None,
                    audience: Sequence[str], leeway_s: int = 30) -> JwtVerifier | None:
        """The verifier the environment asks for, or None when JWTs are not configured."""
        if not secret and jwks_file is None:
            if issuer or audience:
                raise AuthError("DUCKSYNC_JWT_ISSUER/AUDIENCE are set but no key is",
                                hint="set DUCKSYNC_JWT_SECRET or DUCKSYNC_JWT_JWKS_FILE too")
            return None
        keys = load_jwks(jwks_file) if jwks_file is not None else None
        return cls(issuer=issuer or "", audience=audience, leeway_s=leeway_s,
                   secret=secret.encode() if secret else None, public_keys=keys)

    @property
    def algorithms(self) -> tuple[str, ...]:
        return (HMAC_ALGORITHMS if self._secret else ()) + \
            (PUBLIC_KEY_ALGORITHMS if self._keys else ())

    def verify(self, token: str) -> VerifiedToken:
        """The verified token, or :class:`AuthError` naming what is wrong."""
        key, algorithm = self._key_for(token)
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key=key, algorithms=[algorithm], audience=list(self.audience),
                issuer=self.issuer, leeway=self.leeway_s,
                options={"require": list(REQUIRED_CLAIMS)})
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired", hint=_TOKEN_HINT) from None
        except jwt.InvalidAudienceError:
            raise AuthError(f"token is not for this server (audience {_claim(token, 'aud')}; "
                            f"expected {' or '.join(self.audience)})",
                            hint="request tokens for this server's audience "
                                 "(DUCKSYNC_JWT_AUDIENCE)") from None
        except jwt.InvalidIssuerError:
            raise AuthError(f"token issuer {_claim(token, 'iss')} is not trusted "
                            f"(expected {self.issuer!r})",
                            hint="use tokens from the identity provider named by "
                                 "DUCKSYNC_JWT_ISSUER") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"token lacks the {exc.claim!r} claim",
                            hint="tokens must carry sub, iss, aud and exp") from None
        except jwt.InvalidSignatureError:
            raise AuthError("token signature does not verify",
                            hint="the token was not signed by this server's identity provider "
                                 "(or DUCKSYNC_JWT_SECRET / the JWKS file is out of date)") \
                from None
        except jwt.ImmatureSignatureError:
            raise AuthError("token is not valid yet (nbf/iat in the future)",
                            hint="check the clocks of the identity provider and this server") \
                from None
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"invalid token: {exc}", hint=_TOKEN_HINT) from None
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject.strip():
            raise AuthError("token subject (sub) is empty", hint=_TOKEN_HINT)
        return VerifiedToken(subject=subject, issuer=str(claims["iss"]),
                             issued_at=_int(claims.get("iat")), expires=_int(claims["exp"]),
                             claims=claims)

    def _key_for(self, token: str) -> tuple[Any, str]:
        """The one key (and algorithm) this server would sign such a token with."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise AuthError("malformed token", hint=_TOKEN_HINT) from None
        algorithm = header.get("alg")
        if algorithm not in self.algorithms:
            raise AuthError(f"token algorithm {algorithm!r} is not accepted "
                            f"(this server accepts {', '.join(self.algorithms)})",
                            hint="sign tokens with " + " or ".join(self.algorithms)) from None
        if algorithm in HMAC_ALGORITHMS:
            return self._secret, algorithm
        kid = header.get("kid")
        if kid is None:
            if len(self._keys) != 1:
                raise AuthError("token names no key id (kid) and the JWKS has several keys",
                                hint="issue tokens with a 'kid' header")
            kid = next(iter(self._keys))
        found = self._keys.get(str(kid))
        if found is None:
            raise AuthError(f"token key id {kid!r} is not in the JWKS file",
                            hint="the identity provider rotated its keys: update "
                                 "DUCKSYNC_JWT_JWKS_FILE and restart the server")
        if found.algorithm_name != algorithm:
            raise AuthError(f"token algorithm {algorithm!r} does not match key {kid!r} "
                            f"({found.algorithm_name})", hint=_TOKEN_HINT)
        return found.key, algorithm


def load_jwks(path: Path) -> dict[str, jwt.PyJWK]:
    """``{kid: key}`` of the RS256/ES256 public keys in a JWKS file; refuses anything else."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise AuthError(f"cannot read DUCKSYNC_JWT_JWKS_FILE {path}: {exc.strerror}",
                        hint="check the path and the file's permissions") from None
    except ValueError as exc:
        raise AuthError(f"DUCKSYNC_JWT_JWKS_FILE {path} is not JSON: {exc}",
                        hint="save the identity provider's JWKS document "
                             "(…/.well-known/jwks.json) as is") from None
    entries = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise AuthError(f"DUCKSYNC_JWT_JWKS_FILE {path} has no keys",
                        hint='expected {"keys": [{"kty": "RSA", "kid": ..., "n": ..., ...}]}')
    keys: dict[str, jwt.PyJWK] = {}
    for index, entry in enumerate(entries):
        kid = str(entry.get("kid", index)) if isinstance(entry, dict) else str(index)
        if not isinstance(entry, dict):
            raise AuthError(f"JWKS key {kid} is not an object", hint="fix the JWKS file")
        if "d" in entry or entry.get("kty") == "oct":
            raise AuthError(f"JWKS key {kid!r} is a private or symmetric key",
                            hint="give the server public keys only (RSA or EC P-256)")
        if entry.get("use", "sig") != "sig":
            continue  # an encryption key: not for verifying signatures
        try:
            key = jwt.PyJWK(entry)
        except jwt.PyJWTError as exc:
            raise AuthError(f"JWKS key {kid!r} is not usable: {exc}",
                            hint="expected an RSA (RS256) or EC P-256 (ES256) public key") \
                from None
        if key.algorithm_name not in PUBLIC_KEY_ALGORITHMS:
            raise AuthError(f"JWKS key {kid!r} is for {key.algorithm_name}",
                            hint="only RS256 and ES256 public keys are accepted")
        keys[kid] = key
    return keys


def _claim(token: str, name: str) -> str:
    """An unverified claim for an error message (after the signature checked out)."""
    try:
        value = jwt.decode(token, options={"verify_signature": False}).get(name)
    except jwt.InvalidTokenError:
        return "?"
    return repr(value)[:120]


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0
