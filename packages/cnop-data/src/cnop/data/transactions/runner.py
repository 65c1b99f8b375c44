"""The attempt loop every flow shares: read, plan, write once; replay or retry.

A flow is one ``TransactWriteItems``. When it is cancelled because a balance, holding,
price or order changed after the read (a version conflict or a conflicting
transaction), nothing was written, so the flow reads and plans again, up to
``attempts`` times with jittered backoff. Business failures (insufficient balance,
unknown user...) are raised at once.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cnop.data.codec import Item
from cnop.data.config import TableNames
from cnop.data.core.requests import get_item, transact_put_new
from cnop.data.core.steps import Call, Operation, Pause
from cnop.data.errors import CancellationReason, reasons_to_exception
from cnop.data.transactions.idempotency import (
    attempt_token,
    idempotency_record,
    idempotency_record_key,
    replay,
)
from cnop.data.transactions.plans import Plan
from cnop.data.transactions.results import FlowResult
from cnop.data.transactions.snapshot import Snapshot
from cnop.data.types import utc_now
from cnop.exceptions import (
    CNOPConfigurationException,
    CNOPDatabaseConnectionException,
    CNOPException,
    CNOPIdempotencyConflictException,
    CNOPServiceUnavailableException,
    CNOPVersionConflictException,
)

__all__ = ["FlowRequest", "RetryPolicy", "run_flow"]

# Failures that mean "another writer got there first": nothing was written, plan again.
_CONFLICT_CODES = frozenset(
    {"transaction_cancelled", "TransactionConflictException", "TransactionInProgressException"}
)
_KEY_RECORDED = "key_recorded"


@dataclass(frozen=True)
class RetryPolicy:
    """How often a flow is planned again after a conflict, and how long it waits between."""

    attempts: int = 20
    base_delay: float = 0.005
    max_delay: float = 0.25

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int):
            raise CNOPConfigurationException("RetryPolicy.attempts must be an integer")
        if self.attempts < 1:
            raise CNOPConfigurationException("RetryPolicy.attempts must be 1 or more")
        if not 0 <= self.base_delay <= self.max_delay:
            raise CNOPConfigurationException(
                "RetryPolicy needs 0 <= base_delay <= max_delay (seconds)"
            )

    def delay(self, attempt: int) -> float:
        """Full jitter: a random wait up to ``base x 2^attempt`` (at most ``max_delay``)."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))  # noqa: S311


@dataclass(frozen=True)
class FlowRequest:
    """Who asks for what: the user, the optional key and the request's fingerprint."""

    username: str
    idempotency_key: str | None
    fingerprint: str


def _is_conflict(exc: CNOPException) -> bool:
    if isinstance(exc, CNOPVersionConflictException):
        return True
    if isinstance(exc, CNOPServiceUnavailableException) and not isinstance(
        exc, CNOPDatabaseConnectionException
    ):
        return exc.details.get("dynamodb_error") in _CONFLICT_CODES
    return False


def _key_recorded(idempotency_key: str) -> Callable[[Item | None], CNOPException]:
    def explain(_old: Item | None) -> CNOPException:
        return CNOPIdempotencyConflictException(
            f"Idempotency key '{idempotency_key}' was already used",
            details={"reason": _KEY_RECORDED},
        )

    return explain


def _write(
    tables: TableNames, request: FlowRequest, plan: Plan, attempt: int, now: datetime
) -> Call:
    items = list(plan.items)
    handlers = dict(plan.handlers)
    key = request.idempotency_key
    if key is not None:
        # First, so that a repeat is recognised before any other condition is judged.
        record = idempotency_record(request.username, key, request.fingerprint, plan.outcome(), now)
        items.insert(0, transact_put_new(tables.users, record))
        handlers = {i + 1: h for i, h in handlers.items()}
        handlers[0] = _key_recorded(key)

    def explain(reasons: Sequence[CancellationReason]) -> CNOPException:
        return reasons_to_exception(reasons, handlers)

    token = attempt_token(f"{tables.users}\x00{request.username}", key, attempt)
    params = {"TransactItems": items, "ClientRequestToken": token}
    return Call("transact_write_items", params, tables.users, on_cancelled=explain)


def _stored_result(tables: TableNames, request: FlowRequest) -> Operation[FlowResult | None]:
    """The result recorded under the request's key; None without a key or if never applied."""
    key = request.idempotency_key
    if key is None:
        return None
    params = get_item(tables.users, idempotency_record_key(request.username, key), consistent=True)
    reply = yield Call("get_item", params, tables.users)
    item = reply.get("Item")
    if not item:
        return None
    return replay(item, key, request.fingerprint)


def _attempt(
    tables: TableNames,
    request: FlowRequest,
    read: Callable[[], Operation[Snapshot]],
    planner: Callable[[Snapshot, datetime], Plan],
    attempt: int,
) -> Operation[FlowResult | CNOPException]:
    """One read, plan and write: the result, or the conflict that calls for another try."""
    try:
        snapshot = yield from read()
    except CNOPException as exc:
        # TransactGetItems is cancelled while another transaction writes one of its items.
        if _is_conflict(exc):
            return exc
        raise
    now = utc_now()
    try:
        plan = planner(snapshot, now)
    except CNOPException:
        # A keyed request refused from a fresh read may repeat one that was applied
        # (which spent the balance): the record says so.
        stored = yield from _stored_result(tables, request)
        if stored is not None:
            return stored
        raise
    if request.idempotency_key is not None:
        # Recorded with the key too, so a replay names it as well.
        plan.result = plan.outcome().model_copy(update={"idempotency_key": request.idempotency_key})
    try:
        yield _write(tables, request, plan, attempt, now)
    except CNOPIdempotencyConflictException as exc:
        stored = None
        if exc.details.get("reason") == _KEY_RECORDED:
            stored = yield from _stored_result(tables, request)
        if stored is None:
            raise
        return stored
    except CNOPException as exc:
        if exc.details.get("dynamodb_error") == "IdempotentParameterMismatchException":
            # DynamoDB remembers a token for 10 minutes: applied before, or tried and
            # cancelled. The record tells which; an unapplied key tries a fresh token.
            stored = yield from _stored_result(tables, request)
            return stored if stored is not None else exc
        if _is_conflict(exc):
            return exc
        raise
    return plan.outcome()


def run_flow(
    tables: TableNames,
    request: FlowRequest,
    read: Callable[[], Operation[Snapshot]],
    planner: Callable[[Snapshot, datetime], Plan],
    policy: RetryPolicy,
) -> Operation[FlowResult]:
    """Read, plan and write until the flow commits, replays, or fails for a reason."""
    for attempt in range(policy.attempts):
        if attempt:
            yield Pause(policy.delay(attempt))
        outcome = yield from _attempt(tables, request, read, planner, attempt)
        if isinstance(outcome, FlowResult):
            return outcome
    raise CNOPVersionConflictException(
        f"The balance or holding kept changing while this request ran "
        f"({policy.attempts} attempts); retry",
        details={"attempts": policy.attempts},
    )
