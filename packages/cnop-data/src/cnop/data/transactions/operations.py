"""The flows as core operations (sans-I/O): validate input, then run the attempt loop.

Each function checks its input when called (so bad input fails before any lock or
request) and returns the operation to run.

The sync and async transaction managers only execute these and hold the optional lock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from cnop.data.codec import Item
from cnop.data.config import TableNames
from cnop.data.core.common import require_model
from cnop.data.core.orders import expiring_orders, waiting_orders
from cnop.data.core.paging import check_limit
from cnop.data.core.steps import Operation
from cnop.data.layout import EXPIRY_SHARDS
from cnop.data.models import Order, OrderCreate
from cnop.data.transactions.idempotency import canonical, check_idempotency_key, fingerprint
from cnop.data.transactions.limits import FlowLimits
from cnop.data.transactions.plans import (
    Plan,
    plan_adjust,
    plan_buy,
    plan_cancel,
    plan_cash,
    plan_expire,
    plan_fill,
    plan_limit_order,
    plan_sell,
)
from cnop.data.transactions.results import FlowResult, FlowType, SweepResult
from cnop.data.transactions.runner import DEFAULT_RETENTION, FlowRequest, RetryPolicy, run_flow
from cnop.data.transactions.snapshot import Snapshot, read_snapshot
from cnop.data.types import check_external_reference, utc_now
from cnop.data.validation import (
    check_text,
    check_timestamp,
    validate_asset_id,
    validate_entity_id,
    validate_price,
    validate_username,
)
from cnop.exceptions import (
    CNOPClientException,
    CNOPEntityNotFoundException,
    CNOPException,
    CNOPInvalidStateTransitionException,
    CNOPValidationException,
)

__all__ = [
    "FlowContext",
    "adjust",
    "buy",
    "cancel_order",
    "deposit",
    "expire_limit_orders",
    "expire_order",
    "fill_order",
    "match_limit_orders",
    "place_limit_order",
    "sell",
    "withdraw",
]


@dataclass(frozen=True)
class FlowContext:
    """Where flows write and by which rules: tables, limits, retry policy, key retention."""

    tables: TableNames
    limits: FlowLimits
    policy: RetryPolicy
    retention: timedelta = DEFAULT_RETENTION


def _request(
    ctx: FlowContext, flow: FlowType, username: str, key: Any, **params: Any
) -> FlowRequest:
    checked = check_idempotency_key(key)
    # Options left out stay out, so a request's fingerprint does not change with new ones.
    asked = {"flow": flow.value, "user": username}
    asked.update({k: v for k, v in params.items() if v is not None})
    return FlowRequest(
        username,
        checked,
        fingerprint(**asked),
        described=canonical(**asked),
        retention=ctx.retention,
    )


def _cash(
    ctx: FlowContext,
    flow: FlowType,
    username: Any,
    amount: Any,
    *,
    idempotency_key: Any,
    description: Any,
    external_reference: Any,
) -> Operation[FlowResult]:
    name = validate_username(username)
    value = ctx.limits.amount(amount)
    text = _optional_text(description, "description", 500)
    ref = _reference(external_reference)
    request = _request(
        ctx, flow, name, idempotency_key, amount=value, description=text, external_reference=ref
    )
    return run_flow(
        ctx.tables,
        request,
        _nothing_to_read(ctx),
        lambda _snap, now: plan_cash(
            ctx.tables,
            flow,
            name,
            value,
            now=now,
            limits=ctx.limits,
            description=text,
            external_reference=ref,
        ),
        ctx.policy,
    )


def _nothing_to_read(ctx: FlowContext) -> Callable[[Item | None], Operation[Snapshot]]:
    # Balances are changed by a conditional ADD, never read; a repeated key is found by the
    # write itself.
    return lambda _record: read_snapshot(ctx.tables)


def _reference(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return check_external_reference(value)
    except ValueError as exc:
        raise CNOPValidationException.for_field("external_reference", str(exc)) from None


def _optional_text(value: Any, field: str, max_length: int) -> str | None:
    return None if value is None else _text(value, field, max_length)


def _text(value: Any, field: str, max_length: int) -> str:
    try:
        text = check_text(value, field, max_length)
    except ValueError as exc:
        raise CNOPValidationException.for_field(field, str(exc)) from None
    if not text.strip() or text != text.strip():
        raise CNOPValidationException.for_field(
            field, "must not be blank nor start or end with whitespace"
        )
    return text


def deposit(
    ctx: FlowContext,
    username: Any,
    amount: Any,
    idempotency_key: Any = None,
    *,
    description: Any = None,
    external_reference: Any = None,
) -> Operation[FlowResult]:
    return _cash(
        ctx,
        FlowType.DEPOSIT,
        username,
        amount,
        idempotency_key=idempotency_key,
        description=description,
        external_reference=external_reference,
    )


def withdraw(
    ctx: FlowContext,
    username: Any,
    amount: Any,
    idempotency_key: Any = None,
    *,
    description: Any = None,
    external_reference: Any = None,
) -> Operation[FlowResult]:
    return _cash(
        ctx,
        FlowType.WITHDRAW,
        username,
        amount,
        idempotency_key=idempotency_key,
        description=description,
        external_reference=external_reference,
    )


def _signed(value: Any, parse: Callable[[Any], Decimal]) -> Decimal:
    """A signed amount or quantity: ``parse`` checks its size, the sign is kept."""
    negative = False
    if isinstance(value, Decimal) and not value.is_finite():
        return parse(value)  # refused there, with the field's message
    if isinstance(value, str) and value.startswith("-"):
        negative, value = True, value[1:]
    elif isinstance(value, (Decimal, int)) and not isinstance(value, bool) and value < 0:
        negative, value = True, -value
    number = parse(value)
    return -number if negative else number


def adjust(
    ctx: FlowContext,
    username: Any,
    *,
    reason: Any,
    operator: Any,
    amount: Any = None,
    asset_id: Any = None,
    quantity: Any = None,
    idempotency_key: Any = None,
) -> Operation[FlowResult]:
    """An operator's correction of a USD balance (``amount``) or a holding (``quantity``)."""
    name = validate_username(username)
    who = validate_username(operator)
    why = _text(reason, "reason", 500)
    if (amount is None) == (quantity is None) or (quantity is None) != (asset_id is None):
        raise CNOPValidationException.for_field(
            "amount", "give either amount (USD) or asset_id and quantity, not both"
        )
    value = None if amount is None else _signed(amount, ctx.limits.amount)
    qty = None if quantity is None else _signed(quantity, ctx.limits.quantity)
    asset = None if asset_id is None else validate_asset_id(asset_id)
    request = _request(
        ctx,
        FlowType.ADJUST,
        name,
        idempotency_key,
        amount=value,
        asset=asset,
        quantity=qty,
        reason=why,
        operator=who,
    )
    return run_flow(
        ctx.tables,
        request,
        # A holding's correction records the asset's price: that is read, nothing else.
        lambda record: read_snapshot(ctx.tables, asset_id=asset, record_key=record),
        lambda snap, now: plan_adjust(
            ctx.tables,
            name,
            amount=value,
            asset_id=asset,
            quantity=qty,
            reason=why,
            operator=who,
            snapshot=snap,
            now=now,
        ),
        ctx.policy,
    )


