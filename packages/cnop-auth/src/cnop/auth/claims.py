"""What a token says and what issuing one returns."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field

from cnop.exceptions import UserRole


class TokenType(str, Enum):
    """The ``type`` claim: an access token opens APIs; a refresh token only gets new tokens."""

    ACCESS = "access"
    REFRESH = "refresh"


class TokenClaims(BaseModel):
    """The verified claims of a token. Times are aware UTC datetimes."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sub: str = Field(min_length=1, max_length=128)
    role: UserRole
    type: TokenType
    jti: str = Field(min_length=1, max_length=128)
    iat: datetime
    nbf: datetime
    exp: datetime
    iss: str | None = None
    aud: str | list[str] | None = None
    #: The session (login) the token belongs to; every token of one login carries it.
    sid: str | None = Field(default=None, min_length=1, max_length=128)
    #: When the session began (the login): its absolute end is this plus the session
    #: lifetime, which no rotation extends.
    auth_time: datetime | None = None

    @property
    def username(self) -> str:
        """The subject: the username the token was issued to."""
        return self.sub


class AccessToken(BaseModel):
    """An issued access token, shaped as an OAuth 2 token response."""

    model_config = ConfigDict(frozen=True)

    access_token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth 2 token type, not a secret)
    #: Seconds from issue to expiry: exactly ``exp - iat`` of the token.
    expires_in: int
    expires_at: datetime


class TokenPair(AccessToken):
    """An access token plus the refresh token that can replace both."""

    refresh_token: str
    refresh_expires_in: int
    refresh_expires_at: datetime
    #: The session both tokens belong to, and when it ends whatever the rotations.
    session_id: str
    session_expires_at: datetime
