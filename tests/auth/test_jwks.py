"""Verifying services without the signing key: JWKSClient against a real HTTP server."""

# No `from __future__ import annotations`: FastAPI evaluates the endpoints' annotations.

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from jose import jws

from cnop.auth import (
    InMemoryRevocationList,
    JWKSClient,
    JWTKey,
    KeySet,
    TokenManager,
    TokenSettings,
)
from cnop.auth.fastapi import add_jwks_route
from cnop.auth.jwks import parse_jwks
from cnop.exceptions import (
    CNOPConfigurationException,
    CNOPServiceUnavailableException,
    CNOPTokenInvalidException,
)


class JWKSServer:
    """A JWKS endpoint on loopback whose document, status and liveness the test controls."""

    def __init__(self) -> None:
        self.document = b'{"keys": []}'
        self.status = 200
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests += 1
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/jwk-set+json")
                self.send_header("Content-Length", str(len(owner.document)))
                self.end_headers()
                self.wfile.write(owner.document)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/.well-known/jwks.json"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.running = True

    def publish(self, tokens: TokenManager) -> None:
        self.document = json.dumps(tokens.jwks()).encode()

    def stop(self) -> None:
        if self.running:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=10)
            self.running = False


@pytest.fixture
def server() -> Iterator[JWKSServer]:
    running = JWKSServer()
    yield running
    running.stop()


def _issuer(signing: JWTKey, *older: JWTKey, clock: Any) -> TokenManager:
    return TokenManager(TokenSettings(keys=KeySet(signing, older)), clock=clock)


@pytest.fixture
def keys(rsa_pems: list[tuple[str, str]]) -> list[JWTKey]:
    return [
        JWTKey.from_pem(private, algorithm="RS256", kid=f"2026-{i:02d}")
        for i, (private, _) in enumerate(rsa_pems, start=1)
    ]


def _client(server: JWKSServer, clock: Any, **options: Any) -> JWKSClient:
    return JWKSClient(server.url, clock=clock, **options)


def test_a_verifier_checks_tokens_with_the_published_keys(
    server: JWKSServer, keys: list[JWTKey], clock: Any
) -> None:
    issuer = _issuer(keys[0], clock=clock)
    server.publish(issuer)
    verifier = TokenManager.from_jwks(_client(server, clock), clock=clock)
    pair = issuer.create_token_pair("alice_01", "admin")
    claims = verifier.verify_access_token(pair.access_token)
    assert (claims.sub, claims.role.value, claims.sid) == ("alice_01", "admin", pair.session_id)
    assert asyncio.run(verifier.verify_access_token_async(pair.access_token)).sub == "alice_01"
    assert server.requests == 1  # cached


def test_a_verifier_cannot_issue_and_does_not_spend_refresh_tokens(
    server: JWKSServer, keys: list[JWTKey], clock: Any
) -> None:
    issuer = _issuer(keys[0], clock=clock)
    server.publish(issuer)
    verifier = TokenManager.from_jwks(_client(server, clock), clock=clock)
    assert not verifier.can_issue
    with pytest.raises(CNOPConfigurationException, match="cannot issue"):
        verifier.create_access_token("alice_01")
    with pytest.raises(CNOPConfigurationException, match="cannot issue"):
        verifier.create_token_pair("alice_01")
    pair = issuer.create_token_pair("alice_01")
    with pytest.raises(CNOPConfigurationException, match="cannot issue"):
        verifier.rotate_refresh_token(pair.refresh_token)
    assert issuer.rotate_refresh_token(pair.refresh_token)  # still unspent at the issuer


def test_key_rotation_new_tokens_verify_and_old_ones_keep_verifying(
    server: JWKSServer, keys: list[JWTKey], clock: Any
) -> None:
    old_issuer = _issuer(keys[0], clock=clock)
    server.publish(old_issuer)
    verifier = TokenManager.from_jwks(_client(server, clock), clock=clock)
    old_token = old_issuer.create_access_token("alice_01").access_token
    assert verifier.verify_access_token(old_token)
    # The auth service rotates: the new key signs, the old one is still published.
    new_issuer = _issuer(keys[1], keys[0], clock=clock)
    server.publish(new_issuer)
    clock.advance(60)  # past the re-fetch rate limit, well inside the TTL
    new_token = new_issuer.create_access_token("bob_trader").access_token
    assert verifier.verify_access_token(new_token).sub == "bob_trader"  # unknown kid: re-fetch
    assert verifier.verify_access_token(old_token).sub == "alice_01"
    assert server.requests == 2


