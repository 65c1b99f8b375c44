"""Registration audit events: the original package logged registrations; cnop audits them."""

from __future__ import annotations

from cnop.logging import AuditEvent, AuditLogger

from .conftest import CapturedLines


def test_registration_outcomes_are_audit_events(captured: CapturedLines) -> None:
    audit = AuditLogger()
    audit.record(AuditEvent.REGISTRATION_SUCCESS, user="alice_01", success=True)
    audit.record(
        AuditEvent.REGISTRATION_FAILURE,
        user=None,
        success=False,
        reason="email already registered",
        password="hunter2-hunter2",
    )
    success, failure = captured.records()
    assert success["event"] == "registration_success"
    assert success["action"] == "user_registration_success"
    assert success["level"] == "INFO"
    assert failure["event"] == "registration_failure"
    assert failure["action"] == "user_registration_failed"
    assert failure["level"] == "WARNING"
    assert failure["reason"] == "email already registered"
    assert failure["password"] == "[REDACTED]"
