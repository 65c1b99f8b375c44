"""The fixed vocabularies of a log line: who logs (``LoggerName``), what happened
(``LogAction``) and which security event an audit line records (``AuditEvent``).

All three are ``str`` enums, so they serialise as their plain value (``"lock_acquired"``).
"""

# ruff: noqa: S105 - "token"/"password" here name events, they are not secrets

from __future__ import annotations

from enum import Enum


class LoggerName(str, Enum):
    """The service or layer a line comes from (the ``logger`` field)."""

    USER = "user"
    ORDER = "order"
    INVENTORY = "inventory"
    AUTH = "auth"
    GATEWAY = "gateway"
    AUDIT = "audit"
    DATABASE = "database"
    CACHE = "cache"
    LOCK = "lock"
    TRANSACTION = "transaction"
    METRICS = "metrics"
    TRACING = "tracing"
    HTTP = "http"
    COMMON = "common"


class LogAction(str, Enum):
    """What happened (the ``action`` field): one stable value per kind of event."""

    # Requests
    REQUEST_START = "request_start"
    REQUEST_END = "request_end"
    REQUEST_FAILED = "request_failed"
    # Database
    DB_OPERATION = "db_operation"
    DB_ERROR = "db_error"
    DB_RETRY = "db_retry"
    # Cache
    CACHE_HIT = "cache_hit"
    CACHE_MISS = "cache_miss"
    CACHE_ERROR = "cache_error"
    # Authentication and authorisation
    AUTH_SUCCESS = "auth_success"
    AUTH_FAILED = "auth_failed"
    TOKEN_ISSUED = "token_issued"
    TOKEN_REFUSED = "token_refused"
    TOKEN_REVOKED = "token_revoked"
    ACCESS_DENIED = "access_denied"
    PASSWORD_REHASHED = "password_rehashed"
    PASSWORD_CHANGED = "password_changed"
    LOGOUT = "logout"
    # Locks
    LOCK_ACQUIRED = "lock_acquired"
    LOCK_CONTENDED = "lock_contended"
    LOCK_RELEASED = "lock_released"
    LOCK_EXTENDED = "lock_extended"
    LOCK_LOST = "lock_lost"
    LOCK_TIMEOUT = "lock_timeout"
    # Transactions
    TRANSACTION_COMMIT = "transaction_commit"
    TRANSACTION_ROLLBACK = "transaction_rollback"
    # Service-level outcomes
    USER_REGISTRATION_SUCCESS = "user_registration_success"
    USER_REGISTRATION_FAILED = "user_registration_failed"
    USER_LOGIN_SUCCESS = "user_login_success"
    USER_LOGIN_FAILED = "user_login_failed"
    DEPOSIT_SUCCESS = "deposit_success"
    DEPOSIT_FAILED = "deposit_failed"
    WITHDRAW_SUCCESS = "withdraw_success"
    WITHDRAW_FAILED = "withdraw_failed"
    ORDER_CREATED = "order_created"
    ORDER_FAILED = "order_failed"
    ORDER_STATUS_CHANGED = "order_status_changed"
    # Service lifecycle and generic outcomes
    SERVICE_START = "service_start"
    SERVICE_STOP = "service_stop"
    VALIDATION_ERROR = "validation_error"
    LOGGING_CONFIGURED = "logging_configured"
    TRACING_CONFIGURED = "tracing_configured"
    METRICS_EXPOSED = "metrics_exposed"
    ERROR = "error"


class AuditEvent(str, Enum):
    """A security event recorded by :class:`cnop.logging.AuditLogger` (the ``event`` field)."""

    LOGIN_SUCCESS = "login_success"
    LOGIN_FAILURE = "login_failure"
    LOGOUT = "logout"
    PASSWORD_CHANGE = "password_change"
    TOKEN_ISSUED = "token_issued"
    TOKEN_REFUSED = "token_refused"
    TOKEN_REVOKED = "token_revoked"
    ACCESS_DENIED = "access_denied"
    LOCK_LOST = "lock_lost"
    BALANCE_ADJUSTED = "balance_adjusted"
    REGISTRATION_SUCCESS = "registration_success"
    REGISTRATION_FAILURE = "registration_failure"


#: The ``action`` written with each audit event, so audit lines are found by action too.
AUDIT_ACTIONS: dict[AuditEvent, LogAction] = {
    AuditEvent.LOGIN_SUCCESS: LogAction.USER_LOGIN_SUCCESS,
    AuditEvent.LOGIN_FAILURE: LogAction.USER_LOGIN_FAILED,
    AuditEvent.LOGOUT: LogAction.LOGOUT,
    AuditEvent.PASSWORD_CHANGE: LogAction.PASSWORD_CHANGED,
    AuditEvent.TOKEN_ISSUED: LogAction.TOKEN_ISSUED,
    AuditEvent.TOKEN_REFUSED: LogAction.TOKEN_REFUSED,
    AuditEvent.TOKEN_REVOKED: LogAction.TOKEN_REVOKED,
    AuditEvent.ACCESS_DENIED: LogAction.ACCESS_DENIED,
    AuditEvent.LOCK_LOST: LogAction.LOCK_LOST,
    AuditEvent.BALANCE_ADJUSTED: LogAction.TRANSACTION_COMMIT,
    AuditEvent.REGISTRATION_SUCCESS: LogAction.USER_REGISTRATION_SUCCESS,
    AuditEvent.REGISTRATION_FAILURE: LogAction.USER_REGISTRATION_FAILED,
}