def test_the_server_going_down_leaves_the_cached_keys_in_use(
    server: JWKSServer, keys: list[JWTKey], clock: Any, audit_lines: Any
) -> None:
    issuer = _issuer(keys[0], clock=clock)
    server.publish(issuer)
    verifier = TokenManager.from_jwks(_client(server, clock), clock=clock)
    token = issuer.create_access_token("alice_01", expires_delta=timedelta(hours=2)).access_token
    assert verifier.verify_access_token(token)
    server.stop()
    clock.advance(3600)  # far past the TTL: a re-fetch is due, and fails
    assert verifier.verify_access_token(token).sub == "alice_01"
    assert asyncio.run(verifier.verify_access_token_async(token)).sub == "alice_01"
    failures = [r for r in audit_lines.records() if "JWKS fetch failed" in r.get("message", "")]
    assert failures
    assert failures[0]["have_keys"] is True


def test_re_fetches_for_unknown_kids_are_rate_limited(
    server: JWKSServer, keys: list[JWTKey], rsa_pems: list[tuple[str, str]], clock: Any
) -> None:
    issuer = _issuer(keys[0], clock=clock)
    server.publish(issuer)
    verifier = TokenManager.from_jwks(_client(server, clock), clock=clock)
    verifier.verify_access_token(issuer.create_access_token("alice_01").access_token)
    clock.advance(31)  # past the rate limit that the first fetch started
    claims = {"sub": "x", "role": "customer", "type": "access", "jti": "j", "iat": 1}
    for i in range(40):
        kid = {"kid": f"made-up-{i}"}
        forged = jws.sign(claims, rsa_pems[1][0], headers=kid, algorithm="RS256")
        with pytest.raises(CNOPTokenInvalidException, match="unknown key id"):
            verifier.verify_access_token(forged)
    assert server.requests == 2  # one re-fetch for the first unknown kid, then none
    clock.advance(31)
    with pytest.raises(CNOPTokenInvalidException):
        verifier.verify_access_token(forged)
    assert server.requests == 3


def test_the_cache_expires_after_its_ttl(
    server: JWKSServer, keys: list[JWTKey], clock: Any
) -> None:
    issuer = _issuer(keys[0], clock=clock)
    server.publish(issuer)
    verifier = TokenManager.from_jwks(_client(server, clock), clock=clock)
    token = issuer.create_access_token("alice_01").access_token
    verifier.verify_access_token(token)
    clock.advance(299)
    verifier.verify_access_token(token)
    assert server.requests == 1
    clock.advance(2)
    verifier.verify_access_token(token)
    assert server.requests == 2


def test_a_key_dropped_from_the_jwks_stops_verifying_after_the_ttl(
    server: JWKSServer, keys: list[JWTKey], clock: Any
) -> None:
    old_issuer = _issuer(keys[0], clock=clock)
    server.publish(old_issuer)
    verifier = TokenManager.from_jwks(_client(server, clock), clock=clock)
    old_token = old_issuer.create_access_token(
        "alice_01", expires_delta=timedelta(hours=2)
    ).access_token
    verifier.verify_access_token(old_token)
    server.publish(_issuer(keys[1], clock=clock))  # the old key is retired for good
    clock.advance(301)
    with pytest.raises(CNOPTokenInvalidException, match="unknown key id"):
        verifier.verify_access_token(old_token)


def _private_jwk(key: Any) -> dict[str, Any]:
    from jose import jwk as jose_jwk

    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    data = dict(jose_jwk.construct(pem, "RS256").to_dict())
    data.update({"kid": "leaked", "alg": "RS256", "use": "sig"})
    return data


