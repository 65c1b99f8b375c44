"""``AuditLogger``: security events with a fixed schema on the ``audit`` logger."""

from __future__ import annotations

from typing import Any

from cnop.logging._report import report_once
from cnop.logging.logger import BaseLogger
from cnop.logging.names import AUDIT_ACTIONS, AuditEvent, LogAction, LoggerName

_MAX_EVENT_TEXT = 100


def _event_text(event: object) -> AuditEvent | str:
    """The AuditEvent whose value ``event`` is, else ``event`` as bounded text (never raises)."""
    if type(event) is str:
        try:
            return AuditEvent(event)
        except ValueError:
            text = event
    else:
        try:
            text = repr(event)
        except Exception:
            text = f"<{type(event).__name__}>"
    return text if len(text) <= _MAX_EVENT_TEXT else text[:_MAX_EVENT_TEXT] + "..."


class AuditLogger:
    """Records security events, one line each, on :attr:`LoggerName.AUDIT`.

    >>> audit = AuditLogger()
    >>> audit.record(AuditEvent.LOGIN_FAILURE, user="alice", success=False,
    ...              reason="invalid credentials", source_ip="203.0.113.7")

    Every line has ``event`` (the :class:`AuditEvent` value), ``action`` (the matching
    :class:`LogAction`), ``success`` (bool), ``outcome`` (``"success"``/``"failure"``),
    ``reason`` (str or null) and ``user``, plus any extra fields (redacted like all
    fields). Successes are INFO, failures WARNING. Recording never raises.
    """

    __slots__ = ("_log",)

    def __init__(self) -> None:
        self._log = BaseLogger(LoggerName.AUDIT)

    def record(
        self,
        event: AuditEvent,
        *,
        user: str | None,
        success: bool,
        reason: str | None = None,
        **fields: Any,
    ) -> None:
        """Write one audit line for ``event``."""
        name: AuditEvent | str
        if isinstance(event, AuditEvent):
            name = event
        else:
            # Typed callers never get here; untyped ones get a line rather than an error.
            # An event's value as text is taken as that event; anything else is recorded
            # as its (bounded) repr, and reported once per type so the set of reports
            # stays small however many distinct values arrive.
            name = _event_text(event)  # type: ignore[unreachable]
            if not isinstance(name, AuditEvent):
                report_once(
                    f"audit-event:{type(event).__name__}",
                    f"AuditLogger.record() got a {type(event).__name__}, not an AuditEvent; "
                    "recorded as text",
                )
        action = (
            AUDIT_ACTIONS.get(name, LogAction.ERROR)
            if isinstance(name, AuditEvent)
            else LogAction.ERROR
        )
        # Only True is a success: a failed login logged with success="false" (truthy) must
        # not read as a success in the audit trail.
        ok = success is True
        if not isinstance(success, bool):
            report_once(  # type: ignore[unreachable]
                f"audit-success:{type(success).__name__}",
                f"AuditLogger.record() got success={type(success).__name__}, not a bool; "
                "recorded as a failure",
            )
        outcome = "success" if ok else "failure"
        message = f"audit {getattr(name, 'value', name)}: {outcome}"
        if reason:
            message = f"{message} ({reason})"
        schema = {"event": name, "success": ok, "outcome": outcome, "reason": reason}
        request_id = fields.pop("request_id", None)
        # The schema's fields win over extra fields of the same name. Extra "action" or
        # "message" fields stay in the fields, where the formatter keeps them as
        # field_<name> and marks the line with a log_warning, as for any logger.
        self._log._emit(
            "INFO" if ok else "WARNING",
            action,
            message,
            user,
            request_id,
            {**fields, **schema},
            False,
        )
