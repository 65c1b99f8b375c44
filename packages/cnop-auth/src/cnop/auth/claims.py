"""What a token says and what issuing one returns."""

from __future__ import annotations

from pydantic import AwareDatetime, ConfigDict, Field

from cnop.auth.models import AuthModel
from cnop.auth.token_type import TokenType
from cnop.exceptions import UserRole

__all__ = ["AccessToken", "TokenClaims", "TokenPair", "TokenType"]


class TokenClaims(AuthModel):
    """The verified claims of a token. Times are aware datetimes (UTC when verified).

    Built from bad values (a naive datetime among them) it raises
    ``CNOPValidationException`` listing each bad field.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    sub: str = Field(min_length=1, max_length=128)
    role: UserRole
    type: TokenType
    jti: str = Field(min_length=1, max_length=128)
    iat: AwareDatetime
    nbf: AwareDatetime
    exp: AwareDatetime
    iss: str | None = None
    aud: str | list[str] | None = None
    #: The session (login) the token belongs to; every token of one login carries it.
    sid: str | None = Field(default=None, min_length=1, max_length=128)
    #: When the session began (the login): its absolute end is this plus the session
    #: lifetime, which no rotation extends.
    auth_time: AwareDatetime | None = None

    @property
    def username(self) -> str:
        """The subject: the username the token was issued to."""
        return self.sub


class AccessToken(AuthModel):
    """An issued access token, shaped as an OAuth 2 token response.

    Built from bad values it raises ``CNOPValidationException`` listing each bad field.
    """

    model_config = ConfigDict(frozen=True)

    access_token: str = Field(min_length=1)
    token_type: str = "bearer"  # noqa: S105 (the OAuth 2 token type, not a secret)
    #: Seconds from issue to expiry: exactly ``exp - iat`` of the token.
    expires_in: int = Field(ge=1)
    expires_at: AwareDatetime


class TokenPair(AccessToken):
    """An access token plus the refresh token that can replace both."""

    refresh_token: str = Field(min_length=1)
    refresh_expires_in: int = Field(ge=1)
    refresh_expires_at: AwareDatetime
    #: The session both tokens belong to, and when it ends whatever the rotations.
    session_id: str = Field(min_length=1, max_length=128)
    session_expires_at: AwareDatetime