def _market(
    ctx: FlowContext,
    flow: FlowType,
    username: Any,
    asset_id: Any,
    quantity: Any,
    *,
    idempotency_key: Any,
) -> Operation[FlowResult]:
    name = validate_username(username)
    asset = validate_asset_id(asset_id)
    qty = ctx.limits.quantity(quantity)
    request = _request(ctx, flow, name, idempotency_key, asset=asset, quantity=qty)
    planner = plan_buy if flow is FlowType.BUY else plan_sell
    return run_flow(
        ctx.tables,
        request,
        # The price (the write is conditioned on it), and a caller's key's record with it.
        lambda record: read_snapshot(ctx.tables, asset_id=asset, record_key=record),
        lambda snap, now: planner(ctx.tables, ctx.limits, name, asset, qty, snapshot=snap, now=now),
        ctx.policy,
    )


def buy(
    ctx: FlowContext, username: Any, asset_id: Any, quantity: Any, idempotency_key: Any = None
) -> Operation[FlowResult]:
    return _market(ctx, FlowType.BUY, username, asset_id, quantity, idempotency_key=idempotency_key)


def sell(
    ctx: FlowContext, username: Any, asset_id: Any, quantity: Any, idempotency_key: Any = None
) -> Operation[FlowResult]:
    return _market(
        ctx, FlowType.SELL, username, asset_id, quantity, idempotency_key=idempotency_key
    )


