"""Helpers for testing services that use cnop.auth: test tokens and signed gateway headers.

>>> from cnop.auth.testing import TestGateway, TestTokens
>>> tokens = TestTokens()                       # a random strong secret of its own
>>> claims = tokens.manager.verify_access_token(tokens.token("alice_01", role="admin"))
>>> claims.sub, claims.role.value
('alice_01', 'admin')
>>> gateway = TestGateway()
>>> headers = gateway.headers("alice_01", method="POST", target="/orders", body=b"{}")
>>> gateway.signer.authenticate(headers, method="POST", target="/orders", body=b"{}").user_id
'alice_01'

The app under test gets the same secrets through :attr:`TestTokens.env` /
:attr:`TestGateway.env` (``JWT_SECRET_KEY``, ``GATEWAY_SIGNING_SECRET``), or is built
with :attr:`TestTokens.manager` / a ``GatewaySigner(gateway.secret)`` directly. Nothing
here weakens a check: the tokens and signatures are the real ones.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from cnop.auth.context import (
    AUTH_SERVICE_HEADER,
    AUTHENTICATED_HEADER,
    REQUEST_ID_HEADER,
    SOURCE_HEADER,
    USER_ID_HEADER,
    USER_ROLE_HEADER,
)
from cnop.auth.gateway import SECRET_VARIABLE, GatewaySigner
from cnop.auth.identity import require_role_value
from cnop.auth.keys import JWTKey, KeySet
from cnop.auth.settings import DEFAULT_AUDIENCE, DEFAULT_ISSUER, TokenSettings
from cnop.auth.tokens import TokenManager
from cnop.exceptions import CNOPValidationException, UserRole

__all__ = ["TestGateway", "TestTokens", "issue_test_token", "sign_gateway_headers"]


def _secret(secret: str | None) -> str:
    # 48 random bytes, URL-safe: well above the 32-byte minimum the settings insist on.
    return secrets.token_urlsafe(48) if secret is None else secret


def issue_test_token(
    user: str,
    role: UserRole | str = UserRole.CUSTOMER,
    *,
    settings: TokenSettings | None = None,
    expires_in: timedelta | None = None,
) -> str:
    """A real access token for ``user`` with ``role``, signed with ``settings``' key.

    ``settings`` default to :meth:`TokenSettings.from_env` (the app's ``JWT_SECRET_KEY``
    ...), so the app under test accepts the token. ``expires_in`` overrides the lifetime.
    """
    if settings is None:
        settings = TokenSettings.from_env()
    return TokenManager(settings).create_access_token(user, role, expires_in).access_token


class TestTokens:
    """A :class:`TokenManager` with a random strong HS256 secret, for tests.

    ``secret`` (32+ random bytes) fixes the secret instead; ``issuer``/``audience`` as in
    :class:`TokenSettings`; ``access_token_lifetime`` defaults to 5 minutes.
    """

    __test__ = False  # not a test class, whatever pytest thinks of its name

    def __init__(
        self,
        *,
        secret: str | None = None,
        issuer: str | None = DEFAULT_ISSUER,
        audience: str | None = DEFAULT_AUDIENCE,
        access_token_lifetime: timedelta = timedelta(minutes=5),
    ) -> None:
        self.secret = _secret(secret)
        self.settings = TokenSettings(
            keys=KeySet(JWTKey.hmac(self.secret)),
            issuer=issuer,
            audience=audience,
            access_token_lifetime=access_token_lifetime,
        )
        self.manager = TokenManager(self.settings)

    @property
    def env(self) -> dict[str, str]:
        """Environment variables under which ``TokenManager.from_env()`` verifies these tokens."""
        env = {"JWT_SECRET_KEY": self.secret, "JWT_ALGORITHM": "HS256"}
        if self.settings.issuer is not None:
            env["JWT_ISSUER"] = self.settings.issuer
        if self.settings.audience is not None:
            env["JWT_AUDIENCE"] = self.settings.audience
        return env

    def token(
        self,
        user: str = "test_user",
        role: UserRole | str = UserRole.CUSTOMER,
        *,
        expires_in: timedelta | None = None,
    ) -> str:
        """An access token for ``user`` with ``role``."""
        return self.manager.create_access_token(user, role, expires_in).access_token

    def headers(
        self,
        user: str = "test_user",
        role: UserRole | str = UserRole.CUSTOMER,
        *,
        request_id: str | None = None,
    ) -> dict[str, str]:
        """``Authorization: Bearer <token>`` (and ``X-Request-ID`` if given)."""
        headers = {"Authorization": f"Bearer {self.token(user, role)}"}
        if request_id is not None:
            headers[REQUEST_ID_HEADER] = request_id
        return headers


def sign_gateway_headers(
    signer: GatewaySigner,
    user: str | None,
    role: UserRole | str = UserRole.CUSTOMER,
    *,
    method: str = "GET",
    target: str = "/",
    body: bytes = b"",
    request_id: str | None = None,
    source: str = "gateway",
    auth_service: str | None = "auth_service",
) -> dict[str, str]:
    """The headers the gateway sends for ``user`` (None: an anonymous caller), signed.

    ``method``, ``target`` (path and query exactly as the service receives them) and
    ``body`` (the exact bytes sent) are bound into the signature, with a fresh nonce:
    each call's headers are accepted once.
    """
    headers: dict[str, str] = {SOURCE_HEADER: source}
    if user is None:
        headers[AUTHENTICATED_HEADER] = "false"
    else:
        headers.update(
            {
                USER_ID_HEADER: user,
                USER_ROLE_HEADER: require_role_value(role).value,
                AUTHENTICATED_HEADER: "true",
            }
        )
    if auth_service is not None:
        headers[AUTH_SERVICE_HEADER] = auth_service
    if request_id is not None:
        headers[REQUEST_ID_HEADER] = request_id
    if not isinstance(body, bytes):
        raise CNOPValidationException.for_field("body", "must be the exact bytes sent")
    return signer.sign(headers, method=method, target=target, body=body)


class TestGateway:
    """A :class:`GatewaySigner` with a random strong secret, playing the gateway in tests."""

    __test__ = False

    def __init__(self, *, secret: str | None = None) -> None:
        self.secret = _secret(secret)
        self.signer = GatewaySigner(self.secret)

    @property
    def env(self) -> dict[str, str]:
        """Environment under which ``GatewaySigner.from_env()`` checks these signatures."""
        return {SECRET_VARIABLE: self.secret}

    def headers(
        self,
        user: str | None = "test_user",
        role: UserRole | str = UserRole.CUSTOMER,
        *,
        method: str = "GET",
        target: str = "/",
        body: bytes = b"",
        request_id: str | None = None,
    ) -> dict[str, str]:
        """Signed gateway headers for one request (see :func:`sign_gateway_headers`)."""
        return sign_gateway_headers(
            self.signer,
            user,
            role,
            method=method,
            target=target,
            body=body,
            request_id=request_id,
        )
