"""Limit orders: placing holds funds or the asset atomically, cancelling releases them."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from cnop.data import (
    AssetBalanceDAO,
    AssetTransactionDAO,
    BalanceDAO,
    DataSettings,
    FlowType,
    OrderCreate,
    OrderDAO,
    OrderStatus,
)
from cnop.exceptions import (
    CNOPInsufficientAssetBalanceException,
    CNOPInsufficientBalanceException,
    CNOPInvalidStateTransitionException,
    CNOPOrderNotFoundException,
    CNOPValidationException,
)


def _limit(side: str, asset: str, quantity: str, price: str) -> OrderCreate:
    return OrderCreate(
        order_type=f"limit_{side}", asset_id=asset, quantity=quantity, limit_price=price
    )


def test_a_limit_buy_holds_funds_and_cancelling_releases_them(
    flows: Any,
    make_user: Callable[[], str],
    make_asset: Callable[..., str],
    data_settings: DataSettings,
) -> None:
    name, asset = make_user(), make_asset("10")
    flows.deposit(name, "100")
    placed = flows.place_limit_order(name, _limit("buy", asset, "3", "9.50"))
    assert placed.flow is FlowType.LIMIT_ORDER
    assert placed.amount == Decimal("-28.50")
    assert BalanceDAO(settings=data_settings).get_balance(name).balance == Decimal("71.50")
    assert placed.order is not None
    assert placed.order.status is OrderStatus.QUEUED
    orders = OrderDAO(settings=data_settings)
    assert orders.get_order(placed.order.order_id) == placed.order

    with pytest.raises(CNOPInsufficientBalanceException):
        flows.place_limit_order(name, _limit("buy", asset, "8", "9"))  # 72 > 71.50 left

    cancelled = flows.cancel_order(name, placed.order.order_id)
    assert cancelled.amount == Decimal("28.50")
    assert cancelled.order is not None
    assert cancelled.order.status is OrderStatus.CANCELLED
    assert orders.get_order(placed.order.order_id) == cancelled.order
    with pytest.raises(CNOPInvalidStateTransitionException, match="cancelled to cancelled"):
        flows.cancel_order(name, placed.order.order_id)

    ledger = BalanceDAO(settings=data_settings).list_transactions(name).items
    assert sum(r.amount for r in ledger) == Decimal(100)
    assert BalanceDAO(settings=data_settings).get_balance(name).balance == Decimal(100)


def test_a_limit_sell_holds_the_asset_and_cancelling_returns_it(
    flows: Any,
    make_user: Callable[[], str],
    make_asset: Callable[..., str],
    data_settings: DataSettings,
) -> None:
    name, asset = make_user(), make_asset("10")
    flows.deposit(name, "100")
    flows.buy(name, asset, "5")
    placed = flows.place_limit_order(name, _limit("sell", asset, "2", "12"))
    assert (placed.quantity, placed.amount) == (Decimal(-2), 0)
    holding = AssetBalanceDAO(settings=data_settings).get_asset_balance(name, asset)
    assert holding.quantity == Decimal(3)
    with pytest.raises(CNOPInsufficientAssetBalanceException):
        flows.sell(name, asset, "4")  # 2 of the 5 are held by the order
    assert placed.order is not None
    cancelled = flows.cancel_order(name, placed.order.order_id)
    assert cancelled.quantity == Decimal(2)
    holdings = AssetBalanceDAO(settings=data_settings)
    assert holdings.get_asset_balance(name, asset).quantity == Decimal(5)
    ledger = AssetTransactionDAO(settings=data_settings).list_transactions(name).items
    assert sum(r.quantity for r in ledger) == Decimal(5)


def test_only_the_owner_cancels_and_only_limit_orders(
    flows: Any, make_user: Callable[[], str], make_asset: Callable[..., str]
) -> None:
    alice, mallory, asset = make_user(), make_user(), make_asset("10")
    flows.deposit(alice, "100")
    placed = flows.place_limit_order(alice, _limit("buy", asset, "1", "5"))
    with pytest.raises(CNOPOrderNotFoundException):
        flows.cancel_order(mallory, placed.order.order_id)
    market = flows.buy(alice, asset, "1")
    with pytest.raises(CNOPValidationException, match="market order"):
        flows.cancel_order(alice, market.order.order_id)
    with pytest.raises(CNOPValidationException, match="order_type"):
        flows.place_limit_order(
            alice, OrderCreate(order_type="market_buy", asset_id=asset, quantity="1")
        )


def test_a_filled_order_cannot_be_cancelled(
    make_user: Callable[[], str], make_asset: Callable[..., str], data_settings: DataSettings
) -> None:
    from cnop.data import TransactionManager

    flows = TransactionManager(settings=data_settings)
    name, asset = make_user(), make_asset("10")
    flows.deposit(name, "100")
    placed = flows.place_limit_order(name, _limit("buy", asset, "1", "5"))
    assert placed.order is not None
    orders = OrderDAO(settings=data_settings)
    # Completing a held order is a fill, which settles the hold in the same transaction:
    # the DAO refuses every status change of it; the fill flow completes it.
    for status in ("triggered", "processing", "completed"):
        with pytest.raises(CNOPInvalidStateTransitionException, match="holds funds"):
            orders.update_status(placed.order.order_id, status)
    flows.fill_order(placed.order.order_id, "5")
    with pytest.raises(CNOPInvalidStateTransitionException, match="completed to cancelled"):
        flows.cancel_order(name, placed.order.order_id)
    assert BalanceDAO(settings=data_settings).get_balance(name).balance == Decimal(95)
    # An order that did complete (written through the DAO, holding nothing) stays completed.
    from cnop.data import Order

    done = orders.create_order(Order.new(name, _limit("buy", asset, "1", "5")))
    for status in ("confirmed", "queued", "triggered", "processing", "completed"):
        orders.update_status(done.order_id, status)
    with pytest.raises(CNOPInvalidStateTransitionException, match="completed to cancelled"):
        flows.cancel_order(name, done.order_id)
    assert BalanceDAO(settings=data_settings).get_balance(name).balance == Decimal(95)


@pytest.mark.parametrize("case", [("sell", None), ("buy", Decimal("50.00")), ("buy", None)])
def test_cancelling_an_order_that_holds_nothing_releases_nothing(
    case: tuple[str, Decimal | None],
    flows: Any,
    make_user: Callable[[], str],
    make_asset: Callable[..., str],
    data_settings: DataSettings,
) -> None:
    from cnop.data import Order

    side, total = case
    name, asset = make_user(), make_asset("10")
    flows.deposit(name, "1.00")
    # An order written through the DAO (as the README's quick start does) held nothing.
    order = OrderDAO(settings=data_settings).create_order(
        Order.new(name, _limit(side, asset, "5", "10"), total_amount=total)
    )
    with pytest.raises(CNOPValidationException, match="holds nothing"):
        flows.cancel_order(name, order.order_id)
    assert BalanceDAO(settings=data_settings).get_balance(name).balance == Decimal("1.00")
    holding = AssetBalanceDAO(settings=data_settings).list_asset_balances(name).items
    assert holding == []
    assert OrderDAO(settings=data_settings).get_order(order.order_id).status is OrderStatus.PENDING
