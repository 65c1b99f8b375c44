"""The FastAPI dependencies, through real requests to a real app (Starlette's test client)."""

# No `from __future__ import annotations`: FastAPI evaluates the endpoints' annotations,
# which refer to names local to the fixture.

import secrets
from datetime import timedelta
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from cnop.auth import GatewaySigner, JWTKey, KeySet, TokenManager, TokenSettings, UserContext
from cnop.auth.fastapi import FastAPIAuth, add_problem_handler
from cnop.exceptions import CNOPConfigurationException, CNOPValidationException, UserRole

PROBLEM = "application/problem+json"


@pytest.fixture
def signer(secret: str) -> GatewaySigner:
    return GatewaySigner(secret)


@pytest.fixture
def real_tokens(secret: str) -> TokenManager:
    # The app runs on the real clock, so the tokens must too.
    return TokenManager(TokenSettings(keys=KeySet(JWTKey.hmac(secret))))


@pytest.fixture
def client(real_tokens: TokenManager, signer: GatewaySigner) -> TestClient:
    app = FastAPI()
    add_problem_handler(app)
    auth = FastAPIAuth(tokens=real_tokens, gateway=signer)

    @app.get("/me")
    def me(user: Annotated[UserContext, Depends(auth.current_user)]) -> dict[str, Any]:
        return user.model_dump(mode="json")

    @app.get("/admin")
    def admin(
        user: Annotated[UserContext, Depends(auth.require_role(UserRole.ADMIN))],
    ) -> dict[str, str | None]:
        return {"admin": user.user_id}

    @app.get("/orders")
    def orders(
        user: Annotated[UserContext, Depends(auth.require_role("customer"))],
    ) -> dict[str, str | None]:
        return {"customer": user.user_id}

    return TestClient(app)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Request-ID": "req-42"}


def test_bearer_token_yields_the_user(client: TestClient, real_tokens: TokenManager) -> None:
    token = real_tokens.create_access_token("alice_01").access_token
    reply = client.get("/me", headers=bearer(token))
    assert reply.status_code == 200
    assert reply.json() == {
        "authenticated": True,
        "user_id": "alice_01",
        "role": "customer",
        "request_id": "req-42",
        "source": "bearer",
        "auth_service": "cnop-auth",
    }


def test_missing_credentials_are_a_401_problem(client: TestClient) -> None:
    reply = client.get("/me")
    assert reply.status_code == 401
    assert reply.headers["content-type"] == PROBLEM
    assert reply.headers["www-authenticate"] == "Bearer"
    body = reply.json()
    assert body["code"] == "AUTHENTICATION_FAILED"
    assert body["status"] == 401
    assert body["instance"] == "/me"


def test_bad_or_expired_tokens_are_401_problems(
    client: TestClient, real_tokens: TokenManager, secret: str
) -> None:
    refresh = real_tokens.create_token_pair("alice_01").refresh_token
    for token, code in (("garbage", "TOKEN_INVALID"), (refresh, "TOKEN_INVALID")):
        reply = client.get("/me", headers=bearer(token))
        assert reply.status_code == 401
        assert reply.json()["code"] == code
        assert token not in reply.text
    past = TokenManager(
        TokenSettings(keys=KeySet(JWTKey.hmac(secret))), clock=lambda: 1_600_000_000.0
    )
    old = past.create_access_token("alice_01", expires_delta=timedelta(minutes=1)).access_token
    reply = client.get("/me", headers=bearer(old))
    assert (reply.status_code, reply.json()["code"]) == (401, "TOKEN_EXPIRED")


def test_role_checks_are_403_problems(client: TestClient, real_tokens: TokenManager) -> None:
    customer = real_tokens.create_access_token("alice_01").access_token
    admin = real_tokens.create_access_token("root_admin", role="admin").access_token
    denied = client.get("/admin", headers=bearer(customer))
    assert denied.status_code == 403
    assert denied.headers["content-type"] == PROBLEM
    assert denied.json()["code"] == "INSUFFICIENT_PERMISSIONS"
    assert client.get("/admin", headers=bearer(admin)).json() == {"admin": "root_admin"}
    # admin implies customer
    assert client.get("/orders", headers=bearer(admin)).json() == {"customer": "root_admin"}
    assert client.get("/orders", headers=bearer(customer)).json() == {"customer": "alice_01"}


