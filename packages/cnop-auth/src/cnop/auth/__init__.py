"""Passwords, JWT access/refresh tokens, signed gateway context and role checks.

>>> from cnop.auth import PasswordManager, TokenManager
>>> passwords = PasswordManager()
>>> tokens = TokenManager.from_env()     # needs JWT_SECRET_KEY (32+ random bytes)

FastAPI dependencies live in :mod:`cnop.auth.fastapi` (the ``fastapi`` extra). The shared
revocation stores, ``RedisRevocationStore`` (``redis`` extra) and ``DynamoDBRevocationStore``
(``dynamodb`` extra), are importable from here and load redis or boto3 only when used.
"""

import importlib
from typing import TYPE_CHECKING, Any

from cnop.auth.__about__ import __version__
from cnop.auth.claims import AccessToken, TokenClaims, TokenPair, TokenType
from cnop.auth.context import (
    CONTEXT_HEADERS,
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    UserContext,
)
from cnop.auth.gateway import GatewaySigner
from cnop.auth.jwks import JWKSClient
from cnop.auth.keys import JWTKey, KeySet
from cnop.auth.nonces import InMemoryNonceStore, NonceStore
from cnop.auth.passwords import PasswordManager
from cnop.auth.policy import PasswordPolicy
from cnop.auth.revocation import InMemoryRevocationList, RevocationList, RevocationStore
from cnop.auth.roles import require_role
from cnop.auth.settings import TokenSettings
from cnop.auth.tokens import TokenManager

if TYPE_CHECKING:
    # Not in __all__: a star import must not fail for want of an extra.
    # "import X as X": explicit re-exports, so `from cnop.auth import RedisRevocationStore`
    # passes mypy --strict for typed users.
    from cnop.auth.dynamodb_store import DynamoDBRevocationStore as DynamoDBRevocationStore
    from cnop.auth.redis_store import RedisNonceStore as RedisNonceStore
    from cnop.auth.redis_store import RedisRevocationStore as RedisRevocationStore

# Loaded on first use, so `import cnop.auth` never imports redis or boto3.
_LAZY = {
    "RedisNonceStore": "cnop.auth.redis_store",
    "RedisRevocationStore": "cnop.auth.redis_store",
    "DynamoDBRevocationStore": "cnop.auth.dynamodb_store",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cnop.auth' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


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
