"""The flows as core operations (sans-I/O): validate input, then run the attempt loop.

Each function checks its input when called (so bad input fails before any lock or
request) and returns the operation to run.

The sync and async transaction managers only execute these and hold the optional lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnop.data.codec import Item
from cnop.data.config import TableNames
from cnop.data.core.common import require_model
from cnop.data.core.steps import Operation
from cnop.data.models import Order, OrderCreate
from cnop.data.transactions.idempotency import check_idempotency_key, fingerprint
from cnop.data.transactions.limits import FlowLimits
from cnop.data.transactions.plans import (
    plan_buy,
    plan_cancel,
    plan_cash,
    plan_limit_order,
    plan_sell,
)
from cnop.data.transactions.results import FlowResult, FlowType
from cnop.data.transactions.runner import FlowRequest, RetryPolicy, run_flow
from cnop.data.transactions.snapshot import Snapshot, read_order, read_snapshot
from cnop.data.validation import validate_asset_id, validate_entity_id, validate_username
from cnop.exceptions import CNOPValidationException

__all__ = [
    "FlowContext",
    "buy",
    "cancel_order",
    "deposit",
    "place_limit_order",
    "sell",
    "withdraw",
]


@dataclass(frozen=True)
class FlowContext:
    """Where flows write and by which rules: tables, limits, retry policy."""

    tables: TableNames
    limits: FlowLimits
    policy: RetryPolicy


def _request(flow: FlowType, username: str, key: Any, **params: Any) -> FlowRequest:
    checked = check_idempotency_key(key)
    return FlowRequest(username, checked, fingerprint(flow=flow.value, user=username, **params))


def _cash(
    ctx: FlowContext, flow: FlowType, username: Any, amount: Any, idempotency_key: Any
) -> Operation[FlowResult]:
    name = validate_username(username)
    value = ctx.limits.amount(amount)
    request = _request(flow, name, idempotency_key, amount=value)
    return run_flow(
        ctx.tables,
        request,
        lambda record: read_snapshot(ctx.tables, name, None, record),
        lambda snap, now: plan_cash(ctx.tables, flow, name, value, snapshot=snap, now=now),
        ctx.policy,
    )


def deposit(
    ctx: FlowContext, username: Any, amount: Any, idempotency_key: Any = None
) -> Operation[FlowResult]:
    return _cash(ctx, FlowType.DEPOSIT, username, amount, idempotency_key)


def withdraw(
    ctx: FlowContext, username: Any, amount: Any, idempotency_key: Any = None
) -> Operation[FlowResult]:
    return _cash(ctx, FlowType.WITHDRAW, username, amount, idempotency_key)


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
    request = _request(flow, name, idempotency_key, asset=asset, quantity=qty)
    planner = plan_buy if flow is FlowType.BUY else plan_sell
    return run_flow(
        ctx.tables,
        request,
        lambda record: read_snapshot(ctx.tables, name, asset, record),
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


def place_limit_order(
    ctx: FlowContext, username: Any, order: Any, idempotency_key: Any = None
) -> Operation[FlowResult]:
    name = validate_username(username)
    data = require_model(order, OrderCreate, "order")
    if not data.order_type.is_limit:
        raise CNOPValidationException.for_field(
            "order_type", "must be limit_buy or limit_sell (use buy() or sell() for market orders)"
        )
    ctx.limits.quantity(data.quantity)
    request = _request(
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
        lambda record: read_snapshot(ctx.tables, name, data.asset_id, record),
        lambda snap, now: plan_limit_order(
            ctx.tables, ctx.limits, name, data, snapshot=snap, now=now
        ),
        ctx.policy,
    )


def cancel_order(
    ctx: FlowContext, username: Any, order_id: Any, idempotency_key: Any = None
) -> Operation[FlowResult]:
    name = validate_username(username)
    oid = validate_entity_id(order_id, "order_id")
    request = _request(FlowType.CANCEL_ORDER, name, idempotency_key, order_id=oid)
    read_orders: list[Order] = []

    def read(record: Item | None) -> Operation[Snapshot]:
        order = yield from read_order(ctx.tables, name, oid)
        read_orders.append(order)
        return (yield from read_snapshot(ctx.tables, name, order.asset_id, record))

    return run_flow(
        ctx.tables,
        request,
        read,
        lambda snap, now: plan_cancel(ctx.tables, name, read_orders[-1], snapshot=snap, now=now),
        ctx.policy,
    )
