"""JWTs of the app's own identity provider: what is accepted, what is refused and why.

In-process server (``create_app`` + TestClient) configured through the environment as
an operator would; keys are generated per test session. Every refusal is a 401 with
code ``auth`` and a message naming the problem (signature, audience, issuer, expiry,
algorithm), and nothing about the token reaches a route.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from ducksync.errors import AuthError
from ducksync.server.app import create_app
from ducksync.server.jwt_auth import JwtVerifier, load_jwks
from ducksync.server.settings import Settings

ISSUER = "https://id.example.test/"
AUDIENCE = "ducksync-api"
SECRET = "hs256-shared-secret-of-the-identity-provider-0123456789"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600,
            "org": "acme"}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def hs256(secret: str = SECRET, **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), secret, algorithm="HS256")


def rs256(key: Any = RSA_KEY, kid: str | None = "rsa-1", **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), key, algorithm="RS256",
                      headers={"kid": kid} if kid else None)


def es256(**overrides: Any) -> str:
    return jwt.encode(claims(**overrides), EC_KEY, algorithm="ES256", headers={"kid": "ec-1"})


def unsigned(**overrides: Any) -> str:
    return jwt.encode(claims(**overrides), None, algorithm="none")  # type: ignore[arg-type]


def public_pem() -> bytes:
    return RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)


def jwks_file(tmp_path: Path, *entries: dict[str, Any]) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": list(entries)}))
    return path


def rsa_jwk(key: Any = RSA_KEY, kid: str = "rsa-1") -> dict[str, Any]:
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


def ec_jwk() -> dict[str, Any]:
    jwk: dict[str, Any] = ECAlgorithm.to_jwk(EC_KEY.public_key(), as_dict=True)
    return {**jwk, "kid": "ec-1", "use": "sig"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for the module, both key kinds configured: HS256 secret, RS256 + ES256 JWKS."""
    tmp_path = tmp_path_factory.mktemp("jwt")
    env = {"DUCKSYNC_JWT_SECRET": SECRET, "DUCKSYNC_JWT_ISSUER": ISSUER,
           "DUCKSYNC_JWT_AUDIENCE": f"other-api,{AUDIENCE}",
           "DUCKSYNC_JWT_JWKS_FILE": str(jwks_file(tmp_path, rsa_jwk(), ec_jwk()))}
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        web = tmp_path / "web"
        web.mkdir()
        settings = Settings.from_env(remote=str(tmp_path / "remote.duckdb"), web_root=web)
        assert settings.auth_configured
        app = create_app(settings)
    with TestClient(app) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.mark.parametrize("make", [hs256, rs256, es256], ids=["HS256", "RS256", "ES256"])
def test_a_valid_token_names_the_user_and_reaches_the_sync_api(server: TestClient,
                                                               make: Any) -> None:
    token = make()
    me = server.get("/api/v1/auth/me", headers=bearer(token))
    assert me.status_code == 200, me.text
    assert me.json()["subject"] == "alice" and me.json()["kind"] == "jwt"
    assert me.json()["rules"] is False
    assert server.get("/api/v1/sync/tables", headers=bearer(token)).status_code == 200


def test_the_principal_carries_the_verified_claims() -> None:
    verifier = JwtVerifier(issuer=ISSUER, audience=[AUDIENCE], secret=SECRET.encode())
    verified = verifier.verify(hs256(sub="o'brien; DROP TABLE x", org="acme"))
    assert verified.subject == "o'brien; DROP TABLE x"  # a value, never SQL
    assert verified.claims["org"] == "acme" and verified.claims["aud"] == AUDIENCE
    assert verified.session.startswith("jwt:") and "brien" not in verified.session


def _refusals() -> list[Any]:
    """Each token is made when its test runs: made at collection, a token meant to fail
    for its audience failed as expired instead once the run passed its 10 minutes."""
    return [
        pytest.param(lambda: hs256(secret="not-the-identity-providers-secret-0123456789"),
                     "signature does not verify", id="wrong-hs256-secret"),
        pytest.param(lambda: rs256(key=OTHER_RSA_KEY), "signature does not verify",
                     id="rs256-signed-by-another-key"),
        pytest.param(lambda: hs256(aud="someone-else"), "not for this server",
                     id="wrong-audience"),
        pytest.param(lambda: hs256(iss="https://evil.test/"), "issuer", id="wrong-issuer"),
        pytest.param(lambda: hs256(exp=int(time.time()) - 3600, iat=int(time.time()) - 4200),
                     "expired", id="expired"),
        pytest.param(lambda: hs256(exp=None), "'exp'", id="no-exp"),
        pytest.param(lambda: hs256(sub=None), "'sub'", id="no-sub"),
        pytest.param(unsigned, "'none' is not accepted", id="alg-none"),
        pytest.param(lambda: rs256(kid="rotated-away"), "not in the JWKS", id="unknown-kid"),
        pytest.param(lambda: rs256(kid="../../../etc/passwd"), "not in the JWKS", id="kid-path"),
        pytest.param(lambda: jwt.encode(claims(), OTHER_RSA_KEY, algorithm="RS256",
                                        headers={"kid": "attacker",
                                                 "jku": "https://evil.test/jwks"}),
                     "not in the JWKS", id="jku-is-never-fetched"),
        pytest.param(lambda: hs256(iat=int(time.time()) + 3600, nbf=int(time.time()) + 3600),
                     "not valid yet", id="not-yet-valid"),
        pytest.param(lambda: "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln",
                     "signature does not verify", id="garbage-payload"),
        pytest.param(lambda: "eyJhbGc.e30.c2ln", "malformed token", id="garbage-header"),
    ]


