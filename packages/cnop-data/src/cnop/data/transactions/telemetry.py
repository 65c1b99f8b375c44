"""One log line and one counter per flow outcome (through cnop-logging)."""

from __future__ import annotations

from cnop.data.transactions.results import FlowResult, FlowType
from cnop.exceptions import CNOPException
from cnop.logging import AuditEvent, AuditLogger, BaseLogger, LogAction, LoggerName, metrics

__all__ = ["adjusted", "flow_committed", "flow_failed", "lock_release_failed"]

_LOG = BaseLogger(LoggerName.TRANSACTION)
_AUDIT = AuditLogger()
FLOWS = metrics.counter(
    "cnop.flows",
    description="Money flows by outcome (committed, replayed, refused, failed)",
    labels=("flow", "outcome"),
)


def flow_committed(result: FlowResult) -> None:
    outcome = "replayed" if result.replayed else "committed"
    FLOWS.add(1, flow=result.flow.value, outcome=outcome)
    _LOG.info(
        action=LogAction.TRANSACTION_COMMIT,
        message=f"{result.flow.value} {outcome}",
        user=result.username,
        flow=result.flow.value,
        amount=str(result.amount),
        asset_id=result.asset_id,
        quantity=None if result.quantity is None else str(result.quantity),
        price=None if result.price is None else str(result.price),
        order_id=result.order.order_id if result.order else None,
        replayed=result.replayed,
    )


def flow_failed(flow: FlowType, username: str, error: CNOPException) -> None:
    outcome = "refused" if error.client_safe else "failed"
    FLOWS.add(1, flow=flow.value, outcome=outcome)
    log = _LOG.warning if error.client_safe else _LOG.error
    log(
        action=LogAction.TRANSACTION_ROLLBACK,
        message=f"{flow.value} {outcome}: {error.message}",
        user=username,
        flow=flow.value,
        error=error.code,
        retryable=error.retryable,
    )


def lock_release_failed(result: FlowResult, error: Exception) -> None:
    """The flow committed, but releasing the user's lock failed (lost, or its server down)."""
    message = error.message if isinstance(error, CNOPException) else type(error).__name__
    _LOG.warning(
        action=LogAction.LOCK_LOST,
        message=f"{result.flow.value} committed, but releasing the user lock failed: {message}",
        user=result.username,
        flow=result.flow.value,
        error=getattr(error, "code", type(error).__name__),
    )


def adjusted(result: FlowResult, operator: str, reason: str) -> None:
    """An operator corrected a balance or holding: an audit line."""
    _AUDIT.record(
        AuditEvent.BALANCE_ADJUSTED,
        user=result.username,
        success=True,
        reason=reason,
        operator=operator,
        amount=str(result.amount),
        asset_id=result.asset_id,
        quantity=None if result.quantity is None else str(result.quantity),
        replayed=result.replayed,
    )