def test_private_key_material_in_the_jwks_is_refused(
    server: JWKSServer, keys: list[JWTKey], clock: Any
) -> None:
    leaked = _private_jwk(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    assert "d" in leaked
    server.document = json.dumps({"keys": [leaked]}).encode()
    verifier = TokenManager.from_jwks(_client(server, clock), clock=clock)
    issuer = _issuer(keys[0], clock=clock)
    token = issuer.create_access_token("alice_01").access_token
    with pytest.raises(CNOPServiceUnavailableException, match="No signing keys"):
        verifier.verify_access_token(token)
    # A client with good keys keeps them when the next document leaks a private key.
    server.publish(issuer)
    clock.advance(31)
    assert verifier.verify_access_token(token)
    good = json.loads(server.document)["keys"]
    server.document = json.dumps({"keys": [*good, leaked]}).encode()
    clock.advance(301)
    assert verifier.verify_access_token(token).sub == "alice_01"


def _jwk(key: Any, alg: str, kid: str = "k1") -> dict[str, Any]:
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {**JWTKey.from_pem(pem, algorithm=alg, kid=kid).public_jwk()}


@pytest.mark.parametrize(
    "document",
    [
        b"not json",
        b"[]",
        b'{"keys": []}',
        b'{"keys": "all"}',
        b'{"keys": [5]}',
        b'{"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h", "alg": "HS256"}]}',
        b"{" * 100_000,
        b" " * 300_000,
    ],
)
def test_malformed_documents_are_refused(document: bytes) -> None:
    with pytest.raises(CNOPConfigurationException):
        parse_jwks(document)


def test_doubtful_keys_are_refused(rsa_pems: list[tuple[str, str]]) -> None:
    signing = JWTKey.from_pem(rsa_pems[0][0], algorithm="RS256", kid="k1")
    good = json.loads(json.dumps(KeySet(signing).jwks()["keys"][0]))
    assert parse_jwks(json.dumps({"keys": [good]}).encode()).for_kid("k1") is not None
    p256 = ec.generate_private_key(ec.SECP256R1())
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    p256_jwk = _jwk(p256, "ES256")
    from jose import jwk as jose_jwk

    weak_pem = weak.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    weak_jwk = {**jose_jwk.construct(weak_pem, "RS256").to_dict(), "kid": "w", "alg": "RS256"}
    for bad, reason in (
        ({**good, "alg": None}, "needs an alg"),
        ({**good, "alg": "HS256"}, "needs an alg"),
        ({**good, "alg": "none"}, "needs an alg"),
        ({k: v for k, v in good.items() if k != "kid"}, "key id"),
        ({**good, "use": "enc"}, "not a signature key"),
        ({**good, "kty": "EC"}, "needs kty RSA"),
        ({**p256_jwk, "alg": "ES512"}, "curve"),
        (weak_jwk, "1024 bits"),
    ):
        with pytest.raises(CNOPConfigurationException, match=reason):
            parse_jwks(json.dumps({"keys": [bad]}).encode())
    with pytest.raises(CNOPConfigurationException, match="share the kid"):
        parse_jwks(json.dumps({"keys": [good, good]}).encode())


@pytest.mark.parametrize("url", ["", "ftp://host/jwks", "file:///etc/passwd", "http://", 5])
def test_bad_urls_are_refused(url: Any) -> None:
    with pytest.raises(CNOPConfigurationException):
        JWKSClient(url)


def test_an_error_status_keeps_the_cached_keys(
    server: JWKSServer, keys: list[JWTKey], clock: Any
) -> None:
    issuer = _issuer(keys[0], clock=clock)
    server.publish(issuer)
    verifier = TokenManager.from_jwks(_client(server, clock), clock=clock)
    token = issuer.create_access_token("alice_01").access_token
    verifier.verify_access_token(token)
    server.status = 503
    server.document = b"<html>down for maintenance</html>"
    clock.advance(301)
    assert verifier.verify_access_token(token).sub == "alice_01"
    assert server.requests == 2


def test_a_verifier_honours_logouts_through_the_shared_store(
    server: JWKSServer, keys: list[JWTKey], clock: Any
) -> None:
    shared = InMemoryRevocationList(clock)  # stands in for the fleet's Redis store here
    issuer = TokenManager(TokenSettings(keys=KeySet(keys[0])), revocation=shared, clock=clock)
    server.publish(issuer)
    verifier = TokenManager.from_jwks(_client(server, clock), revocation=shared, clock=clock)
    pair = issuer.create_token_pair("alice_01")
    issuer.logout(pair.refresh_token)
    with pytest.raises(CNOPTokenInvalidException, match="revoked"):
        verifier.verify_access_token(pair.access_token)


# -- the issuing side: /.well-known/jwks.json --------------------------------------------


def test_the_issuer_serves_its_jwks_route_and_a_verifier_uses_it(
    server: JWKSServer, keys: list[JWTKey], clock: Any
) -> None:
    issuer = _issuer(keys[1], keys[0], clock=clock)
    app = FastAPI()
    add_jwks_route(app, issuer)
    reply = TestClient(app).get("/.well-known/jwks.json")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/jwk-set+json"
    assert reply.headers["cache-control"] == "public, max-age=300"
    document = reply.json()
    assert [k["kid"] for k in document["keys"]] == ["2026-02", "2026-01"]
    assert all("d" not in k for k in document["keys"])
    server.document = reply.content  # what the route served, now over a real socket
    verifier = TokenManager.from_jwks(_client(server, clock), clock=clock)
    assert verifier.verify_access_token(issuer.create_access_token("alice_01").access_token)


def test_an_hmac_issuer_has_no_jwks_to_serve(tokens: TokenManager) -> None:
    with pytest.raises(CNOPConfigurationException, match="nothing to publish"):
        add_jwks_route(FastAPI(), tokens)
    with pytest.raises(CNOPConfigurationException):
        add_jwks_route(FastAPI(), "tokens")  # type: ignore[arg-type]


def test_while_one_thread_fetches_the_others_verify_with_the_cached_keys(
    server: JWKSServer, keys: list[JWTKey], clock: Any
) -> None:
    issuer = _issuer(keys[0], clock=clock)
    server.publish(issuer)
    release = threading.Event()
    fetching = threading.Event()
    calls: list[int] = []

    def slow_fetch(url: str, timeout: float) -> bytes:
        calls.append(1)
        if len(calls) > 1:  # the re-fetch after the TTL hangs until released
            fetching.set()
            release.wait(timeout=60)
        return server.document

    jwks = JWKSClient(server.url, fetch=slow_fetch, clock=clock)
    verifier = TokenManager.from_jwks(jwks, clock=clock)
    token = issuer.create_access_token("alice_01", expires_delta=timedelta(hours=1)).access_token
    verifier.verify_access_token(token)
    clock.advance(301)
    refresher = threading.Thread(target=verifier.verify_access_token, args=(token,))
    refresher.start()
    assert fetching.wait(timeout=60)
    # The fetch is stuck; this verification neither waits for it nor starts another.
    assert verifier.verify_access_token(token).sub == "alice_01"
    assert asyncio.run(verifier.verify_access_token_async(token)).sub == "alice_01"
    assert len(calls) == 2
    release.set()
    refresher.join(timeout=60)
    assert not refresher.is_alive()


def test_a_fetch_that_raises_anything_keeps_the_keys(keys: list[JWTKey], clock: Any) -> None:
    issuer = _issuer(keys[0], clock=clock)
    documents = [json.dumps(issuer.jwks()).encode()]

    def flaky(url: str, timeout: float) -> bytes:
        if documents:
            return documents.pop()
        raise RuntimeError("socket exploded")

    jwks = JWKSClient("https://auth.invalid/jwks", fetch=flaky, clock=clock)
    verifier = TokenManager.from_jwks(jwks, clock=clock)
    token = issuer.create_access_token("alice_01", expires_delta=timedelta(hours=1)).access_token
    assert verifier.verify_access_token(token)
    clock.advance(301)
    assert verifier.verify_access_token(token).sub == "alice_01"