@pytest.mark.parametrize(("make", "says"), _refusals())
def test_a_bad_token_is_401_with_the_reason(server: TestClient, make: Callable[[], str],
                                            says: str) -> None:
    response = server.get("/api/v1/sync/tables", headers=bearer(make()))
    assert response.status_code == 401, response.text
    error = response.json()["error"]
    assert error["code"] == "auth" and says in error["message"], error
    assert error["hint"]


def test_hs256_signed_with_the_public_key_is_refused(tmp_path: Path) -> None:
    """Algorithm confusion: an attacker HMACs with the (public) RSA key as the secret."""
    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    signed = b64(b'{"alg":"HS256","typ":"JWT"}') + b"." + b64(json.dumps(claims()).encode())
    signature = b64(hmac.new(public_pem(), signed, hashlib.sha256).digest())
    forged = (signed + b"." + signature).decode()
    jwks_only = JwtVerifier(issuer=ISSUER, audience=[AUDIENCE],
                            public_keys=load_jwks(jwks_file(tmp_path, rsa_jwk())))
    with pytest.raises(AuthError, match="'HS256' is not accepted"):
        jwks_only.verify(forged)
    both = JwtVerifier(issuer=ISSUER, audience=[AUDIENCE], secret=SECRET.encode(),
                       public_keys=load_jwks(jwks_file(tmp_path, rsa_jwk())))
    with pytest.raises(AuthError, match="signature does not verify"):
        both.verify(forged)


def test_an_rs256_token_against_an_es256_key_id_is_refused(tmp_path: Path) -> None:
    verifier = JwtVerifier(issuer=ISSUER, audience=[AUDIENCE],
                           public_keys=load_jwks(jwks_file(tmp_path, ec_jwk())))
    token = jwt.encode(claims(), RSA_KEY, algorithm="RS256", headers={"kid": "ec-1"})
    with pytest.raises(AuthError, match="does not match key 'ec-1'"):
        verifier.verify(token)


def test_a_jwt_to_a_server_without_jwt_config_says_so(tmp_path: Path) -> None:
    web = tmp_path / "web"
    web.mkdir()
    settings = Settings(remote=str(tmp_path / "r.duckdb"), web_root=web,
                        api_key_hashes=("0" * 64,))
    with TestClient(create_app(settings)) as client:
        response = client.get("/api/v1/sync/tables", headers=bearer(hs256()))
    assert response.status_code == 401
    assert "does not accept JWTs" in response.json()["error"]["message"]


@pytest.mark.parametrize(("config", "says"), [
    ({"secret": SECRET, "issuer": None, "audience": [AUDIENCE]}, "DUCKSYNC_JWT_ISSUER"),
    ({"secret": SECRET, "issuer": ISSUER, "audience": []}, "DUCKSYNC_JWT_AUDIENCE"),
    ({"secret": "short", "issuer": ISSUER, "audience": [AUDIENCE]}, "shorter than 32 bytes"),
    ({"secret": None, "issuer": ISSUER, "audience": [AUDIENCE]}, "no key is"),
])
def test_a_half_configured_verifier_refuses_to_start(config: dict[str, Any], says: str) -> None:
    with pytest.raises(AuthError, match=says):
        JwtVerifier.from_config(jwks_file=None, **config)


@pytest.mark.parametrize(("entry", "says"), [
    ({"kty": "oct", "k": "c2VjcmV0", "kid": "sym"}, "private or symmetric"),
    ({**RSAAlgorithm.to_jwk(RSA_KEY, as_dict=True), "kid": "priv"}, "private or symmetric"),
    ({"kty": "RSA", "kid": "broken", "n": "AQAB"}, "not usable"),
])
def test_a_jwks_file_with_unusable_keys_refuses_to_start(tmp_path: Path, entry: dict[str, Any],
                                                          says: str) -> None:
    with pytest.raises(AuthError, match=says):
        load_jwks(jwks_file(tmp_path, entry))
    with pytest.raises(AuthError, match="not JSON"):
        (tmp_path / "bad.json").write_text("{")
        load_jwks(tmp_path / "bad.json")


