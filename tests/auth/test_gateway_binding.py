"""Gateway signatures bound to the request, single-use nonces, and the published test vectors."""

# No `from __future__ import annotations`: FastAPI evaluates the endpoints' annotations.

import hashlib
import hmac
import json
import re
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from cnop.auth import (
    NONCE_HEADER,
    GatewaySigner,
    InMemoryNonceStore,
    RedisNonceStore,
    UserContext,
)
from cnop.auth.context import lowercase_keys
from cnop.auth.fastapi import FastAPIAuth, add_problem_handler
from cnop.auth.gateway import canonical_string
from cnop.exceptions import CNOPAuthenticationException, CNOPValidationException

README = Path(__file__).resolve().parents[2] / "packages" / "cnop-auth" / "README.md"
ALICE = {
    "X-Request-ID": "req-123",
    "X-User-ID": "alice_01",
    "X-User-Role": "customer",
    "X-Authenticated": "true",
}
POST = {"method": "POST", "target": "/orders?dry_run=1", "body": b'{"qty":"1"}'}


def _vectors() -> dict[str, Any]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("Test vectors") :]
    match = re.search(r"```json\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return json.loads(match.group(1))  # type: ignore[no-any-return]


def _independent_signature(secret: str, vector: dict[str, Any]) -> str:
    # Written from the README's spec alone, not from the module.
    lines = [
        "CNOP-GATEWAY-V2",
        str(vector["timestamp"]),
        vector["nonce"],
        vector["method"],
        vector["target"],
        hashlib.sha256(vector["body"].encode()).hexdigest(),
    ]
    given = {k.lower(): v for k, v in vector["headers"].items()}
    order = ["x-request-id", "x-user-id", "x-user-role", "x-authenticated"]
    for name in [*order, "x-source", "x-auth-service"]:
        if name in given:
            lines.append(f"{name}:{given[name]}")
    canonical = "\n".join(lines)
    assert canonical == vector["canonical"]
    return hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def test_the_published_vectors_hold() -> None:
    published = _vectors()
    secret = published["secret"]
    assert len(published["vectors"]) >= 3
    for vector in published["vectors"]:
        body = vector["body"].encode()
        request = {"method": vector["method"], "target": vector["target"], "body": body}
        assert _independent_signature(secret, vector) == vector["signature"]
        text = canonical_string(
            timestamp=str(vector["timestamp"]),
            nonce=vector["nonce"],
            headers=lowercase_keys(vector["headers"]),
            **request,
        )
        assert text == vector["canonical"]
        signer = GatewaySigner(secret, clock=lambda v=vector: float(v["timestamp"]))
        signed = signer.sign(
            vector["headers"], timestamp=vector["timestamp"], nonce=vector["nonce"], **request
        )
        assert signed["X-Gateway-Signature"] == vector["signature"]
        signer.verify(signed, **request)


@pytest.fixture
def signer(secret: str, clock: Any) -> GatewaySigner:
    return GatewaySigner(secret, clock=clock)


def test_a_signed_request_is_accepted_once(signer: GatewaySigner) -> None:
    sent = signer.sign(ALICE, **POST)
    assert signer.authenticate(sent, **POST).user_id == "alice_01"
    with pytest.raises(CNOPAuthenticationException, match="nonce already used"):
        signer.authenticate(sent, **POST)


@pytest.mark.parametrize(
    "change",
    [
        {"method": "PUT"},
        {"method": "GET"},
        {"target": "/orders"},
        {"target": "/orders?dry_run=0"},
        {"target": "/orders?dry_run=1&x=1"},
        {"target": "/admin/orders?dry_run=1"},
        {"target": "/orders/?dry_run=1"},
        {"target": "/%6Frders?dry_run=1"},
        {"body": b'{"qty":"100"}'},
        {"body": b""},
        {"body": b'{"qty":"1"} '},
    ],
)
def test_headers_moved_to_another_request_are_refused(
    signer: GatewaySigner, change: dict[str, Any]
) -> None:
    sent = signer.sign(ALICE, **POST)
    with pytest.raises(CNOPAuthenticationException, match="bad signature"):
        signer.authenticate(sent, **{**POST, **change})
    # The refusal spent nothing: the genuine request still goes through.
    assert signer.authenticate(sent, **POST).user_id == "alice_01"


def test_a_changed_nonce_is_a_bad_signature(signer: GatewaySigner) -> None:
    sent = signer.sign(ALICE, **POST)
    with pytest.raises(CNOPAuthenticationException, match="bad signature"):
        signer.authenticate({**sent, NONCE_HEADER: "another-nonce-0000000"}, **POST)


@pytest.mark.parametrize(
    ("nonce", "reason"),
    [
        (None, "missing nonce"),
        ("short", "malformed nonce"),
        ("has space in it 1234", "malformed nonce"),
        ("x" * 129, "malformed nonce"),
        ("\u0661" * 20, "malformed nonce"),
    ],
)
def test_missing_or_malformed_nonce_is_refused(
    signer: GatewaySigner, nonce: str | None, reason: str
) -> None:
    sent = signer.sign(ALICE, **POST)
    if nonce is None:
        del sent[NONCE_HEADER]
    else:
        sent[NONCE_HEADER] = nonce
    with pytest.raises(CNOPAuthenticationException, match=reason):
        signer.authenticate(sent, **POST)


@pytest.mark.parametrize(
    "bad",
    [
        {"method": "get"},
        {"method": ""},
        {"method": "G\u0130T"},
        {"target": "orders"},
        {"target": "/orders\n/admin"},
        {"target": "/or ders"},
        {"target": "/caf\u00e9"},
        {"target": "/" + "a" * 9000},
        {"body": "text, not bytes"},
        {"body": None},
        {"method": None},
    ],
)
def test_a_request_the_format_cannot_carry_is_refused_on_both_sides(
    signer: GatewaySigner, bad: dict[str, Any]
) -> None:
    with pytest.raises(CNOPValidationException):
        signer.sign(ALICE, **{**POST, **bad})
    sent = signer.sign(ALICE, **POST)
    with pytest.raises(CNOPAuthenticationException):
        signer.authenticate(sent, **{**POST, **bad})


@pytest.mark.parametrize("value", ["req-1 ", " req-1", "req-1\n", "req\r\n-1"])
def test_header_values_with_surrounding_or_line_breaking_whitespace_are_not_signed(
    signer: GatewaySigner, value: str
) -> None:
    with pytest.raises(CNOPValidationException):
        signer.sign({**ALICE, "X-Request-ID": value}, **POST)


def test_a_custom_nonce_is_validated(signer: GatewaySigner) -> None:
    for bad in ("short", 5, "a b c d e f g h i j"):
        with pytest.raises(CNOPValidationException, match="nonce"):
            signer.sign(ALICE, nonce=bad, **POST)  # type: ignore[arg-type]


def test_in_memory_nonces_expire_after_twice_the_skew(clock: Any) -> None:
    nonces = InMemoryNonceStore(clock)
    assert nonces.use_once("nonce-aaaaaaaaaaaaaaaa", 121)
    assert not nonces.use_once("nonce-aaaaaaaaaaaaaaaa", 121)
    clock.advance(122)
    assert nonces.use_once("nonce-aaaaaaaaaaaaaaaa", 121)
    assert nonces.use_once("nonce-bbbbbbbbbbbbbbbb", 121)
    assert len(nonces) == 2


def test_concurrent_uses_of_one_signed_request_succeed_once(signer: GatewaySigner) -> None:
    sent = signer.sign(ALICE, **POST)
    outcomes: list[str] = []
    start = threading.Barrier(8)

    def attempt() -> None:
        start.wait()
        try:
            signer.authenticate(sent, **POST)
            outcomes.append("ok")
        except CNOPAuthenticationException:
            outcomes.append("refused")

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok"] + ["refused"] * 7


# -- a fleet shares nonces in Redis -----------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("server", ["redis_url", "redis_cluster_url"])
def test_a_request_replayed_to_another_instance_is_refused(
    secret: str, request: pytest.FixtureRequest, server: str, unique_name: Any
) -> None:
    url = request.getfixturevalue(server)
    prefix = unique_name("auth-nonce")
    stores = [RedisNonceStore.from_url(url, prefix=prefix) for _ in range(2)]
    a, b = (GatewaySigner(secret, nonces=store) for store in stores)
    sent = a.sign(ALICE, **POST)
    assert a.authenticate(sent, **POST).user_id == "alice_01"
    with pytest.raises(CNOPAuthenticationException, match="nonce already used"):
        b.authenticate(sent, **POST)
    client = stores[0]._client
    assert client is not None
    ttl = client.ttl(f"{prefix}:{sent[NONCE_HEADER]}")
    assert 0 < ttl <= 121
    for store in stores:
        store.close()


@pytest.mark.integration
async def test_async_authentication_uses_the_shared_nonces(
    secret: str, redis_url: str, unique_name: Any
) -> None:
    store = RedisNonceStore.from_url(redis_url, prefix=unique_name("auth-nonce"))
    signer = GatewaySigner(secret, nonces=store)
    sent = signer.sign(ALICE, **POST)
    assert (await signer.authenticate_async(sent, **POST)).user_id == "alice_01"
    with pytest.raises(CNOPAuthenticationException, match="nonce already used"):
        await signer.authenticate_async(sent, **POST)
    with pytest.raises(CNOPAuthenticationException, match="nonce already used"):
        signer.authenticate(sent, **POST)  # and the blocking path sees the same nonces
    await store.aclose()
    store.close()


# -- FastAPI: what the dependency signs is what the route received ----------------------


@pytest.fixture
def app_client(secret: str) -> TestClient:
    signer = GatewaySigner(secret)
    app = FastAPI()
    add_problem_handler(app)
    auth = FastAPIAuth(gateway=signer)

    @app.post("/orders")
    def place(user: Annotated[UserContext, Depends(auth.current_user)]) -> dict[str, Any]:
        return {"user": user.user_id}

    @app.delete("/orders/{order_id}")
    def cancel(
        order_id: str, user: Annotated[UserContext, Depends(auth.current_user)]
    ) -> dict[str, Any]:
        return {"user": user.user_id, "order": order_id}

    app.state.signer = signer
    return TestClient(app)


def test_fastapi_binds_method_route_query_and_body(app_client: TestClient) -> None:
    signer: GatewaySigner = app_client.app.state.signer  # type: ignore[attr-defined]
    body = b'{"asset":"BTC"}'
    sent = signer.sign(ALICE, method="POST", target="/orders?dry_run=1", body=body)
    ok = app_client.post("/orders?dry_run=1", headers=sent, content=body)
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"user": "alice_01"}
    replay = app_client.post("/orders?dry_run=1", headers=sent, content=body)
    assert replay.status_code == 401
    assert "nonce already used" in replay.json()["detail"]

    fresh = signer.sign(ALICE, method="POST", target="/orders?dry_run=1", body=body)
    for method, path, content in (
        ("POST", "/orders?dry_run=1", b'{"asset":"ETH"}'),
        ("POST", "/orders", body),
        ("DELETE", "/orders/o-1", b""),
    ):
        moved = app_client.request(method, path, headers=fresh, content=content)
        assert moved.status_code == 401, (method, path)
        assert "bad signature" in moved.json()["detail"]

    encoded = signer.sign(ALICE, method="DELETE", target="/orders/o%2D1")
    reply = app_client.delete("/orders/o%2D1", headers=encoded)
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"user": "alice_01", "order": "o-1"}


def test_the_signature_window_is_real_time_in_the_app(app_client: TestClient) -> None:
    signer: GatewaySigner = app_client.app.state.signer  # type: ignore[attr-defined]
    old = signer.sign(ALICE, method="POST", target="/orders", timestamp=int(time.time()) - 600)
    reply = app_client.post("/orders", headers=old)
    assert reply.status_code == 401
    assert "clock skew" in reply.json()["detail"]
