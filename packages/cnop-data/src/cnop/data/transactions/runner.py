"""The attempt loop every flow shares: read, plan, write once; replay or retry.

A flow is one ``TransactWriteItems``. When it is cancelled because a balance, holding,
price or order changed after the read (a version conflict or a conflicting
transaction), nothing was written, so the flow reads and plans again, up to
``attempts`` times with jittered backoff. Business failures (insufficient balance,
unknown user...) are raised at once.

Exactly once: every flow runs under an idempotency key (the caller's, or an internal one)
whose record is written in the same transaction, so at most one write of a key can
commit. A write that fails in a way that leaves its outcome unknown (a timeout or reset
after sending, a 5xx, a transaction still in progress) is never taken for "not written":
the identical request (same ``ClientRequestToken``) is re-sent until DynamoDB answers
definitely, within ``RetryPolicy.resends`` and ``resend_window``; if it still cannot
tell, the record is read, and failing that the caller gets a retryable
CNOPOutcomeUnknownException naming the key that resolves it.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cnop.data.codec import Item
from cnop.data.config import TableNames
from cnop.data.core.requests import get_item, transact_put_new
from cnop.data.core.steps import Call, Operation, Pause
from cnop.data.errors import (
    REPLAY_REASON,
    CancellationReason,
    may_have_applied,
    reasons_to_exception,
)
from cnop.data.transactions.idempotency import (
    attempt_token,
    expired,
    idempotency_record,
    idempotency_record_key,
    internal_key,
    replay,
)
from cnop.data.transactions.plans import Plan
from cnop.data.transactions.results import FlowResult
from cnop.data.transactions.snapshot import Snapshot
from cnop.data.types import utc_now
from cnop.exceptions import (
    CNOPConfigurationException,
    CNOPException,
    CNOPIdempotencyConflictException,
    CNOPOutcomeUnknownException,
    CNOPServiceUnavailableException,
    CNOPValidationException,
    CNOPVersionConflictException,
)

__all__ = ["DEFAULT_RETENTION", "FlowRequest", "RetryPolicy", "check_retention", "run_flow"]

# Failures that mean "another writer got there first": nothing was written, plan again.
_CONFLICT_CODES = frozenset({"transaction_cancelled", "TransactionConflictException"})
#: DynamoDB remembers a ClientRequestToken for 10 minutes; re-sends must stay well inside.
_TOKEN_WINDOW = 600.0
#: How long the record of a key the caller never sees is kept (DynamoDB TTL).
INTERNAL_RECORD_RETENTION = timedelta(days=1)
#: How long a caller's idempotency key is remembered, unless configured.
DEFAULT_RETENTION = timedelta(hours=24)


#: A key must outlive every retry that resolves an unknown outcome with it: DynamoDB's
#: 10-minute token window plus the longest re-send window.
MIN_RETENTION = timedelta(minutes=15)


def check_retention(value: object) -> timedelta:
    """An idempotency retention: a timedelta from 15 minutes to 366 days."""
    if not isinstance(value, timedelta) or not (MIN_RETENTION <= value <= timedelta(days=366)):
        raise CNOPConfigurationException(
            "idempotency_retention must be a timedelta from 15 minutes to 366 days (a retry "
            "that resolves an unknown outcome must still find the key's record)"
        )
    return value


@dataclass(frozen=True)
class RetryPolicy:
    """How a flow retries.

    ``attempts``: how often a flow is planned again after a conflict (nothing written),
    with jittered backoff between ``base_delay`` and ``max_delay`` seconds.
    ``resends``: how often a write whose outcome is unknown is re-sent unchanged, within
    ``resend_window`` seconds of its first send (at most 5 minutes: DynamoDB honours the
    same request token for 10).
    """

    attempts: int = 20
    base_delay: float = 0.005
    max_delay: float = 0.25
    resends: int = 4
    resend_window: float = 20.0

    def __post_init__(self) -> None:
        for name in ("attempts", "resends"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise CNOPConfigurationException(f"RetryPolicy.{name} must be an integer")
        if self.attempts < 1:
            raise CNOPConfigurationException("RetryPolicy.attempts must be 1 or more")
        if self.resends < 0:
            raise CNOPConfigurationException("RetryPolicy.resends must be 0 or more")
        for name in ("base_delay", "max_delay", "resend_window"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise CNOPConfigurationException(f"RetryPolicy.{name} must be a number of seconds")
            if not math.isfinite(value):
                raise CNOPConfigurationException(f"RetryPolicy.{name} must be finite")
        if not 0 <= self.base_delay <= self.max_delay:
            raise CNOPConfigurationException(
                "RetryPolicy needs 0 <= base_delay <= max_delay (seconds)"
            )
        if not 0 < self.resend_window <= _TOKEN_WINDOW / 2:
            raise CNOPConfigurationException(
                "RetryPolicy.resend_window must be more than 0 and at most 300 seconds "
                "(DynamoDB honours a request token for 10 minutes)"
            )

    def delay(self, attempt: int) -> float:
        """Full jitter: a random wait up to ``base x 2^attempt`` (at most ``max_delay``)."""
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 0:
            raise CNOPValidationException.for_field("attempt", "must be an integer >= 0")
        # 2**attempt overflows a float past ~1024; the cap is reached long before.
        factor = 2 ** min(attempt, 64)
        return random.uniform(0, min(self.max_delay, self.base_delay * factor))  # noqa: S311


@dataclass(frozen=True)
class FlowRequest:
    """Who asks for what: the user, the optional key and the request's fingerprint."""

    username: str
    idempotency_key: str | None
    fingerprint: str
    #: What the request asks for (canonical JSON), kept in the record to name a conflict.
    described: str | None = None
    #: How long a caller's key is remembered (DEFAULT_RETENTION unless configured).
    retention: timedelta = field(default_factory=lambda: DEFAULT_RETENTION)
    #: The key the flow runs under: the caller's, or a fresh internal one.
    run_key: str = field(default="")
    #: Names this call in the record it writes (see ``idempotency.replay``).
    call_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        if not self.run_key:
            object.__setattr__(self, "run_key", self.idempotency_key or internal_key())

    @property
    def record_key(self) -> Item:
        return idempotency_record_key(self.username, self.run_key)


