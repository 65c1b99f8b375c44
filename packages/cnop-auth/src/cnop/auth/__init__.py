"""Passwords, JWT access/refresh tokens, signed gateway context and role checks.

>>> from cnop.auth import PasswordManager, TokenManager
>>> passwords = PasswordManager()
>>> tokens = TokenManager.from_env()     # needs JWT_SECRET_KEY (32+ random bytes)

FastAPI dependencies live in :mod:`cnop.auth.fastapi` (the ``fastapi`` extra).
"""

from cnop.auth.__about__ import __version__
from cnop.auth.claims import AccessToken, TokenClaims, TokenPair, TokenType
from cnop.auth.context import CONTEXT_HEADERS, SIGNATURE_HEADER, TIMESTAMP_HEADER, UserContext
from cnop.auth.gateway import GatewaySigner
from cnop.auth.keys import JWTKey, KeySet
from cnop.auth.passwords import PasswordManager
from cnop.auth.policy import PasswordPolicy
from cnop.auth.revocation import InMemoryRevocationList, RevocationList, RevocationStore
from cnop.auth.roles import require_role
from cnop.auth.settings import TokenSettings
from cnop.auth.tokens import TokenManager

__all__ = [
    "CONTEXT_HEADERS",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "AccessToken",
    "GatewaySigner",
    "InMemoryRevocationList",
    "JWTKey",
    "KeySet",
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