def _order_request(order: Any) -> OrderCreate:
    """``order`` validated again (see ``require_model``), except that its ``expires_at`` may
    have passed since it was built: the plan refuses that, after a repeated key's record
    has had its say."""
    if not isinstance(order, OrderCreate):
        raise CNOPValidationException.for_field("order", "must be a OrderCreate")
    expires_at = order.__dict__.get("expires_at")
    data = require_model(order.model_copy(update={"expires_at": None}), OrderCreate, "order")
    if expires_at is None:
        return data
    try:
        when = check_timestamp(expires_at, "expires_at")
    except ValueError as exc:
        raise CNOPValidationException.for_field("expires_at", str(exc)) from None
    return data.model_copy(update={"expires_at": when})


def place_limit_order(
    ctx: FlowContext, username: Any, order: Any, idempotency_key: Any = None
) -> Operation[FlowResult]:
    name = validate_username(username)
    data = _order_request(order)
    if not data.order_type.is_limit:
        raise CNOPValidationException.for_field(
            "order_type", "must be limit_buy or limit_sell (use buy() or sell() for market orders)"
        )
    ctx.limits.quantity(data.quantity)
    request = _request(
        ctx,
        FlowType.LIMIT_ORDER,
        name,
        idempotency_key,
        order_type=data.order_type.value,
        asset=data.asset_id,
        quantity=data.quantity,
        limit_price=data.limit_price,
        expires_at=data.expires_at.isoformat() if data.expires_at else None,
    )
    return run_flow(
        ctx.tables,
        request,
        _nothing_to_read(ctx),
        lambda _snap, now: plan_limit_order(ctx.tables, ctx.limits, name, data, now=now),
        ctx.policy,
    )


def cancel_order(
    ctx: FlowContext, username: Any, order_id: Any, idempotency_key: Any = None
) -> Operation[FlowResult]:
    name = validate_username(username)
    oid = validate_entity_id(order_id, "order_id")
    request = _request(ctx, FlowType.CANCEL_ORDER, name, idempotency_key, order_id=oid)
    return run_flow(
        ctx.tables,
        request,
        lambda record: read_snapshot(ctx.tables, order_id=oid, owner=name, record_key=record),
        lambda snap, now: plan_cancel(ctx.tables, name, snapshot=snap, now=now),
        ctx.policy,
    )


# --- the life of a waiting limit order after it was placed --------------------------------

#: Refusals that mean another request ended the order first (the race was lost).
_LOST = (CNOPInvalidStateTransitionException, CNOPEntityNotFoundException)


def _settle(
    ctx: FlowContext,
    flow: FlowType,
    order_id: str,
    *,
    known: Order | None,
    key: str | None,
    planner: Callable[[Snapshot, datetime], Plan],
    **params: Any,
) -> Operation[FlowResult]:
    """A system flow on one waiting order: plan from the order, write, and retry from a read.

    ``known`` is the order as a sweep found it: the first attempt plans from it without
    reading (the write is conditioned on its version and hold, so a stale copy is refused,
    never applied). Without it, the order is read first, which also names its owner.
    """
    first = Snapshot(order=known) if known is not None else None
    if first is None:
        first = yield from read_snapshot(ctx.tables, order_id=order_id)
    owner = first.order.username if first.order is not None else ""
    request = _request(ctx, flow, owner, key, order_id=order_id, **params)
    pending = [first]

    def read(record: Item | None) -> Operation[Snapshot]:
        if pending:
            return pending.pop()
        return (
            yield from read_snapshot(ctx.tables, order_id=order_id, owner=owner, record_key=record)
        )

    return (yield from run_flow(ctx.tables, request, read, planner, ctx.policy))


def fill_order(
    ctx: FlowContext, order_id: Any, price: Any, idempotency_key: Any = None
) -> Operation[FlowResult]:
    """Fill one waiting limit order at ``price`` (see ``plan_fill``)."""
    oid = validate_entity_id(order_id, "order_id")
    px = validate_price(price, "price")
    check_idempotency_key(idempotency_key)
    return _fill(ctx, oid, px, None, idempotency_key)


