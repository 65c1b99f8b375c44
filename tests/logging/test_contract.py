"""The agreed API other packages code against: names, BaseLogger, AuditLogger, metrics."""

from __future__ import annotations

import pytest

from cnop.exceptions import CNOPValidationException
from cnop.logging import AuditEvent, AuditLogger, BaseLogger, LogAction, LoggerName, metrics
from cnop.logging.testing import capture_logs

from .conftest import SCHEMA, UTC_TIMESTAMP, CapturedLines

REQUIRED_LOGGER_NAMES = {
    "USER", "ORDER", "INVENTORY", "AUTH", "GATEWAY", "AUDIT", "DATABASE", "CACHE", "LOCK",
    "TRANSACTION", "COMMON",
}  # fmt: skip
REQUIRED_ACTIONS = {
    "REQUEST_START", "REQUEST_END", "REQUEST_FAILED", "DB_OPERATION", "DB_ERROR", "DB_RETRY",
    "CACHE_HIT", "CACHE_MISS", "CACHE_ERROR", "AUTH_SUCCESS", "AUTH_FAILED", "TOKEN_ISSUED",
    "TOKEN_REFUSED", "TOKEN_REVOKED", "ACCESS_DENIED", "PASSWORD_REHASHED", "LOCK_ACQUIRED",
    "LOCK_CONTENDED", "LOCK_RELEASED", "LOCK_EXTENDED", "LOCK_LOST", "LOCK_TIMEOUT",
    "TRANSACTION_COMMIT", "TRANSACTION_ROLLBACK", "USER_REGISTRATION_SUCCESS",
    "USER_REGISTRATION_FAILED", "USER_LOGIN_SUCCESS", "USER_LOGIN_FAILED", "DEPOSIT_SUCCESS",
    "WITHDRAW_SUCCESS", "ORDER_CREATED", "ORDER_STATUS_CHANGED", "SERVICE_START", "SERVICE_STOP",
    "VALIDATION_ERROR", "ERROR",
}  # fmt: skip
REQUIRED_AUDIT_EVENTS = {
    "LOGIN_SUCCESS", "LOGIN_FAILURE", "LOGOUT", "PASSWORD_CHANGE", "TOKEN_ISSUED",
    "TOKEN_REFUSED", "ACCESS_DENIED", "LOCK_LOST",
}  # fmt: skip


def test_enums_have_the_agreed_members() -> None:
    assert set(LoggerName.__members__) >= REQUIRED_LOGGER_NAMES
    assert set(LogAction.__members__) >= REQUIRED_ACTIONS
    assert set(AuditEvent.__members__) >= REQUIRED_AUDIT_EVENTS
    # Values are unique, lower-case and stable strings.
    for enum in (LoggerName, LogAction, AuditEvent):
        values = [m.value for m in enum]
        assert len(values) == len(set(values))
        assert all(v == v.lower() for v in values)


def test_info_writes_one_json_line_with_the_schema(captured: CapturedLines) -> None:
    log = BaseLogger(LoggerName.LOCK)
    log.info(
        action=LogAction.LOCK_ACQUIRED,
        message="Lock acquired",
        user="alice",
        lock="user:alice",
        wait_ms=3.2,
    )
    (line,) = captured.records()
    assert list(line)[: len(SCHEMA)] == list(SCHEMA)
    assert UTC_TIMESTAMP.fullmatch(line["timestamp"])
    assert line["level"] == "INFO"
    assert line["service"] == "test-svc"
    assert line["logger"] == "lock"
    assert line["action"] == "lock_acquired"
    assert line["message"] == "Lock acquired"
    assert line["user"] == "alice"
    assert line["lock"] == "user:alice"
    assert line["wait_ms"] == 3.2
    assert line["request_id"] is None
    assert line["trace_id"] is None
    assert line["span_id"] is None


@pytest.mark.parametrize(
    ("method", "level"),
    [
        ("debug", "DEBUG"),
        ("info", "INFO"),
        ("warning", "WARNING"),
        ("error", "ERROR"),
        ("critical", "CRITICAL"),
    ],
)
def test_every_level_method(captured: CapturedLines, method: str, level: str) -> None:
    getattr(BaseLogger(LoggerName.USER), method)(action=LogAction.ERROR, message=f"at {level}")
    assert captured.by_message(f"at {level}")["level"] == level


