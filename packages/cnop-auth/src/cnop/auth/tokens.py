"""Issue, verify, rotate and revoke JWT access and refresh tokens, and the sessions they form."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, NoReturn

from jose import jws

from cnop.auth import security_events
from cnop.auth.arguments import require_callable
from cnop.auth.identity import require_role_value, require_username
from cnop.auth.keys import KeySet
from cnop.auth.revocation import (
    InMemoryRevocationList,
    RevocationList,
    RevocationStore,
    as_store,
)
from cnop.auth.settings import (
    DEFAULT_AUDIENCE,
    DEFAULT_ISSUER,
    DEFAULT_LEEWAY,
    DEFAULT_SESSION_DAYS,
    MAX_LIFETIME,
    TokenSettings,
)
from cnop.auth.store_calls import (
    KEYS,
    ON_REFRESH,
    Call,
    Flow,
    KeySource,
    RefreshHook,
    run,
    run_async,
)
from cnop.auth.token_checks import check_claims, header_kid, invalid, select_key
from cnop.auth.token_type import TokenType
from cnop.exceptions import (
    CNOPConfigurationException,
    CNOPException,
    CNOPTokenExpiredException,
    CNOPTokenInvalidException,
    CNOPValidationException,
    UserRole,
)

if TYPE_CHECKING:
    # The claim models (and pydantic) load with the first token issued or checked.
    from cnop.auth.claims import AccessToken, TokenClaims, TokenPair

_TOKEN_ERRORS = (CNOPTokenInvalidException, CNOPTokenExpiredException)
_DEFAULT_SESSION = timedelta(days=DEFAULT_SESSION_DAYS)


class TokenManager:
    """Issue and verify tokens with one :class:`TokenSettings`.

    >>> tokens = TokenManager.from_env()          # JWT_SECRET_KEY, JWT_ALGORITHM, ...
    >>> pair = tokens.create_token_pair("alice_01", role="customer")   # a login
    >>> tokens.verify_access_token(pair.access_token).sub
    'alice_01'

    Verification raises only ``CNOPTokenExpiredException`` or ``CNOPTokenInvalidException``
    (or, when the revocation store cannot answer, its own ``CNOPException``: it fails
    closed). Revocation is kept in ``revocation``: by default in this process only; pass a
    shared store (:class:`~cnop.auth.RedisRevocationStore`,
    :class:`~cnop.auth.DynamoDBRevocationStore`) when several instances serve the same
    users. ``on_refresh(username)`` is asked at every rotation for the user's current role
    (``None`` refuses: a disabled user); it may be a coroutine function when only the
    ``*_async`` methods are used.
    """

    def __init__(
        self,
        settings: TokenSettings,
        *,
        revocation: RevocationStore | RevocationList | None = None,
        on_refresh: RefreshHook | None = None,
        clock: Callable[[], float] = time.time,
        key_source: KeySource | None = None,
    ) -> None:
        if not isinstance(settings, TokenSettings):
            raise CNOPConfigurationException("TokenManager needs a TokenSettings")
        if revocation is not None and not isinstance(revocation, (RevocationStore, RevocationList)):
            raise CNOPConfigurationException(
                "revocation must be a RevocationStore, or a RevocationList with "
                "is_revoked(jti) and revoke(jti, expires_at)"
            )
        if on_refresh is not None and not callable(on_refresh):
            raise CNOPConfigurationException("on_refresh must be callable: username -> role")
        if key_source is not None and not (
            callable(getattr(key_source, "keys", None))
            and callable(getattr(key_source, "keys_async", None))
        ):
            raise CNOPConfigurationException(
                "key_source must be a JWKSClient (keys and keys_async)"
            )
        require_callable(clock, "clock", "() -> epoch seconds")
        self._settings = settings
        self._keys: KeySet = settings.keys
        self._store: RevocationStore = as_store(
            revocation if revocation is not None else InMemoryRevocationList(clock)
        )
        self._on_refresh = on_refresh
        self._key_source = key_source
        self._clock = clock
        self._leeway = settings.leeway.total_seconds()
        self._session_seconds = int(settings.session_lifetime.total_seconds())

    @classmethod
    def from_env(
        cls,
        *,
        revocation: RevocationStore | RevocationList | None = None,
        on_refresh: RefreshHook | None = None,
    ) -> TokenManager:
        """A manager configured by :meth:`TokenSettings.from_env`."""
        return cls(TokenSettings.from_env(), revocation=revocation, on_refresh=on_refresh)

    @classmethod
    def from_jwks(
        cls,
        jwks: KeySource,
        *,
        issuer: str | None = DEFAULT_ISSUER,
        audience: str | None = DEFAULT_AUDIENCE,
        leeway: timedelta = DEFAULT_LEEWAY,
        session_lifetime: timedelta = _DEFAULT_SESSION,
        revocation: RevocationStore | RevocationList | None = None,
        clock: Callable[[], float] = time.time,
    ) -> TokenManager:
        """A manager that verifies with the keys of a :class:`~cnop.auth.JWKSClient`.

        It holds no signing key: issuing or rotating raises ``CNOPConfigurationException``.
        Pass the auth service's shared ``revocation`` store so logouts are honoured here.
        """
        if not callable(getattr(jwks, "keys", None)) or not callable(
            getattr(jwks, "keys_async", None)
        ):
            raise CNOPConfigurationException("jwks must be a JWKSClient (keys and keys_async)")
        settings = TokenSettings(
            keys=KeySet.verifying(()),
            issuer=issuer,
            audience=audience,
            leeway=leeway,
            session_lifetime=session_lifetime,
        )
        return cls(settings, revocation=revocation, clock=clock, key_source=jwks)

    @property
    def can_issue(self) -> bool:
        """Whether this manager holds a signing key (a JWKS-built one only verifies)."""
        return self._keys.can_sign

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
        """A signed access token for ``username`` outside any session (service use).

        ``expires_delta`` overrides the lifetime. A login uses :meth:`create_token_pair`.
        """
        lifetime = self._lifetime(expires_delta, self._settings.access_token_lifetime)
        token, expires_at = self._issue(username, role, TokenType.ACCESS, lifetime, None)
        from cnop.auth.claims import AccessToken  # noqa: PLC0415

        return AccessToken(access_token=token, expires_in=lifetime, expires_at=expires_at)

    def create_token_pair(
        self, username: str, role: UserRole | str = UserRole.CUSTOMER
    ) -> TokenPair:
        """A login: a new session, and its first access and refresh tokens."""
        now = int(self._clock())
        return self._pair(username, role, secrets.token_urlsafe(16), now)

    # -- rotating and revoking -------------------------------------------------------------

    def rotate_refresh_token(self, refresh_token: str) -> TokenPair:
        """Trade a refresh token for a new pair of the same session (RFC 9700 §4.14).

        The old refresh token is spent. Presenting a spent one again (a stolen copy, or
        two racing requests) revokes the whole session: thief and user are both signed
        out, and the reuse is audited. The new refresh token never outlives the session.
        ``on_refresh`` (if set) gives the role the new tokens carry, or refuses.
        """
        self._require_signing()
        return run(
            self._rotate_flow(refresh_token), self._store, self._on_refresh, self._key_source
        )

    async def rotate_refresh_token_async(self, refresh_token: str) -> TokenPair:
        """:meth:`rotate_refresh_token` without blocking the event loop on the store."""
        self._require_signing()
        return await run_async(
            self._rotate_flow(refresh_token), self._store, self._on_refresh, self._key_source
        )

    def logout(self, token: str) -> TokenClaims:
        """Revoke the session of ``token`` (access or refresh): all its tokens are refused.

        A token outside any session is revoked alone. Returns the token's claims.
        """
        return run(self._logout_flow(token), self._store, None, self._key_source)

    async def logout_async(self, token: str) -> TokenClaims:
        """:meth:`logout` without blocking the event loop on the store."""
        return await run_async(self._logout_flow(token), self._store, None, self._key_source)

    def revoke_token(self, token: str) -> TokenClaims:
        """The same as :meth:`logout` (kept for callers of earlier versions)."""
        return self.logout(token)

    # -- verifying -------------------------------------------------------------------------

    def verify_access_token(self, token: str) -> TokenClaims:
        """The claims of a valid, unrevoked access token (a refresh token is refused)."""
        return run(self._verify_flow(token, TokenType.ACCESS), self._store, None, self._key_source)

    async def verify_access_token_async(self, token: str) -> TokenClaims:
        """:meth:`verify_access_token` without blocking the event loop on the store."""
        return await run_async(
            self._verify_flow(token, TokenType.ACCESS), self._store, None, self._key_source
        )

    def verify_refresh_token(self, token: str) -> TokenClaims:
        """The claims of a valid, unrevoked refresh token (an access token is refused)."""
        return run(self._verify_flow(token, TokenType.REFRESH), self._store, None, self._key_source)

    async def verify_refresh_token_async(self, token: str) -> TokenClaims:
        """:meth:`verify_refresh_token` without blocking the event loop on the store."""
        return await run_async(
            self._verify_flow(token, TokenType.REFRESH), self._store, None, self._key_source
        )

    # -- the flows (no I/O: they yield what they need from the store) ----------------------

    def _keys_for(self, token: Any) -> Flow[KeySet]:
        if self._key_source is None:
            return self._keys
        keys: KeySet = yield Call(KEYS, (header_kid(token),))
        return keys

    def _verify_flow(self, token: Any, expected: TokenType | None) -> Flow[TokenClaims]:
        keys = yield from self._keys_for(token)
        claims = self._checked(token, expected, keys)
        if (yield Call("is_revoked", (claims.jti, claims.sid))):
            self._refused("revoked", expected, claims)
        return claims

    def _rotate_flow(self, refresh_token: Any) -> Flow[TokenPair]:
        keys = yield from self._keys_for(refresh_token)
        claims = self._checked(refresh_token, TokenType.REFRESH, keys)
        sid, started = claims.sid, claims.auth_time
        if sid is None or started is None:
            self._refused("refresh token without a session", TokenType.REFRESH, claims)
        session_end = self._session_end(claims)
        if (yield Call("is_revoked", (claims.jti, sid))):
            # Spent or revoked. If the session was still live, this is a spent token
            # presented again: whoever holds the family now, it is no longer safe.
            if (yield Call("revoke_session", (sid, session_end))):
                self._reused(claims)
            self._refused("revoked", TokenType.REFRESH, claims)
        role: UserRole | str = claims.role
        if self._on_refresh is not None:
            # Asked before the refresh token is spent: if the user store is down, the
            # caller can retry with the same token.
            answer = yield Call(ON_REFRESH, (claims.sub,))
            if answer is None:
                yield Call("revoke_session", (sid, session_end))
                security_events.token_refused(
                    "refresh refused for this user; session revoked", user=claims.sub, sid=sid
                )
                raise invalid("the user may no longer refresh")
            role = self._hook_role(answer)
        if not (yield Call("revoke", (claims.jti, self._forget_after(claims), sid))):
            # Another request spent it between our check and now: a reuse all the same.
            yield Call("revoke_session", (sid, session_end))
            self._reused(claims)
        return self._pair(claims.sub, role, sid, int(started.timestamp()))

    def _logout_flow(self, token: Any) -> Flow[TokenClaims]:
        claims = yield from self._verify_flow(token, None)
        yield Call("revoke", (claims.jti, self._forget_after(claims), claims.sid))
        if claims.sid is not None:
            yield Call("revoke_session", (claims.sid, self._session_end(claims)))
        security_events.logged_out(claims.sub, claims.jti, claims.sid)
        return claims

    # -- checks ----------------------------------------------------------------------------

    def _checked(self, token: Any, expected: TokenType | None, keys: KeySet) -> TokenClaims:
        """Signature and claims (pure); a refusal is audited."""
        try:
            return self._check(token, expected, keys)
        except _TOKEN_ERRORS as exc:
            security_events.token_refused(
                str(exc.details.get("reason", exc.code)),
                token_type=expected.value if expected else "any",
            )
            raise

    def _check(self, token: Any, expected: TokenType | None, keys: KeySet) -> TokenClaims:
        if isinstance(token, bytes):
            try:
                token = token.decode("ascii")
            except UnicodeDecodeError:
                raise invalid("not ASCII") from None
        if not isinstance(token, str):
            raise invalid("not a string")
        key = select_key(token, keys, self._settings.max_token_bytes)
        try:
            payload = jws.verify(token, key.verifier, algorithms=[key.algorithm])
        except Exception:
            # JWSError for a bad signature; anything else is malformed input. Either way the
            # token is refused, and the library's message (which may quote input) is dropped.
            raise invalid("signature verification failed") from None
        return check_claims(
            payload,
            expected_type=expected,
            now=self._clock(),
            leeway=self._leeway,
            issuer=self._settings.issuer,
            audience=self._settings.audience,
            session_lifetime=self._session_seconds,
        )

    def _require_signing(self) -> None:
        if not self._keys.can_sign:
            # Checked before the refresh token is spent: a verifier must not consume it.
            self._keys.signing_key  # noqa: B018 (raises the explanatory error)

    @staticmethod
    def _refused(reason: str, expected: TokenType | None, claims: TokenClaims) -> NoReturn:
        security_events.token_refused(
            reason, user=claims.sub, token_type=expected.value if expected else "any"
        )
        raise invalid(reason)

    @staticmethod
    def _reused(claims: TokenClaims) -> NoReturn:
        security_events.refresh_token_reused(claims.sub, claims.jti, claims.sid)
        raise invalid("refresh token reused; the session is revoked")

    @staticmethod
    def _hook_role(answer: Any) -> UserRole:
        try:
            return require_role_value(answer)
        except CNOPException:
            raise CNOPConfigurationException(
                "on_refresh must return the user's role (or None to refuse)"
            ) from None

    # -- shared pieces ---------------------------------------------------------------------

    def _pair(self, username: str, role: UserRole | str, sid: str, started: int) -> TokenPair:
        session_end = started + self._session_seconds
        now = int(self._clock())
        remaining = session_end - now
        if remaining < 1:
            raise CNOPTokenExpiredException(
                "The session has ended; sign in again", details={"reason": "session ended"}
            )
        access_lifetime = min(self._lifetime(None, self._settings.access_token_lifetime), remaining)
        refresh_lifetime = min(
            self._lifetime(None, self._settings.refresh_token_lifetime), remaining
        )
        session = (sid, started)
        access, access_exp = self._issue(
            username, role, TokenType.ACCESS, access_lifetime, session, now=now
        )
        refresh, refresh_exp = self._issue(
            username, role, TokenType.REFRESH, refresh_lifetime, session, now=now
        )
        from cnop.auth.claims import TokenPair  # noqa: PLC0415

        return TokenPair(
            access_token=access,
            expires_in=access_lifetime,
            expires_at=access_exp,
            refresh_token=refresh,
            refresh_expires_in=refresh_lifetime,
            refresh_expires_at=refresh_exp,
            session_id=sid,
            session_expires_at=datetime.fromtimestamp(session_end, tz=timezone.utc),
        )

    def _issue(
        self,
        username: str,
        role: UserRole | str,
        token_type: TokenType,
        lifetime: int,
        session: tuple[str, int] | None,
        *,
        now: int | None = None,
    ) -> tuple[str, datetime]:
        require_username(username)
        role_value = require_role_value(role).value
        now = int(self._clock()) if now is None else now
        claims: dict[str, Any] = {
            "sub": username,
            "role": role_value,
            "type": token_type.value,
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
        }
        if session is not None:
            claims["sid"], claims["auth_time"] = session
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

    def _session_end(self, claims: TokenClaims) -> datetime:
        # Every token of the session expires by then (plus the leeway verification allows).
        if claims.auth_time is None:
            return self._forget_after(claims)
        return claims.auth_time + self._settings.session_lifetime + self._settings.leeway
