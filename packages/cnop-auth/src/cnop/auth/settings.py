"""Token settings, read once at start-up from the environment."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cnop.auth.environment import env_text, environment
from cnop.auth.keys import HMAC_ALGORITHMS, SUPPORTED_ALGORITHMS, JWTKey, KeySet
from cnop.exceptions import CNOPConfigurationException

DEFAULT_ALGORITHM = "HS256"
DEFAULT_ACCESS_MINUTES = 30
DEFAULT_REFRESH_DAYS = 7
DEFAULT_SESSION_DAYS = 30
DEFAULT_ISSUER = "cnop-auth"
DEFAULT_AUDIENCE = "cnop"
DEFAULT_LEEWAY = timedelta(seconds=30)
#: The longest token lifetime: beyond it a setting is a mistake, and far beyond it the
#: expiry no longer fits a date (issuing would fail at every login).
MAX_LIFETIME = timedelta(days=366)
#: Bigger tokens are refused before any parsing (ours are well under 1 KiB).
DEFAULT_MAX_TOKEN_BYTES = 8192


@dataclass(frozen=True)
class TokenSettings:
    """Everything a :class:`~cnop.auth.TokenManager` needs.

    ``issuer``/``audience`` set to ``None`` are neither written nor checked; otherwise every
    token must carry exactly them. ``session_lifetime`` bounds a login however often its
    refresh token is rotated (default 30 days). ``leeway`` tolerates clock differences for
    exp/nbf/iat.
    """

    keys: KeySet
    access_token_lifetime: timedelta = timedelta(minutes=DEFAULT_ACCESS_MINUTES)
    refresh_token_lifetime: timedelta = timedelta(days=DEFAULT_REFRESH_DAYS)
    #: The absolute lifetime of a session (a login): refresh-token rotation never extends
    #: it, and no token of the session outlives it.
    session_lifetime: timedelta = timedelta(days=DEFAULT_SESSION_DAYS)
    issuer: str | None = DEFAULT_ISSUER
    audience: str | None = DEFAULT_AUDIENCE
    leeway: timedelta = DEFAULT_LEEWAY
    max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES

    def __post_init__(self) -> None:
        if not isinstance(self.keys, KeySet):
            raise CNOPConfigurationException("TokenSettings.keys must be a KeySet")
        for name in ("access_token_lifetime", "refresh_token_lifetime", "session_lifetime"):
            value = getattr(self, name)
            if not isinstance(value, timedelta) or not (
                timedelta(seconds=1) <= value <= MAX_LIFETIME
            ):
                raise _field(name, "must be a timedelta between 1 second and 366 days")
        if not isinstance(self.leeway, timedelta) or not (
            timedelta(0) <= self.leeway <= timedelta(minutes=10)
        ):
            raise _field("leeway", "must be a timedelta between 0 and 10 minutes")
        if (
            isinstance(self.max_token_bytes, bool)
            or not isinstance(self.max_token_bytes, int)
            or not 256 <= self.max_token_bytes <= 1_000_000
        ):
            raise _field("max_token_bytes", "must be a whole number between 256 and 1000000")
        for name in ("issuer", "audience"):
            value = getattr(self, name)
            if value is not None and (
                not isinstance(value, str) or not 1 <= len(value) <= 256 or not value.isprintable()
            ):
                raise _field(name, "must be None or 1-256 printable characters")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TokenSettings:
        """Read the settings; a missing or unsafe value raises naming its variable.

        ``JWT_ALGORITHM`` (default HS256). HS*: ``JWT_SECRET_KEY`` (32+ random bytes).
        RS*/ES*: ``JWT_PRIVATE_KEY`` (PEM) and ``JWT_KEY_ID``, plus optional
        ``JWT_PREVIOUS_PUBLIC_KEYS``, a JSON object of ``{kid: public PEM}`` that still verify.
        ``JWT_ACCESS_TOKEN_EXPIRE_MINUTES`` (30), ``JWT_REFRESH_TOKEN_EXPIRE_DAYS`` (7),
        ``JWT_SESSION_LIFETIME_DAYS`` (30), ``JWT_ISSUER`` (cnop-auth), ``JWT_AUDIENCE`` (cnop).
        """
        env = environment(environ)
        algorithm = env_text(env, "JWT_ALGORITHM").strip() or DEFAULT_ALGORITHM
        if algorithm not in SUPPORTED_ALGORITHMS:
            raise CNOPConfigurationException(
                f"JWT_ALGORITHM must be one of {sorted(SUPPORTED_ALGORITHMS)}, got {algorithm!r}",
                details={"variable": "JWT_ALGORITHM"},
            )
        if algorithm in HMAC_ALGORITHMS:
            keys = KeySet(JWTKey.hmac(env_text(env, "JWT_SECRET_KEY"), algorithm=algorithm))
        else:
            keys = _asymmetric_keys(env, algorithm)
        return cls(
            keys=keys,
            access_token_lifetime=timedelta(
                minutes=_positive_int(
                    env, "JWT_ACCESS_TOKEN_EXPIRE_MINUTES", DEFAULT_ACCESS_MINUTES, 366 * 24 * 60
                )
            ),
            refresh_token_lifetime=timedelta(
                days=_positive_int(
                    env, "JWT_REFRESH_TOKEN_EXPIRE_DAYS", DEFAULT_REFRESH_DAYS, MAX_LIFETIME.days
                )
            ),
            session_lifetime=timedelta(
                days=_positive_int(
                    env, "JWT_SESSION_LIFETIME_DAYS", DEFAULT_SESSION_DAYS, MAX_LIFETIME.days
                )
            ),
            issuer=env_text(env, "JWT_ISSUER").strip() or DEFAULT_ISSUER,
            audience=env_text(env, "JWT_AUDIENCE").strip() or DEFAULT_AUDIENCE,
        )


def _field(name: str, message: str) -> CNOPConfigurationException:
    return CNOPConfigurationException(
        f"TokenSettings.{name} {message}", details={"variable": f"TokenSettings.{name}"}
    )


def _asymmetric_keys(env: Mapping[str, Any], algorithm: str) -> KeySet:
    kid = env_text(env, "JWT_KEY_ID").strip()
    if not kid:
        raise CNOPConfigurationException(
            f"JWT_KEY_ID is not set (required for {algorithm})", details={"variable": "JWT_KEY_ID"}
        )
    signing = JWTKey.from_pem(env_text(env, "JWT_PRIVATE_KEY"), algorithm=algorithm, kid=kid)
    previous: list[JWTKey] = []
    raw = env_text(env, "JWT_PREVIOUS_PUBLIC_KEYS").strip()
    if raw:
        try:
            table = json.loads(raw)
        except ValueError:
            table = None
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            raise CNOPConfigurationException(
                "JWT_PREVIOUS_PUBLIC_KEYS must be a JSON object of {kid: public key PEM}",
                details={"variable": "JWT_PREVIOUS_PUBLIC_KEYS"},
            )
        previous = [
            JWTKey.from_pem(
                pem, algorithm=algorithm, kid=old_kid, variable="JWT_PREVIOUS_PUBLIC_KEYS"
            )
            for old_kid, pem in table.items()
        ]
    return KeySet(signing, previous)


def _positive_int(env: Mapping[str, Any], name: str, default: int, maximum: int) -> int:
    raw = env_text(env, name).strip()
    if not raw:
        return default
    # ASCII digits only: int() also reads other scripts' digits, full-width digits and
    # "1_0", which no one means here.
    # More than 12 digits is over any maximum (and int() refuses past 4300 digits).
    digits = raw.isascii() and raw.isdigit()
    value = (int(raw) if len(raw) <= 12 else maximum + 1) if digits else 0
    if value < 1:
        raise CNOPConfigurationException(
            f"{name} must be a positive whole number, got {raw!r}", details={"variable": name}
        )
    if value > maximum:
        raise CNOPConfigurationException(
            f"{name} must be at most {maximum} (366 days), got {raw!r}",
            details={"variable": name},
        )
    return value
