"""Where auth writes what happened: the audit log for security events, the auth log otherwise.

Callers pass only names, roles, reasons and ids; never a password, hash, token or key.

cnop.logging (and the logging library under it) loads with the first event, not with
``import cnop.auth``: importing the package stays cheap for tools and tests, and a service
pays for its logger once, when it first has something to say.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cnop.logging import AuditLogger, BaseLogger


@functools.cache
def auth_log() -> BaseLogger:
    """The auth service's logger (made on first use)."""
    from cnop.logging import BaseLogger, LoggerName  # noqa: PLC0415

    return BaseLogger(LoggerName.AUTH)


@functools.cache
def _audit() -> AuditLogger:
    from cnop.logging import AuditLogger  # noqa: PLC0415

    return AuditLogger()


def login_succeeded(user: str) -> None:
    from cnop.logging import AuditEvent  # noqa: PLC0415

    _audit().record(AuditEvent.LOGIN_SUCCESS, user=user, success=True)


def login_failed(user: str, reason: str) -> None:
    from cnop.logging import AuditEvent  # noqa: PLC0415

    _audit().record(AuditEvent.LOGIN_FAILURE, user=user, success=False, reason=reason)


def token_refused(reason: str, user: str | None = None, **fields: Any) -> None:
    from cnop.logging import AuditEvent  # noqa: PLC0415

    _audit().record(AuditEvent.TOKEN_REFUSED, user=user, success=False, reason=reason, **fields)


def access_denied(user: str | None, reason: str, **fields: Any) -> None:
    from cnop.logging import AuditEvent  # noqa: PLC0415

    _audit().record(AuditEvent.ACCESS_DENIED, user=user, success=False, reason=reason, **fields)


def token_revoked(user: str, jti: str) -> None:
    from cnop.logging import LogAction  # noqa: PLC0415

    auth_log().info(action=LogAction.TOKEN_REVOKED, message="Token revoked", user=user, jti=jti)


def password_rehashed(scheme: str) -> None:
    from cnop.logging import LogAction  # noqa: PLC0415

    auth_log().info(
        action=LogAction.PASSWORD_REHASHED,
        message="Stored password hash upgraded",
        scheme=scheme,
    )


def stored_hash_unusable(reason: str) -> None:
    from cnop.logging import LogAction  # noqa: PLC0415

    auth_log().error(
        action=LogAction.AUTH_FAILED,
        message="A stored password hash could not be used",
        reason=reason,
    )


def jwks_fetch_failed(url: str, reason: str, *, have_keys: bool) -> None:
    from cnop.logging import LogAction  # noqa: PLC0415

    auth_log().warning(
        action=LogAction.AUTH_FAILED,
        message="JWKS fetch failed; keeping the last good keys",
        jwks_url=url,
        reason=reason,
        have_keys=have_keys,
    )


def refresh_token_reused(user: str, jti: str, sid: str | None) -> None:
    from cnop.logging import AuditEvent  # noqa: PLC0415

    # A spent refresh token came back: a stolen copy or a replay. The session is revoked.
    _audit().record(
        AuditEvent.TOKEN_REFUSED,
        user=user,
        success=False,
        reason="refresh token reused; session revoked",
        jti=jti,
        sid=sid,
        reuse=True,
    )


def logged_out(user: str, jti: str, sid: str | None) -> None:
    from cnop.logging import AuditEvent  # noqa: PLC0415

    _audit().record(AuditEvent.LOGOUT, user=user, success=True, jti=jti, sid=sid)
