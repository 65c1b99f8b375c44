"""cnop.auth.testing, and FastAPIAuth's choice of error body, through a real app."""

# No `from __future__ import annotations`: FastAPI evaluates the endpoints' annotations.

from datetime import timedelta
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from cnop.auth import GatewaySigner, TokenManager, UserContext
from cnop.auth.fastapi import FastAPIAuth, add_problem_handler
from cnop.auth.testing import TestGateway, TestTokens, issue_test_token, sign_gateway_headers
from cnop.exceptions import (
    CNOPConfigurationException,
    CNOPTokenExpiredException,
    CNOPTokenInvalidException,
    CNOPValidationException,
    UserRole,
)

PROBLEM = "application/problem+json"


def test_test_tokens_verify_with_their_own_manager_and_the_env_they_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tokens = TestTokens()
    assert len(tokens.secret) >= 43  # 32+ random bytes
    token = tokens.token("alice_01", role="admin")
    claims = tokens.manager.verify_access_token(token)
    assert (claims.sub, claims.role) == ("alice_01", UserRole.ADMIN)
    for name, value in tokens.env.items():
        monkeypatch.setenv(name, value)
    assert TokenManager.from_env().verify_access_token(token).sub == "alice_01"


def test_each_test_tokens_has_its_own_secret() -> None:
    first, second = TestTokens(), TestTokens()
    assert first.secret != second.secret
    with pytest.raises(CNOPTokenInvalidException):
        second.manager.verify_access_token(first.token("alice_01"))


def test_a_weak_secret_is_refused() -> None:
    with pytest.raises(CNOPConfigurationException):
        TestTokens(secret="changeme")


def test_issue_test_token_uses_the_apps_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tokens = TestTokens()
    for name, value in tokens.env.items():
        monkeypatch.setenv(name, value)
    token = issue_test_token("bob_02", role=UserRole.CUSTOMER)
    assert tokens.manager.verify_access_token(token).sub == "bob_02"
    explicit = issue_test_token("carol_03", "admin", settings=tokens.settings)
    assert tokens.manager.verify_access_token(explicit).role is UserRole.ADMIN


def test_expired_test_tokens_are_refused_like_real_ones() -> None:
    tokens = TestTokens()
    past = TokenManager(tokens.settings, clock=lambda: 1_000_000.0)
    old = past.create_access_token("alice_01", expires_delta=timedelta(seconds=1)).access_token
    with pytest.raises(CNOPTokenExpiredException):
        tokens.manager.verify_access_token(old)


@pytest.mark.parametrize("role", ["root", "Admin", " admin", "admin\n", "", None])
def test_bad_roles_are_refused(role: Any) -> None:
    with pytest.raises(CNOPValidationException, match="role"):
        TestTokens().token("alice_01", role=role)
    with pytest.raises(CNOPValidationException, match="role"):
        TestGateway().headers("alice_01", role=role)


def test_gateway_headers_bind_method_target_and_body_and_are_single_use() -> None:
    gateway = TestGateway()
    service = GatewaySigner(gateway.secret)  # the service side: its own nonce memory
    headers = gateway.headers(
        "alice_01", "admin", method="POST", target="/orders?x=1", body=b'{"q":1}'
    )
    context = service.authenticate(headers, method="POST", target="/orders?x=1", body=b'{"q":1}')
    assert (context.user_id, context.role, context.authenticated) == (
        "alice_01",
        UserRole.ADMIN,
        True,
    )
    assert context.source == "gateway"
    with pytest.raises(Exception, match="replay"):
        service.authenticate(headers, method="POST", target="/orders?x=1", body=b'{"q":1}')
    fresh = gateway.headers("alice_01", "admin", method="POST", target="/orders?x=1", body=b"{}")
    for method, target, body in (
        ("PUT", "/orders?x=1", b"{}"),
        ("POST", "/orders?x=2", b"{}"),
        ("POST", "/orders?x=1", b'{"q":2}'),
    ):
        with pytest.raises(Exception, match="bad signature"):
            GatewaySigner(gateway.secret).authenticate(
                fresh, method=method, target=target, body=body
            )


def test_anonymous_gateway_headers() -> None:
    gateway = TestGateway()
    headers = gateway.headers(None)
    context = gateway.signer.authenticate(headers, method="GET", target="/")
    assert not context.authenticated
    assert context.user_id is None