def test_exception_attaches_the_handled_exception(captured: CapturedLines) -> None:
    log = BaseLogger(LoggerName.DATABASE)
    empty: dict[str, int] = {}
    try:
        empty["missing"]
    except KeyError:
        log.exception(action=LogAction.DB_ERROR, message="lookup failed", table="users")
    line = captured.by_message("lookup failed")
    assert line["level"] == "ERROR"
    assert line["table"] == "users"
    assert line["exception"]["type"] == "KeyError"
    assert line["exception"]["message"] == "'missing'"
    assert "Traceback" in line["exception"]["stack"]
    assert "log.exception" not in line["exception"]["stack"]
    assert "test_exception_attaches_the_handled_exception" in line["exception"]["stack"]


def test_message_braces_are_not_formatted(captured: CapturedLines) -> None:
    BaseLogger("custom").info(action="custom_action", message="{user} {0} %s", user="bob")
    line = captured.by_message("{user} {0} %s")
    assert line["logger"] == "custom"
    assert line["action"] == "custom_action"


def test_fields_cannot_overwrite_the_schema(captured: CapturedLines) -> None:
    with capture_logs() as logs:
        BaseLogger(LoggerName.COMMON).info(
            action=LogAction.ERROR, message="clash", level="FAKE", service="other", logger="x"
        )
    (line,) = logs
    assert (line["level"], line["service"], line["logger"]) == ("INFO", "test-svc", "common")
    assert all(name in line["log_warning"] for name in ("level", "service", "logger"))
    assert (line["field_level"], line["field_service"], line["field_logger"]) == (
        "FAKE",
        "other",
        "x",
    )


def test_logger_name_must_be_given() -> None:
    with pytest.raises(CNOPValidationException, match="name"):
        BaseLogger("  ")
    with pytest.raises(CNOPValidationException, match="name"):
        BaseLogger(42)  # type: ignore[arg-type]


def test_audit_record_fixed_schema(captured: CapturedLines) -> None:
    audit = AuditLogger()
    audit.record(
        AuditEvent.LOGIN_FAILURE,
        user="alice",
        success=False,
        reason="invalid credentials",
        source_ip="203.0.113.7",
        success_extra="kept",
    )
    audit.record(AuditEvent.TOKEN_ISSUED, user="bob", success=True, token="eyJx.eyJy.zzz")
    failure, issued = captured.records()
    assert failure["logger"] == "audit"
    assert failure["level"] == "WARNING"
    assert failure["action"] == "user_login_failed"
    assert failure["event"] == "login_failure"
    assert failure["success"] is False
    assert failure["outcome"] == "failure"
    assert failure["reason"] == "invalid credentials"
    assert failure["user"] == "alice"
    assert failure["source_ip"] == "203.0.113.7"
    assert issued["level"] == "INFO"
    assert issued["event"] == "token_issued"
    assert issued["success"] is True
    assert issued["reason"] is None
    assert issued["token"] == "[REDACTED]"


def test_audit_schema_fields_win_over_extra_fields(captured: CapturedLines) -> None:
    extra = {"outcome": "forged", "action": "forged", "message": "forged"}
    with capture_logs() as logs:
        AuditLogger().record(AuditEvent.LOGOUT, user="carol", success=True, **extra)
    (line,) = logs
    assert line["outcome"] == "success"
    assert line["action"] == "logout"
    assert line["message"] == "audit logout: success"
    assert (line["field_action"], line["field_message"]) == ("forged", "forged")
    assert "action" in line["log_warning"]
    assert "message" in line["log_warning"]


def test_metrics_record_without_sdk_is_a_quiet_no_op(capsys: pytest.CaptureFixture[str]) -> None:
    wait = metrics.histogram(
        "cnop.test.contract.wait",
        unit="s",
        description="Time spent waiting for a lock",
        labels=("backend", "outcome"),
    )
    wait.record(0.003, backend="redis", outcome="acquired")
    errors = metrics.counter(
        "cnop.test.contract.errors",
        description="DAO calls that failed",
        labels=("table", "operation", "error"),
    )
    errors.add(1, table="users", operation="put_item", error="conditional_check_failed")
    assert (
        metrics.counter("cnop.test.contract.errors", labels=("table", "operation", "error"))
        is errors
    )
    assert wait.labels == ("backend", "outcome")


def test_every_public_name_is_importable_from_the_root() -> None:
    import cnop.logging as root

    for name in root.__all__:
        assert getattr(root, name) is not None, name
    assert set(root.__all__) <= set(dir(root))
    with pytest.raises(AttributeError, match="no attribute 'missing_name'"):
        root.missing_name  # noqa: B018 - the attribute access is the test
