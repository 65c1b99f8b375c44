"""DAO latency/error metrics and database-fault logs, through cnop-logging."""

from __future__ import annotations

from cnop.data.errors import REPLAY_REASON, error_kind
from cnop.exceptions import CNOPException
from cnop.logging import BaseLogger, LogAction, LoggerName, metrics

__all__ = ["record_call"]

_LOG = BaseLogger(LoggerName.DATABASE)
LATENCY = metrics.histogram(
    "cnop.dao.latency",
    unit="s",
    description="Time of one DynamoDB request made by a DAO",
    labels=("table", "operation", "outcome"),
)
ERRORS = metrics.counter(
    "cnop.dao.errors",
    description="DynamoDB requests made by a DAO that failed",
    labels=("table", "operation", "error"),
)


def record_call(
    table: str, operation: str, seconds: float, error: CNOPException | None = None
) -> None:
    """Record one request's latency (and its error). Telemetry never raises."""
    # outcome: ok, replayed (a repeated request met its own record), rejected (an expected
    # refusal: exists, conflict, not found) or error.
    if error is not None and error.details.get("reason") == REPLAY_REASON:
        LATENCY.record(seconds, table=table, operation=operation, outcome="replayed")
        _LOG.debug(
            action=LogAction.DB_OPERATION,
            message=f"DynamoDB {operation}: a repeated request met its idempotency record",
            table=table,
            operation=operation,
        )
        return
    outcome = "ok" if error is None else ("rejected" if error.client_safe else "error")
    LATENCY.record(seconds, table=table, operation=operation, outcome=outcome)
    if error is None:
        return
    kind = error_kind(error)
    ERRORS.add(1, table=table, operation=operation, error=kind)
    if not error.client_safe:
        _LOG.error(
            action=LogAction.DB_ERROR,
            message=f"DynamoDB {operation} failed: {error.message}",
            table=table,
            operation=operation,
            error=kind,
            retryable=error.retryable,
        )