def test_sign_gateway_headers_refuses_what_services_would_refuse() -> None:
    signer = TestGateway().signer
    with pytest.raises(CNOPValidationException, match="body"):
        sign_gateway_headers(signer, "alice_01", body="{}")  # type: ignore[arg-type]
    with pytest.raises(CNOPValidationException):
        sign_gateway_headers(signer, "alice_01", target="orders")
    with pytest.raises(CNOPValidationException):
        sign_gateway_headers(signer, "alice\n01")
    with pytest.raises(CNOPValidationException):
        sign_gateway_headers(signer, "alice_01", request_id="req 1")


# FastAPIAuth(errors=...) --------------------------------------------------------------


def make_app(tokens: TestTokens, gateway: TestGateway, errors: Any, handler: bool) -> TestClient:
    app = FastAPI()
    if handler:
        add_problem_handler(app)
    auth = FastAPIAuth(tokens=tokens.manager, gateway=GatewaySigner(gateway.secret), errors=errors)

    @app.get("/me")
    def me(user: Annotated[UserContext, Depends(auth.current_user)]) -> dict[str, Any]:
        return {"user": user.user_id, "role": user.role}

    @app.post("/admin")
    def admin(
        user: Annotated[UserContext, Depends(auth.require_role("admin"))],
    ) -> dict[str, Any]:
        return {"admin": user.user_id}

    return TestClient(app)


@pytest.fixture
def tokens() -> TestTokens:
    return TestTokens()


@pytest.fixture
def gateway() -> TestGateway:
    return TestGateway()


def test_detail_style_answers_like_the_original_services(
    tokens: TestTokens, gateway: TestGateway
) -> None:
    client = make_app(tokens, gateway, "detail", handler=False)
    missing = client.get("/me")
    assert missing.status_code == 401
    assert missing.json() == {"detail": "Authentication is required"}
    assert missing.headers["content-type"] == "application/json"
    assert missing.headers["www-authenticate"] == "Bearer"
    forged = client.get("/me", headers={"Authorization": "Bearer " + tokens.token()[:-2] + "xx"})
    assert forged.status_code == 401
    assert set(forged.json()) == {"detail"}
    forbidden = client.post("/admin", headers=tokens.headers("alice_01", "customer"))
    assert forbidden.status_code == 403
    assert set(forbidden.json()) == {"detail"}
    assert client.get("/me", headers=tokens.headers("alice_01")).json() == {
        "user": "alice_01",
        "role": "customer",
    }


def test_detail_style_with_gateway_headers(tokens: TestTokens, gateway: TestGateway) -> None:
    client = make_app(tokens, gateway, "detail", handler=False)
    body = b'{"asset":"BTC"}'
    headers = gateway.headers("root_1", "admin", method="POST", target="/admin", body=body)
    assert client.post("/admin", headers=headers, content=body).json() == {"admin": "root_1"}
    replay = client.post("/admin", headers=headers, content=body)
    assert replay.status_code == 401
    assert "replay" in replay.json()["detail"]


def test_problem_style_is_the_default(tokens: TestTokens, gateway: TestGateway) -> None:
    client = make_app(tokens, gateway, "problem", handler=True)
    missing = client.get("/me")
    assert missing.status_code == 401
    assert missing.headers["content-type"].startswith(PROBLEM)
    assert missing.json()["status"] == 401
    forbidden = client.post("/admin", headers=tokens.headers("alice_01"))
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"].startswith(PROBLEM)
    default = FastAPIAuth(tokens=tokens.manager)
    assert default._errors == "problem"


def test_detail_style_hides_internal_details(gateway: TestGateway) -> None:
    class BrokenStore:
        """A revocation store whose server is down: verification fails closed (5xx)."""

        def is_revoked(self, jti: str) -> bool:
            raise CNOPConfigurationException("secret-host:6379 refused the connection")

        def revoke(self, jti: str, expires_at: Any) -> None:
            return None

    tokens = TestTokens()
    broken = TokenManager(tokens.settings, revocation=BrokenStore())  # type: ignore[arg-type]
    app = FastAPI()
    auth = FastAPIAuth(tokens=broken, errors="detail")

    @app.get("/me")
    def me(user: Annotated[UserContext, Depends(auth.current_user)]) -> dict[str, Any]:
        return {}

    response = TestClient(app).get("/me", headers=tokens.headers("alice_01"))
    assert response.status_code >= 500
    assert "secret-host" not in response.text
    assert set(response.json()) == {"detail"}


@pytest.mark.parametrize("errors", ["json", "", None, "Detail", "detail "])
def test_unknown_error_styles_are_refused(tokens: TestTokens, errors: Any) -> None:
    with pytest.raises(CNOPConfigurationException, match="errors"):
        FastAPIAuth(tokens=tokens.manager, errors=errors)
