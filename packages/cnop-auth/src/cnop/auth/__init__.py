"""Passwords, JWT access/refresh tokens, signed gateway context and role checks.

>>> from cnop.auth import PasswordManager, TokenManager
>>> passwords = PasswordManager()
>>> tokens = TokenManager.from_env()     # needs JWT_SECRET_KEY (32+ random bytes)

FastAPI dependencies live in :mod:`cnop.auth.fastapi` (the ``fastapi`` extra). The shared
revocation stores, ``RedisRevocationStore`` (``redis`` extra) and ``DynamoDBRevocationStore``
(``dynamodb`` extra), are importable from here and load redis or boto3 only when used.
"""

from __future__ import annotations

from cnop.auth.__about__ import __version__

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Any

    from cnop.auth.claims import AccessToken, TokenClaims, TokenPair
    from cnop.auth.context import (
        CONTEXT_HEADERS,
        NONCE_HEADER,
        SIGNATURE_HEADER,
        TIMESTAMP_HEADER,
        UserContext,
    )

    # Not in __all__: a star import must not fail for want of an extra.
    # "import X as X": explicit re-exports, so `from cnop.auth import RedisRevocationStore`
    # passes mypy --strict for typed users.
    from cnop.auth.dynamodb_store import DynamoDBRevocationStore as DynamoDBRevocationStore
    from cnop.auth.gateway import GatewaySigner
    from cnop.auth.jwks import JWKSClient
    from cnop.auth.keys import JWTKey, KeySet
    from cnop.auth.nonces import InMemoryNonceStore, NonceStore
    from cnop.auth.passwords import PasswordManager
    from cnop.auth.policy import PasswordPolicy
    from cnop.auth.redis_store import RedisNonceStore as RedisNonceStore
    from cnop.auth.redis_store import RedisRevocationStore as RedisRevocationStore
    from cnop.auth.revocation import InMemoryRevocationList, RevocationList, RevocationStore
    from cnop.auth.roles import require_role
    from cnop.auth.settings import TokenSettings
    from cnop.auth.token_type import TokenType
    from cnop.auth.tokens import TokenManager

# Every name loads its module on first use (PEP 562), so `import cnop.auth` costs next to
# nothing: pydantic, passlib, python-jose and cnop.logging load with what needs them, and
# redis or boto3 only with the store that uses them.
_LAZY = {
    "AccessToken": "cnop.auth.claims",
    "TokenClaims": "cnop.auth.claims",
    "TokenPair": "cnop.auth.claims",
    "CONTEXT_HEADERS": "cnop.auth.context",
    "NONCE_HEADER": "cnop.auth.context",
    "SIGNATURE_HEADER": "cnop.auth.context",
    "TIMESTAMP_HEADER": "cnop.auth.context",
    "UserContext": "cnop.auth.context",
    "GatewaySigner": "cnop.auth.gateway",
    "JWKSClient": "cnop.auth.jwks",
    "JWTKey": "cnop.auth.keys",
    "KeySet": "cnop.auth.keys",
    "InMemoryNonceStore": "cnop.auth.nonces",
    "NonceStore": "cnop.auth.nonces",
    "PasswordManager": "cnop.auth.passwords",
    "PasswordPolicy": "cnop.auth.policy",
    "InMemoryRevocationList": "cnop.auth.revocation",
    "RevocationList": "cnop.auth.revocation",
    "RevocationStore": "cnop.auth.revocation",
    "require_role": "cnop.auth.roles",
    "TokenSettings": "cnop.auth.settings",
    "TokenType": "cnop.auth.token_type",
    "TokenManager": "cnop.auth.tokens",
    "RedisNonceStore": "cnop.auth.redis_store",
    "RedisRevocationStore": "cnop.auth.redis_store",
    "DynamoDBRevocationStore": "cnop.auth.dynamodb_store",
}
# The submodules an earlier `import cnop.auth` loaded: `cnop.auth.tokens` still works as an
# attribute after `import cnop.auth` alone (those needing an extra were never among them).
_SUBMODULES = frozenset(
    {
        "arguments",
        "claims",
        "context",
        "environment",
        "gateway",
        "identity",
        "jwks",
        "keys",
        "models",
        "nonces",
        "passwords",
        "policy",
        "revocation",
        "roles",
        "secret_strength",
        "security_events",
        "settings",
        "store_calls",
        "store_core",
        "token_checks",
        "token_type",
        "tokens",
    }
)


def __getattr__(name: str) -> Any:
    import importlib  # noqa: PLC0415 - loaded with the first name asked for

    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'cnop.auth' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "CONTEXT_HEADERS",
    "NONCE_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "AccessToken",
    "GatewaySigner",
    "InMemoryNonceStore",
    "InMemoryRevocationList",
    "JWKSClient",
    "JWTKey",
    "KeySet",
    "NonceStore",
    "PasswordManager",
    "PasswordPolicy",
    "RevocationList",
    "RevocationStore",
    "TokenClaims",
    "TokenManager",
    "TokenPair",
    "TokenSettings",
    "TokenType",
    "UserContext",
    "__version__",
    "require_role",
]