def test_signed_gateway_headers_yield_the_user(client: TestClient, signer: GatewaySigner) -> None:
    headers = signer.sign(
        {"X-User-ID": "root_admin", "X-User-Role": "admin", "X-Authenticated": "true"},
        method="GET",
        target="/admin",
    )
    assert client.get("/admin", headers=headers).json() == {"admin": "root_admin"}


def test_forged_or_unsigned_gateway_headers_are_refused(
    client: TestClient, signer: GatewaySigner
) -> None:
    headers = signer.sign(
        {"X-User-ID": "alice_01", "X-User-Role": "customer", "X-Authenticated": "true"},
        method="GET",
        target="/admin",
    )
    forged = {**headers, "X-User-Role": "admin"}
    reply = client.get("/admin", headers=forged)
    assert (reply.status_code, reply.json()["code"]) == (401, "AUTHENTICATION_FAILED")
    unsigned = {"X-User-ID": "root_admin", "X-User-Role": "admin", "X-Authenticated": "true"}
    assert client.get("/admin", headers=unsigned).status_code == 401


def test_duplicated_identity_header_is_refused(client: TestClient, signer: GatewaySigner) -> None:
    headers = signer.sign(
        {"X-User-ID": "alice_01", "X-User-Role": "customer", "X-Authenticated": "true"},
        method="GET",
        target="/admin",
    )
    # The signed copy first, a smuggled second copy after it: neither may count.
    doubled = [*headers.items(), ("X-User-Role", "admin")]
    reply = client.get("/admin", headers=doubled)
    assert reply.status_code == 401
    assert "more than once" in reply.json()["detail"]


def test_signed_anonymous_request_is_401(client: TestClient, signer: GatewaySigner) -> None:
    headers = signer.sign(
        {"X-Authenticated": "false", "X-Request-ID": "req-7"}, method="GET", target="/me"
    )
    reply = client.get("/me", headers=headers)
    assert reply.status_code == 401
    assert reply.json()["request_id"] == "req-7"


def test_configuration_mistakes_are_refused() -> None:
    with pytest.raises(CNOPConfigurationException):
        FastAPIAuth()
    with pytest.raises(CNOPValidationException):
        FastAPIAuth(gateway=GatewaySigner(secrets.token_urlsafe(32))).require_role("root")


def test_the_bearer_scheme_appears_in_openapi(client: TestClient) -> None:
    schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"] == "bearer"


class _AsyncOnlyStore:
    """A revocation store whose blocking methods must never be called from the app."""

    def __init__(self) -> None:
        self.revoked: set[str] = set()
        self.async_calls = 0

    def is_revoked(self, jti: str, sid: str | None = None) -> bool:
        raise AssertionError("a blocking store call on the event loop")

    def revoke(self, jti: str, expires_at: Any, sid: str | None = None) -> bool:
        raise AssertionError("a blocking store call on the event loop")

    def revoke_session(self, sid: str, expires_at: Any) -> bool:
        raise AssertionError("a blocking store call on the event loop")

    async def is_revoked_async(self, jti: str, sid: str | None = None) -> bool:
        self.async_calls += 1
        return jti in self.revoked or (sid is not None and f"sid:{sid}" in self.revoked)

    async def revoke_async(self, jti: str, expires_at: Any, sid: str | None = None) -> bool:
        self.revoked.add(jti)
        return True

    async def revoke_session_async(self, sid: str, expires_at: Any) -> bool:
        self.revoked.add(f"sid:{sid}")
        return True


def test_the_bearer_dependency_awaits_the_revocation_store(secret: str) -> None:
    store = _AsyncOnlyStore()
    tokens = TokenManager(TokenSettings(keys=KeySet(JWTKey.hmac(secret))), revocation=store)
    app = FastAPI()
    add_problem_handler(app)
    auth = FastAPIAuth(tokens=tokens)

    @app.get("/me")
    def me(user: Annotated[UserContext, Depends(auth.current_user)]) -> dict[str, Any]:
        return {"user": user.user_id}

    client = TestClient(app)
    pair = tokens.create_token_pair("alice_01")
    assert client.get("/me", headers=bearer(pair.access_token)).json() == {"user": "alice_01"}
    assert store.async_calls == 1
    store.revoked.add(f"sid:{pair.session_id}")  # logged out elsewhere in the fleet
    assert client.get("/me", headers=bearer(pair.access_token)).status_code == 401
