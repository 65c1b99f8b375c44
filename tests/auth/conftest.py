"""Fixtures for cnop.auth tests: fast password hashing, keys, a hand-moved clock, audit lines."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cnop.auth import JWTKey, KeySet, PasswordManager, TokenManager, TokenSettings
from cnop.logging import configure_logging, reset_logging

# Cost 4 keeps most tests fast; a few tests use the default cost 12 on purpose.
FAST_ROUNDS = 4
NOW = 1_800_000_000.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class AuditLines:
    """Every log line written during a test, parsed."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, line: str) -> None:
        self.lines.append(line)

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in "".join(self.lines).splitlines() if line.strip()]

    def events(self, event: str) -> list[dict[str, Any]]:
        return [r for r in self.records() if r.get("event") == event]

    def text(self) -> str:
        return "".join(self.lines)


@pytest.fixture
def audit_lines() -> Iterator[AuditLines]:
    captured = AuditLines()
    configure_logging(service="auth-test", level="DEBUG", sink=captured.write)
    try:
        yield captured
    finally:
        reset_logging()


@pytest.fixture(scope="session")
def fast_passwords() -> PasswordManager:
    return PasswordManager(bcrypt_rounds=FAST_ROUNDS)


@pytest.fixture
def secret() -> str:
    return secrets.token_urlsafe(48)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_tokens(secret: str, clock: Clock) -> Callable[..., TokenManager]:
    """``make_tokens(**settings)``: an HS256 manager on the test clock and secret."""

    def make(keys: KeySet | None = None, **overrides: Any) -> TokenManager:
        keys = keys if keys is not None else KeySet(JWTKey.hmac(secret))
        return TokenManager(TokenSettings(keys=keys, **overrides), clock=clock)

    return make


@pytest.fixture
def tokens(make_tokens: Callable[..., TokenManager]) -> TokenManager:
    return make_tokens()


def _pem_private(key: Any) -> str:
    return str(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
    )


def _pem_public(key: Any) -> str:
    return str(
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="session")
def rsa_pems() -> list[tuple[str, str]]:
    """Two RSA key pairs as (private PEM, public PEM)."""
    keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2)]
    return [(_pem_private(k), _pem_public(k)) for k in keys]


@pytest.fixture(scope="session")
def ec_pems() -> list[tuple[str, str]]:
    """Two P-256 key pairs as (private PEM, public PEM)."""
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(2)]
    return [(_pem_private(k), _pem_public(k)) for k in keys]
