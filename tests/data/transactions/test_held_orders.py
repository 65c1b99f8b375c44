"""A hold is always resolved: no OrderDAO call ends a limit order that holds funds or assets.

A limit order placed with ``TransactionManager.place_limit_order`` debits what it needs
(a buy: USD, a sell: the asset). Ending it through ``OrderDAO.update_status`` would leave
that debit in place with no call left that returns it, so the DAO refuses; the flow that
releases the hold (``cancel_order``) still works afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from cnop.data import (
    AssetBalanceDAO,
    AsyncOrderDAO,
    BalanceDAO,
    DataSettings,
    Order,
    OrderCreate,
    OrderDAO,
    OrderStatus,
    TransactionManager,
)
from cnop.data.aio import open_async_client
from cnop.exceptions import (
    CNOPInvalidStateTransitionException,
    CNOPValidationException,
    CNOPVersionConflictException,
)

from .conftest import Blocking

TERMINAL_FROM_QUEUED = ["cancelled", "expired", "failed"]


@pytest.fixture(params=["sync", "async"])
def orders(request: pytest.FixtureRequest, data_settings: DataSettings) -> Iterator[Any]:
    """An OrderDAO, or an AsyncOrderDAO driven to completion."""
    if request.param == "sync":
        yield OrderDAO(settings=data_settings)
        return
    loop = asyncio.new_event_loop()
    opened = open_async_client(data_settings)
    client = loop.run_until_complete(opened.__aenter__())
    try:
        yield Blocking(AsyncOrderDAO(client, settings=data_settings), loop)
    finally:
        loop.run_until_complete(opened.__aexit__(None, None, None))
        loop.close()


@pytest.fixture
def world(
    data_settings: DataSettings, make_user: Callable[[], str], make_asset: Callable[..., str]
) -> SimpleNamespace:
    """A transaction manager (places the held orders), a new user and a new asset at 10."""
    return SimpleNamespace(
        manager=TransactionManager(settings=data_settings),
        name=make_user(),
        asset=make_asset("10"),
        settings=data_settings,
    )


def _limit(side: str, asset: str, quantity: str, price: str) -> OrderCreate:
    return OrderCreate(
        order_type=f"limit_{side}", asset_id=asset, quantity=quantity, limit_price=price
    )


def _holdings(settings: DataSettings, name: str) -> list[tuple[str, Decimal]]:
    items = AssetBalanceDAO(settings=settings).list_asset_balances(name).items
    return [(h.asset_id, h.quantity) for h in items]


@pytest.mark.parametrize("status", TERMINAL_FROM_QUEUED)
@pytest.mark.parametrize("side", ["buy", "sell"])
def test_a_held_limit_order_cannot_be_ended_through_the_dao(
    side: str, status: str, orders: Any, world: SimpleNamespace
) -> None:
    manager, name, asset, data_settings = world.manager, world.name, world.asset, world.settings
    manager.deposit(name, "100")
    if side == "sell":
        manager.buy(name, asset, "5")
    placed = manager.place_limit_order(name, _limit(side, asset, "2", "9.50"))
    assert placed.order is not None
    order_id = placed.order.order_id
    balances = BalanceDAO(settings=data_settings)
    balance_before = balances.get_balance(name).balance
    holdings_before = _holdings(data_settings, name)

    with pytest.raises(CNOPInvalidStateTransitionException, match="cancel_order") as info:
        orders.update_status(order_id, status, reason="swept")
    assert info.value.status == 409
    assert info.value.details["held"] is True
    with pytest.raises(CNOPInvalidStateTransitionException, match="cancel_order"):
        orders.update_status(order_id, status, expected_version=placed.order.version)

    # Nothing moved: the order still waits and still holds what it held.
    assert orders.get_order(order_id) == placed.order
    assert balances.get_balance(name).balance == balance_before
    assert _holdings(data_settings, name) == holdings_before

    # The flow that releases the hold still can, and gives everything back.
    cancelled = manager.cancel_order(name, order_id)
    assert cancelled.order is not None
    assert cancelled.order.status is OrderStatus.CANCELLED
    if side == "buy":
        assert balances.get_balance(name).balance == Decimal(100)
    else:
        assert _holdings(data_settings, name) == [(asset, Decimal(5))]


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_a_held_order_moves_only_through_the_flows(
    side: str, orders: Any, world: SimpleNamespace
) -> None:
    manager, name, asset, data_settings = world.manager, world.name, world.asset, world.settings
    manager.deposit(name, "100")
    if side == "sell":
        manager.buy(name, asset, "5")
    placed = manager.place_limit_order(name, _limit(side, asset, "1", "5"))
    assert placed.order is not None
    order_id = placed.order.order_id
    balance = BalanceDAO(settings=data_settings).get_balance(name).balance
    # Not even to triggered/processing: that would take it out of the matching and expiry
    # indexes, and from there neither a cancel nor an expiry could release its hold.
    for status in ("triggered", "failed", "expired", "cancelled"):
        with pytest.raises(CNOPInvalidStateTransitionException, match="holds funds"):
            orders.update_status(order_id, status)
    with pytest.raises(CNOPInvalidStateTransitionException):
        orders.update_status(order_id, "queued", total_amount=Decimal(1))
    assert orders.get_order(order_id) == placed.order
    assert BalanceDAO(settings=data_settings).get_balance(name).balance == balance
    # The flows still settle it.
    assert manager.cancel_order(name, order_id).amount >= 0


@pytest.mark.parametrize("status", ["cancelled", "expired", "failed"])
def test_an_unheld_limit_order_still_ends_through_the_dao(
    status: str, orders: Any, new_username: Callable[[], str]
) -> None:
    order = orders.create_order(Order.new(new_username(), _limit("buy", "BTC", "1", "10")))
    for step in ("confirmed", "queued"):
        order = orders.update_status(order.order_id, step)
    ended = orders.update_status(order.order_id, status, reason="by the DAO")
    assert (ended.status, ended.status_reason, ended.version) == (
        OrderStatus(status),
        "by the DAO",
        order.version + 1,
    )
    assert orders.get_order(order.order_id) == ended


def test_a_market_order_still_ends_through_the_dao(orders: Any, world: SimpleNamespace) -> None:
    manager, name, asset = world.manager, world.name, world.asset
    manager.deposit(name, "100")
    bought = manager.buy(name, asset, "1")
    assert bought.order is not None
    order = orders.create_order(
        Order.new(name, OrderCreate(order_type="market_sell", asset_id=asset, quantity="1"))
    )
    failed = orders.update_status(order.order_id, "failed", reason="no liquidity")
    assert failed.status is OrderStatus.FAILED
    assert orders.get_order(order.order_id) == failed
    confirmed = orders.create_order(
        Order.new(name, OrderCreate(order_type="market_buy", asset_id=asset, quantity="1"))
    )
    confirmed = orders.update_status(confirmed.order_id, "confirmed")
    done = orders.update_status(confirmed.order_id, "expired", expected_version=confirmed.version)
    assert done.version == confirmed.version + 1
    stale = orders.create_order(
        Order.new(name, OrderCreate(order_type="market_buy", asset_id=asset, quantity="1"))
    )
    orders.update_status(stale.order_id, "confirmed")
    with pytest.raises(CNOPVersionConflictException):
        orders.update_status(stale.order_id, "failed", expected_version=stale.version)


def test_a_forged_hold_record_releases_nothing(world: SimpleNamespace) -> None:
    from cnop.data import BalanceTransaction

    manager, name, asset, settings = world.manager, world.name, world.asset, world.settings
    order = OrderDAO(settings=settings).create_order(
        Order.new(name, _limit("buy", asset, "10", "10"), total_amount=Decimal(100))
    )
    # A ledger record only: no balance moved.
    BalanceDAO(settings=settings).create_transaction(
        BalanceTransaction(
            transaction_id=order.order_id,
            username=name,
            transaction_type="order_payment",
            amount=Decimal(-100),
            reference_id=order.order_id,
        )
    )
    # The hold is marked on the order by the flow that placed it; a ledger record is not one.
    with pytest.raises(CNOPValidationException, match="holds nothing"):
        manager.cancel_order(name, order.order_id)
    assert BalanceDAO(settings=settings).get_balance(name).balance == Decimal(0)


def test_a_resent_status_change_is_applied_once(world: SimpleNamespace) -> None:
    """What botocore resends after a lost reply is the identical request: it must not fail
    on the version its first copy already moved, nor apply twice."""
    from cnop.data import dynamodb_client
    from cnop.data.core.orders import update_order_status
    from cnop.data.core.steps import Call

    settings = world.settings
    orders = OrderDAO(settings=settings)
    order = orders.create_order(Order.new(world.name, _limit("buy", world.asset, "1", "10")))
    order = orders.update_status(order.order_id, "confirmed")
    client = dynamodb_client(settings)
    operation = update_order_status(settings.tables, order.order_id, "expired")
    step = next(operation)
    assert isinstance(step, Call)
    step = operation.send(client.get_item(**step.params))
    assert isinstance(step, Call)
    assert step.operation == "transact_write_items"
    client.transact_write_items(**step.params)
    client.transact_write_items(**step.params)  # the resend: answered as done
    with pytest.raises(StopIteration) as done:
        operation.send({})
    expired = done.value.value
    assert expired.status is OrderStatus.EXPIRED
    assert orders.get_order(order.order_id) == expired
    assert expired.version == order.version + 1