def _is_conflict(exc: CNOPException) -> bool:
    if isinstance(exc, CNOPVersionConflictException):
        return True
    if type(exc) is CNOPServiceUnavailableException:
        return exc.details.get("dynamodb_error") in _CONFLICT_CODES
    return False


def _key_recorded(idempotency_key: str) -> Callable[[Item | None], CNOPException]:
    def explain(_old: Item | None) -> CNOPException:
        return CNOPIdempotencyConflictException(
            f"Idempotency key '{idempotency_key}' was already used",
            details={"reason": REPLAY_REASON},
        )

    return explain


def _write(tables: TableNames, request: FlowRequest, plan: Plan, now: datetime) -> Call:
    items = list(plan.items)
    # First, so that a repeat is recognised before any other condition is judged.
    internal = request.idempotency_key is None
    record = idempotency_record(
        request.username,
        request.run_key,
        request.fingerprint,
        plan.outcome(),
        now,
        call_id=request.call_id,
        expires_at=now + (INTERNAL_RECORD_RETENTION if internal else request.retention),
        request=request.described,
    )
    # A record past its expiry is no longer the key's: it may be replaced (DynamoDB deletes
    # expired items only within days).
    put = transact_put_new(tables.users, record)
    put["Put"]["ConditionExpression"] = "attribute_not_exists(pk) OR expires_at < :now"
    put["Put"]["ExpressionAttributeValues"] = {":now": {"N": str(int(now.timestamp()))}}
    items.insert(0, put)
    handlers = {i + 1: h for i, h in plan.handlers.items()}
    handlers[0] = _key_recorded(request.run_key)

    def explain(reasons: Sequence[CancellationReason]) -> CNOPException:
        return reasons_to_exception(reasons, handlers)

    params = {"TransactItems": items, "ClientRequestToken": attempt_token()}
    return Call("transact_write_items", params, tables.users, on_cancelled=explain)


def _stored_result(tables: TableNames, request: FlowRequest) -> Operation[FlowResult | None]:
    """The result recorded under the request's key; None if absent or unreadable now.

    Only the read may fail quietly (the caller then cannot tell): a record of another
    request under this key, or a malformed one, is raised as such.
    """
    params = get_item(tables.users, request.record_key, consistent=True)
    try:
        reply = yield Call("get_item", params, tables.users)
    except CNOPException:
        return None
    item = reply.get("Item")
    if not item or expired(item, utc_now()):
        return None
    return _replay(item, request)


def _replay(item: Item, request: FlowRequest) -> FlowResult:
    result = replay(item, request.run_key, request.fingerprint, request.call_id, request.described)
    if request.idempotency_key is None:
        # An internal key is nobody's business but this call's.
        return result.model_copy(update={"idempotency_key": None})
    return result