def _fill(
    ctx: FlowContext, oid: str, px: Decimal, known: Order | None, key: str | None
) -> Operation[FlowResult]:
    return _settle(
        ctx,
        FlowType.FILL_ORDER,
        oid,
        known=known,
        key=key,
        planner=lambda snap, now: plan_fill(ctx.tables, ctx.limits, px, snapshot=snap, now=now),
        price=px,
    )


def expire_order(
    ctx: FlowContext, order_id: Any, idempotency_key: Any = None
) -> Operation[FlowResult]:
    """Expire one waiting limit order past its ``expires_at``, releasing its hold."""
    oid = validate_entity_id(order_id, "order_id")
    check_idempotency_key(idempotency_key)
    return _expire(ctx, oid, None, idempotency_key)


def _expire(
    ctx: FlowContext, oid: str, known: Order | None, key: str | None
) -> Operation[FlowResult]:
    return _settle(
        ctx,
        FlowType.EXPIRE_ORDER,
        oid,
        known=known,
        key=key,
        planner=lambda snap, now: plan_expire(ctx.tables, snapshot=snap, now=now),
    )


def _crosses(order: Order, price: Decimal) -> bool:
    limit = order.limit_price
    if limit is None:
        return False
    return limit >= price if order.order_type.is_buy else limit <= price


def _record(sweep: SweepResult, order_id: str, settle: Operation[FlowResult]) -> Operation[None]:
    try:
        sweep.done.append((yield from settle))
    except _LOST:
        sweep.lost.append(order_id)
    except CNOPClientException as exc:
        sweep.refused[order_id] = exc.message
    except CNOPException as exc:
        # One order's trouble (an unknown outcome, a dropped connection) does not stop the
        # sweep: the order is reported and a later sweep settles it (each at most once).
        sweep.failed[order_id] = exc.message


def match_limit_orders(
    ctx: FlowContext, asset_id: Any, price: Any, *, page_size: int = 100
) -> Operation[SweepResult]:
    """Fill every waiting limit order of ``asset_id`` that ``price`` crosses, at ``price``.

    Buys with a limit at or above ``price`` and sells at or below it, best limit first, found
    by Query on the waiting-orders index (gsi3), page by page. Each fill is its own
    transaction; an order another request ended first (a cancel, another matcher) is
    reported in ``lost``.
    """
    asset = validate_asset_id(asset_id)
    px = validate_price(price, "price")
    size = check_limit(page_size)

    def sweep() -> Operation[SweepResult]:
        result = SweepResult()
        for buy in (True, False):
            start: Item | None = None
            while True:
                orders, start = yield from waiting_orders(
                    ctx.tables, asset, buy=buy, price=px, limit=size, start=start
                )
                for order in orders:
                    if _crosses(order, px):  # the index ranks to 18 decimals
                        yield from _record(
                            result,
                            order.order_id,
                            _fill(ctx, order.order_id, px, order, None),
                        )
                if start is None:
                    break
        return result

    return sweep()


def expire_limit_orders(
    ctx: FlowContext, now: datetime | None = None, *, page_size: int = 100
) -> Operation[SweepResult]:
    """Expire every waiting limit order whose ``expires_at`` is before ``now``.

    Found by Query on the expiry index (gsi4, a few shards), oldest first; each expiry is
    its own transaction and releases the order's hold.
    """
    if now is not None and (not isinstance(now, datetime) or now.tzinfo is None):
        raise CNOPValidationException.for_field("now", "must be a timezone-aware datetime")
    size = check_limit(page_size)

    def sweep() -> Operation[SweepResult]:
        cutoff = now or utc_now()
        result = SweepResult()
        for shard in range(EXPIRY_SHARDS):
            start: Item | None = None
            while True:
                orders, start = yield from expiring_orders(
                    ctx.tables, shard, cutoff, limit=size, start=start
                )
                for order in orders:
                    yield from _record(
                        result, order.order_id, _expire(ctx, order.order_id, order, None)
                    )
                if start is None:
                    break
        return result

    return sweep()