def test_serve_refuses_a_bad_jwt_config_naming_the_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUCKSYNC_JWT_SECRET", SECRET)
    monkeypatch.setenv("DUCKSYNC_JWT_AUDIENCE", AUDIENCE)
    monkeypatch.delenv("DUCKSYNC_JWT_ISSUER", raising=False)
    settings = Settings.from_env(remote=str(tmp_path / "r.duckdb"), web_root=tmp_path)
    with pytest.raises(AuthError, match="DUCKSYNC_JWT_ISSUER is not set"):
        create_app(settings)


def test_the_cli_store_sends_a_jwt_from_ducksync_token(server: TestClient,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """``DUCKSYNC_TOKEN`` = the provider's JWT: the native store (CLI) syncs as its subject."""
    import asyncio

    import httpx

    from ducksync.stores.http import HttpRemoteStore

    async def tables_with(token: str) -> Any:
        monkeypatch.setenv("DUCKSYNC_TOKEN", token)
        wire = httpx.ASGITransport(app=server.app)
        store = HttpRemoteStore(url="http://testserver", transport=wire, retries=0)
        try:
            return await store.list_tables()
        finally:
            await store.aclose()

    monkeypatch.delenv("DUCKSYNC_API_KEY", raising=False)
    assert asyncio.run(tables_with(rs256())) == []
    with pytest.raises(AuthError, match="token expired"):
        asyncio.run(tables_with(rs256(exp=int(time.time()) - 3600)))


def test_jwt_claims_and_subject_drive_the_sync_rules(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end: the verified ``org`` claim is ``$claims.org`` and ``sub`` is ``$user``;
    each token's engine pulls only its slice, and a claim forged into an unsigned or
    wrongly signed token reaches no rule (401)."""
    import asyncio

    import duckdb
    import httpx

    from ducksync.engine.sync import SyncOptions, sync
    from ducksync.stores import open_local
    from ducksync.stores.http import HttpRemoteStore

    remote = tmp_path / "remote.duckdb"
    with duckdb.connect(str(remote)) as con:
        con.execute("CREATE TABLE docs (id INTEGER PRIMARY KEY, org VARCHAR, owner VARCHAR)")
        con.execute("INSERT INTO docs VALUES (1, 'acme', 'ann'), (2, 'globex', 'gus'), "
                    "(3, 'acme', 'ash'), (4, 'acme', 'ann')")
    rules = tmp_path / "rules.toml"
    rules.write_text('[tables.docs]\nfilter = "org = $claims.org AND owner <> $user"\n'
                     'access = "read"\n')
    for name, value in {"DUCKSYNC_JWT_SECRET": SECRET, "DUCKSYNC_JWT_ISSUER": ISSUER,
                        "DUCKSYNC_JWT_AUDIENCE": AUDIENCE}.items():
        monkeypatch.setenv(name, value)
    app = create_app(Settings(remote=str(remote), rules_file=rules, web_root=tmp_path,
                              jwt_secret_set=True, jwt_issuer=ISSUER,
                              jwt_audience=(AUDIENCE,)))

    def pulled(token: str, local: str) -> Any:
        async def main() -> Any:
            store = HttpRemoteStore(url="http://jwt.test", api_key=token, retries=0,
                                    transport=httpx.ASGITransport(app=app))
            try:
                return await sync(open_local(str(tmp_path / local)), store,
                                  SyncOptions(tables=["docs"]), "pull")
            finally:
                await store.aclose()
        report = asyncio.run(main())
        with duckdb.connect(str(tmp_path / local)) as con:
            return report, [r[0] for r in con.execute("SELECT id FROM docs ORDER BY id").fetchall()]

    try:
        assert pulled(hs256(sub="ann", org="acme"), "ann.duckdb")[1] == [3]
        assert pulled(hs256(sub="gus", org="globex"), "gus.duckdb")[1] == []
        assert pulled(hs256(sub="zed", org="acme"), "zed.duckdb")[1] == [1, 3, 4]
        for forged in (hs256(secret="an-attackers-own-secret-0123456789abcdef", org="globex"),
                       unsigned(org="globex")):
            with pytest.raises(AuthError):
                pulled(forged, "mallory.duckdb")
        with TestClient(app) as client:
            me = client.get("/api/v1/auth/me", headers=bearer(hs256(sub="ann")))
        assert me.json()["rules"] is True  # the page warns that md: direct bypasses them
    finally:
        app.state.ctx.pool.close()
        app.state.remote.close()
