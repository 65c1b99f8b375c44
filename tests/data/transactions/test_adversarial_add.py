"""Attacks on flows that change balances by conditional ADD and read only what they need."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from cnop.data import FlowType, OrderCreate, OrderStatus
from cnop.data.types import utc_now


def _limit(side: str, asset: str, quantity: str, price: str, **extra: Any) -> OrderCreate:
    return OrderCreate(
        order_type=f"limit_{side}", asset_id=asset, quantity=quantity, limit_price=price, **extra
    )


def test_a_repeated_fill_key_replays_the_fill(
    flows: Any,
    make_user: Callable[[], str],
    make_asset: Callable[..., str],
    balance_of: Callable[[str], Decimal],
) -> None:
    # The retry of a fill whose reply was lost: the order is completed by then, and the key's
    # record (not the order's status) must answer.
    name, asset = make_user(), make_asset("10")
    flows.deposit(name, "100")
    placed = flows.place_limit_order(name, _limit("buy", asset, "2", "10"))
    order_id = placed.order.order_id
    first = flows.fill_order(order_id, "9", idempotency_key="fill-once-1")
    again = flows.fill_order(order_id, "9", idempotency_key="fill-once-1")
    assert again.replayed
    assert again.order is not None and again.order.status is OrderStatus.COMPLETED
    assert again.amount == first.amount == Decimal("2")
    assert balance_of(name) == Decimal("82")


def test_a_repeated_expiry_key_replays_the_expiry(
    flows: Any, make_user: Callable[[], str], make_asset: Callable[..., str]
) -> None:
    name, asset = make_user(), make_asset("10")
    flows.deposit(name, "100")
    placed = flows.place_limit_order(
        name, _limit("buy", asset, "1", "10", expires_at=utc_now() + timedelta(seconds=1))
    )
    time.sleep(1.2)  # past its expiry (the flow compares with the clock)
    first = flows.expire_order(placed.order.order_id, idempotency_key="expire-once-1")
    again = flows.expire_order(placed.order.order_id, idempotency_key="expire-once-1")
    assert again.replayed
    assert again.flow is FlowType.EXPIRE_ORDER
    assert again.amount == first.amount == Decimal("10.00")


def test_a_repeated_limit_order_key_replays_after_its_expiry_passed(
    flows: Any,
    make_user: Callable[[], str],
    make_asset: Callable[..., str],
    balance_of: Callable[[str], Decimal],
) -> None:
    # The order was placed (and its funds held); the caller's retry comes after its
    # expires_at. Telling the retry "expires_at has passed" would say the order was refused.
    name, asset = make_user(), make_asset("10")
    flows.deposit(name, "100")
    order = _limit("buy", asset, "1", "10", expires_at=utc_now() + timedelta(seconds=1))
    first = flows.place_limit_order(name, order, idempotency_key="limit-once-1")
    time.sleep(1.2)
    again = flows.place_limit_order(name, order, idempotency_key="limit-once-1")
    assert again.replayed
    assert again.order == first.order
    assert balance_of(name) == Decimal("90")
