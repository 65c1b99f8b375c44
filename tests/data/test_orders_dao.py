"""OrderDAO / AsyncOrderDAO: conditional creates, newest-first listings, the state machine."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from types import SimpleNamespace

import pytest

from cnop.data import Order, OrderCreate, OrderStatus, new_id
from cnop.exceptions import (
    CNOPEntityAlreadyExistsException,
    CNOPInvalidStateTransitionException,
    CNOPOrderNotFoundException,
    CNOPValidationException,
    CNOPVersionConflictException,
)


def _order(username: str, asset: str = "BTC", kind: str = "market_buy", **extra: object) -> Order:
    data = OrderCreate(order_type=kind, asset_id=asset, quantity="0.5", **extra)
    return Order.new(username, data)


def test_create_get_and_no_overwrite(
    daos: SimpleNamespace, new_username: Callable[[], str]
) -> None:
    order = daos.orders.create_order(
        _order(new_username(), kind="limit_sell", limit_price="123.45")
    )
    got = daos.orders.get_order(order.order_id)
    assert got == order
    assert got.limit_price == Decimal("123.45")
    with pytest.raises(CNOPEntityAlreadyExistsException):
        daos.orders.create_order(order)
    with pytest.raises(CNOPOrderNotFoundException):
        daos.orders.get_order(new_id())
    with pytest.raises(CNOPValidationException, match="order_id"):
        daos.orders.get_order("../etc/passwd")


def test_listing_newest_first_across_pages(
    daos: SimpleNamespace, new_username: Callable[[], str]
) -> None:
    name = new_username()
    made = [daos.orders.create_order(_order(name, "BTC" if i % 2 else "ETH")) for i in range(7)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = daos.orders.list_orders(name, limit=3, cursor=cursor)
        pages += 1
        seen += [o.order_id for o in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 3
    assert seen == [o.order_id for o in reversed(made)]
    btc = daos.orders.list_orders(name, asset_id="btc", limit=10)
    assert [o.order_id for o in btc.items] == [
        o.order_id for o in reversed(made) if o.asset_id == "BTC"
    ]
    assert btc.next_cursor is None
    # Another user's listing never shows these, and a cursor of this listing is refused there.
    other = new_username()
    assert daos.orders.list_orders(other).items == []
    first = daos.orders.list_orders(name, limit=2)
    with pytest.raises(CNOPValidationException, match="cursor"):
        daos.orders.list_orders(other, limit=2, cursor=first.next_cursor)
    with pytest.raises(CNOPValidationException, match="limit"):
        daos.orders.list_orders(name, limit=0)


def test_status_changes_follow_the_state_machine(
    daos: SimpleNamespace, new_username: Callable[[], str]
) -> None:
    order = daos.orders.create_order(_order(new_username(), kind="limit_buy", limit_price="10"))
    for status in ("confirmed", "queued", "triggered", "processing"):
        order = daos.orders.update_status(order.order_id, status)
        assert order.status is OrderStatus(status)
    with pytest.raises(CNOPInvalidStateTransitionException, match="from processing to cancelled"):
        daos.orders.update_status(order.order_id, OrderStatus.CANCELLED)
    done = daos.orders.update_status(
        order.order_id, "completed", price=Decimal("9.5"), total_amount=Decimal("4.75")
    )
    assert (done.status, done.price, done.total_amount, done.version) == (
        OrderStatus.COMPLETED,
        Decimal("9.5"),
        Decimal("4.75"),
        6,
    )
    with pytest.raises(CNOPInvalidStateTransitionException, match="from completed to queued"):
        daos.orders.update_status(order.order_id, "queued")
    with pytest.raises(CNOPInvalidStateTransitionException):
        daos.orders.update_status(order.order_id, "pending")
    with pytest.raises(CNOPOrderNotFoundException):
        daos.orders.update_status(new_id(), "confirmed")
    with pytest.raises(CNOPValidationException, match="status"):
        daos.orders.update_status(order.order_id, "done")
    assert daos.orders.get_order(order.order_id) == done


def test_status_change_with_expected_version(
    daos: SimpleNamespace, new_username: Callable[[], str]
) -> None:
    order = daos.orders.create_order(_order(new_username()))
    confirmed = daos.orders.update_status(order.order_id, "confirmed", expected_version=1)
    with pytest.raises(CNOPVersionConflictException):
        daos.orders.update_status(order.order_id, "cancelled", expected_version=1)
    cancelled = daos.orders.update_status(
        order.order_id, "cancelled", expected_version=confirmed.version, reason="user asked"
    )
    assert cancelled.status_reason == "user asked"
