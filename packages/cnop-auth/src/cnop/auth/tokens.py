"""Issue, verify, rotate and revoke JWT access and refresh tokens."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from jose import jws

from cnop.auth import security_events
from cnop.auth.claims import AccessToken, TokenClaims, TokenPair, TokenType
from cnop.auth.identity import require_role_value, require_username
from cnop.auth.keys import KeySet
from cnop.auth.revocation import InMemoryRevocationList, RevocationList
from cnop.auth.settings import MAX_LIFETIME, TokenSettings
from cnop.auth.token_checks import check_claims, invalid, select_key
from cnop.exceptions import (
    CNOPConfigurationException,
    CNOPTokenExpiredException,
    CNOPTokenInvalidException,
    CNOPValidationException,
    UserRole,
)


class TokenManager:
    """Issue and verify tokens with one :class:`TokenSettings`.

    >>> tokens = TokenManager.from_env()          # JWT_SECRET_KEY, JWT_ALGORITHM, ...
    >>> issued = tokens.create_access_token("alice_01", role="customer")
    >>> tokens.verify_access_token(issued.access_token).sub
    'alice_01'

    Verification raises only ``CNOPTokenExpiredException`` or ``CNOPTokenInvalidException``.
    Revocation is checked by ``jti`` in ``revocation`` (default: in this process only; pass
    a shared :class:`RevocationList` when several instances serve the same users).
    """

    def __init__(
        self,
        settings: TokenSettings,
        *,
        revocation: RevocationList | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(settings, TokenSettings):
            raise CNOPConfigurationException("TokenManager needs a TokenSettings")
        if revocation is not None and not isinstance(revocation, RevocationList):
            raise CNOPConfigurationException(
                "revocation must have is_revoked(jti) and revoke(jti, expires_at)"
            )
        self._settings = settings
        self._keys: KeySet = settings.keys
        self._revocation: RevocationList = (
            revocation if revocation is not None else InMemoryRevocationList(clock)
        )
        self._clock = clock
        self._leeway = settings.leeway.total_seconds()

    @classmethod
    def from_env(cls, *, revocation: RevocationList | None = None) -> TokenManager:
        """A manager configured by :meth:`TokenSettings.from_env`."""
        return cls(TokenSettings.from_env(), revocation=revocation)

    @property
    def settings(self) -> TokenSettings:
        return self._settings

    def jwks(self) -> dict[str, Any]:
        """The public keys as a JWK Set, for other services to verify RS/ES tokens."""
        return self._keys.jwks()

    # -- issuing ---------------------------------------------------------------------------

    def create_access_token(
        self,
        username: str,
        role: UserRole | str = UserRole.CUSTOMER,
        expires_delta: timedelta | None = None,
    ) -> AccessToken:
        """A signed access token for ``username``; ``expires_delta`` overrides the lifetime."""
        lifetime = self._lifetime(expires_delta, self._settings.access_token_lifetime)
        token, expires_at = self._issue(username, role, TokenType.ACCESS, lifetime)
        return AccessToken(access_token=token, expires_in=lifetime, expires_at=expires_at)

    def create_token_pair(
        self, username: str, role: UserRole | str = UserRole.CUSTOMER
    ) -> TokenPair:
        """An access token and a refresh token (what a login returns)."""
        access_lifetime = self._lifetime(None, self._settings.access_token_lifetime)
        refresh_lifetime = self._lifetime(None, self._settings.refresh_token_lifetime)
        access, access_exp = self._issue(username, role, TokenType.ACCESS, access_lifetime)
        refresh, refresh_exp = self._issue(username, role, TokenType.REFRESH, refresh_lifetime)
        return TokenPair(
            access_token=access,
            expires_in=access_lifetime,
            expires_at=access_exp,
            refresh_token=refresh,
            refresh_expires_in=refresh_lifetime,
            refresh_expires_at=refresh_exp,
        )

    def rotate_refresh_token(self, refresh_token: str) -> TokenPair:
        """Trade a refresh token for a new pair; the old refresh token stops working.

        Using the same refresh token twice (a replay, or two racing requests) succeeds once:
        the second is refused with ``CNOPTokenInvalidException``.
        """
        claims = self._verify(refresh_token, TokenType.REFRESH)
        if not self._revocation.revoke(claims.jti, self._forget_after(claims)):
            security_events.token_refused("refresh token reused", user=claims.sub)
            raise invalid("revoked")
        return self.create_token_pair(claims.sub, claims.role)

    def revoke_token(self, token: str) -> TokenClaims:
        """Revoke an access or refresh token (e.g. at logout); returns its claims."""
        claims = self._verify(token, None)
        self._revocation.revoke(claims.jti, self._forget_after(claims))
        security_events.token_revoked(claims.sub, claims.jti)
        return claims

    # -- verifying -------------------------------------------------------------------------

    def verify_access_token(self, token: str) -> TokenClaims:
        """The claims of a valid, unrevoked access token (a refresh token is refused)."""
        return self._verify(token, TokenType.ACCESS)

    def verify_refresh_token(self, token: str) -> TokenClaims:
        """The claims of a valid, unrevoked refresh token (an access token is refused)."""
        return self._verify(token, TokenType.REFRESH)

    def _verify(self, token: Any, expected: TokenType | None) -> TokenClaims:
        try:
            claims = self._verify_unaudited(token, expected)
        except (CNOPTokenInvalidException, CNOPTokenExpiredException) as exc:
            security_events.token_refused(
                str(exc.details.get("reason", exc.code)),
                token_type=expected.value if expected else "any",
            )
            raise
        return claims

    def _verify_unaudited(self, token: Any, expected: TokenType | None) -> TokenClaims:
        if isinstance(token, bytes):
            try:
                token = token.decode("ascii")
            except UnicodeDecodeError:
                raise invalid("not ASCII") from None
        if not isinstance(token, str):
            raise invalid("not a string")
        key = select_key(token, self._keys, self._settings.max_token_bytes)
        try:
            payload = jws.verify(token, key.verifier, algorithms=[key.algorithm])
        except Exception:
            # JWSError for a bad signature; anything else is malformed input. Either way the
            # token is refused, and the library's message (which may quote input) is dropped.
            raise invalid("signature verification failed") from None
        claims = check_claims(
            payload,
            expected_type=expected,
            now=self._clock(),
            leeway=self._leeway,
            issuer=self._settings.issuer,
            audience=self._settings.audience,
        )
        if self._revocation.is_revoked(claims.jti):
            raise invalid("revoked")
        return claims

    # -- shared pieces ---------------------------------------------------------------------

    def _issue(
        self, username: str, role: UserRole | str, token_type: TokenType, lifetime: int
    ) -> tuple[str, datetime]:
        require_username(username)
        role_value = require_role_value(role).value
        now = int(self._clock())
        claims: dict[str, Any] = {
            "sub": username,
            "role": role_value,
            "type": token_type.value,
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
        }
        if self._settings.issuer is not None:
            claims["iss"] = self._settings.issuer
        if self._settings.audience is not None:
            claims["aud"] = self._settings.audience
        key = self._keys.signing_key
        headers = {"kid": key.kid} if key.kid is not None else None
        try:
            token = jws.sign(claims, key.signer, headers=headers, algorithm=key.algorithm)
        except Exception as exc:
            # Keys are checked at start-up; this only guards a library surprise, and the
            # library's message (which may quote key material) is not passed on.
            raise CNOPConfigurationException(
                f"The signing key {key.kid!r} could not sign a token"
            ) from exc
        return str(token), datetime.fromtimestamp(now + lifetime, tz=timezone.utc)

    @staticmethod
    def _lifetime(expires_delta: timedelta | None, default: timedelta) -> int:
        """Whole seconds, so ``expires_in`` equals ``exp - iat`` exactly."""
        if expires_delta is None:
            return int(default.total_seconds())
        if not isinstance(expires_delta, timedelta):
            raise CNOPValidationException.for_field("expires_delta", "must be a timedelta")
        if not timedelta(seconds=1) <= expires_delta <= MAX_LIFETIME:
            raise CNOPValidationException.for_field(
                "expires_delta", "must be between one second and 366 days"
            )
        return int(expires_delta.total_seconds())

    def _forget_after(self, claims: TokenClaims) -> datetime:
        # Keep the revocation while the token could still pass the expiry check.
        return claims.exp + self._settings.leeway
