"""Where auth writes what happened: the audit log for security events, the auth log otherwise.

Callers pass only names, roles, reasons and ids; never a password, hash, token or key.
"""

from __future__ import annotations

from typing import Any

from cnop.logging import AuditEvent, AuditLogger, BaseLogger, LogAction, LoggerName

auth_log = BaseLogger(LoggerName.AUTH)
_audit = AuditLogger()


def login_succeeded(user: str) -> None:
    _audit.record(AuditEvent.LOGIN_SUCCESS, user=user, success=True)


def login_failed(user: str, reason: str) -> None:
    _audit.record(AuditEvent.LOGIN_FAILURE, user=user, success=False, reason=reason)


def token_refused(reason: str, user: str | None = None, **fields: Any) -> None:
    _audit.record(AuditEvent.TOKEN_REFUSED, user=user, success=False, reason=reason, **fields)


def access_denied(user: str | None, reason: str, **fields: Any) -> None:
    _audit.record(AuditEvent.ACCESS_DENIED, user=user, success=False, reason=reason, **fields)


def token_revoked(user: str, jti: str) -> None:
    auth_log.info(action=LogAction.TOKEN_REVOKED, message="Token revoked", user=user, jti=jti)


def password_rehashed(scheme: str) -> None:
    auth_log.info(
        action=LogAction.PASSWORD_REHASHED,
        message="Stored password hash upgraded",
        scheme=scheme,
    )


def stored_hash_unusable(reason: str) -> None:
    auth_log.error(
        action=LogAction.AUTH_FAILED,
        message="A stored password hash could not be used",
        reason=reason,
    )


def refresh_token_reused(user: str, jti: str, sid: str | None) -> None:
    # A spent refresh token came back: a stolen copy or a replay. The session is revoked.
    _audit.record(
        AuditEvent.TOKEN_REFUSED,
        user=user,
        success=False,
        reason="refresh token reused; session revoked",
        jti=jti,
        sid=sid,
        reuse=True,
    )


def logged_out(user: str, jti: str, sid: str | None) -> None:
    _audit.record(AuditEvent.LOGOUT, user=user, success=True, jti=jti, sid=sid)