def _outcome_unknown(request: FlowRequest, cause: CNOPException) -> CNOPOutcomeUnknownException:
    return CNOPOutcomeUnknownException(
        "The database did not say whether this request was applied; retry it with "
        f"idempotency_key='{request.run_key}' to apply it once or get its result",
        details={"idempotency_key": request.run_key, "cause": cause.code},
    )


def _send(
    tables: TableNames, request: FlowRequest, write: Call, policy: RetryPolicy
) -> Operation[FlowResult | CNOPException | None]:
    """Send ``write`` until DynamoDB answers definitely.

    None: it committed. A FlowResult: the key's record was there (a replay, or this very
    call's write after a lost reply). A conflict: nothing written, plan again. Any other
    definite refusal is raised; an outcome that stays unknown raises
    CNOPOutcomeUnknownException.
    """
    started = time.monotonic()
    resends = 0
    while True:
        try:
            yield write
        except CNOPIdempotencyConflictException as exc:
            if exc.details.get("reason") != REPLAY_REASON:
                raise
            # The key was applied (by this call's earlier send, or a racing instance):
            # its record answers; if it cannot be read, the outcome is unknown, never "failed".
            stored = yield from _stored_result(tables, request)
            if stored is None:
                raise _outcome_unknown(request, exc) from None
            return stored
        except CNOPException as exc:
            if not may_have_applied(exc):
                if _is_conflict(exc):
                    return exc
                raise
            wait = policy.delay(resends + 1)
            resends += 1
            if resends > policy.resends or (
                time.monotonic() - started + wait > policy.resend_window
            ):
                return (yield from _resolve(tables, request, exc))
            yield Pause(wait)
        else:
            return None


def _resolve(
    tables: TableNames, request: FlowRequest, cause: CNOPException
) -> Operation[FlowResult]:
    """The last word on a write whose re-sends stayed unanswered: the key's record."""
    stored = yield from _stored_result(tables, request)
    if stored is None:
        # Absent now does not prove absent for good (the write may still be in flight).
        raise _outcome_unknown(request, cause)
    return stored


def _attempt(
    tables: TableNames,
    request: FlowRequest,
    read: Callable[[Item | None], Operation[Snapshot]],
    planner: Callable[[Snapshot, datetime], Plan],
    policy: RetryPolicy,
) -> Operation[FlowResult | CNOPException]:
    """One read, plan and write: the result, or the conflict that calls for another try."""
    # A caller's key may have been applied by an earlier call: its record comes with the
    # read. An internal key is new, nothing to look for.
    look_up = request.record_key if request.idempotency_key is not None else None
    try:
        snapshot = yield from read(look_up)
    except CNOPException as exc:
        # TransactGetItems is cancelled while another transaction writes one of its items.
        if _is_conflict(exc):
            return exc
        raise
    now = utc_now()
    if snapshot.record is not None and not expired(snapshot.record, now):
        return _replay(snapshot.record, request)
    try:
        plan = planner(snapshot, now)
    except CNOPException:
        # A caller's key whose record was not read with the snapshot (nothing else was read,
        # or the order was read alone to learn its owner): the refusal may only be that the
        # key was applied (the order it filled is completed, the expiry it placed passed).
        if request.idempotency_key is None or snapshot.record is not None:
            raise
        stored = yield from _stored_result(tables, request)
        if stored is None:
            raise
        return stored
    if request.idempotency_key is not None:
        # Recorded with the key too, so a replay names it as well.
        plan.result = plan.outcome().model_copy(update={"idempotency_key": request.idempotency_key})
    sent = yield from _send(tables, request, _write(tables, request, plan, now), policy)
    return plan.outcome() if sent is None else sent


def run_flow(
    tables: TableNames,
    request: FlowRequest,
    read: Callable[[Item | None], Operation[Snapshot]],
    planner: Callable[[Snapshot, datetime], Plan],
    policy: RetryPolicy,
) -> Operation[FlowResult]:
    """Read, plan and write until the flow commits, replays, or fails for a reason."""
    for attempt in range(policy.attempts):
        if attempt:
            yield Pause(policy.delay(attempt))
        outcome = yield from _attempt(tables, request, read, planner, policy)
        if isinstance(outcome, FlowResult):
            return outcome
    raise CNOPVersionConflictException(
        f"The balance or holding kept changing while this request ran "
        f"({policy.attempts} attempts); retry",
        details={"attempts": policy.attempts},
    )
