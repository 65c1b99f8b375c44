"""Deposit, withdraw, market buy and sell against DynamoDB Local (sync and async)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from cnop.data import (
    AssetBalanceDAO,
    AssetDAO,
    AssetTransactionDAO,
    AssetUpdate,
    BalanceDAO,
    DataSettings,
    FlowType,
    OrderDAO,
    OrderStatus,
    OrderType,
    TransactionManager,
    TransactionType,
)
from cnop.data.transactions import operations as ops
from cnop.exceptions import (
    CNOPAssetInactiveException,
    CNOPAssetNotFoundException,
    CNOPException,
    CNOPInsufficientAssetBalanceException,
    CNOPInsufficientBalanceException,
    CNOPLimitExceededException,
    CNOPUserNotFoundException,
)


def _ledgers(settings: DataSettings, name: str) -> tuple[list[Any], list[Any]]:
    cash = BalanceDAO(settings=settings).list_transactions(name, limit=100).items
    assets = AssetTransactionDAO(settings=settings).list_transactions(name, limit=100).items
    return cash, assets


def test_deposit_and_withdraw_report_what_they_wrote(
    flows: Any,
    make_user: Callable[[], str],
    data_settings: DataSettings,
    balance_of: Callable[[str], Decimal],
) -> None:
    name = make_user()
    deposited = flows.deposit(name, "100.50")
    assert (deposited.flow, deposited.amount) == (FlowType.DEPOSIT, Decimal("100.50"))
    assert balance_of(name) == Decimal("100.50")
    withdrawn = flows.withdraw(name, Decimal("40.25"))
    assert withdrawn.amount == Decimal("-40.25")
    assert withdrawn.balance_transaction is not None
    assert withdrawn.balance_transaction.transaction_type is TransactionType.WITHDRAW
    assert withdrawn.order is None
    assert withdrawn.records == (withdrawn.balance_transaction,)

    balance = BalanceDAO(settings=data_settings).get_balance(name)
    assert (balance.balance, balance.version) == (Decimal("60.25"), 3)
    cash, _ = _ledgers(data_settings, name)
    # Newest first, exactly the records the results reported.
    assert [r.transaction_id for r in cash] == [
        withdrawn.balance_transaction.transaction_id,
        deposited.balance_transaction.transaction_id,  # type: ignore[union-attr]
    ]


def test_buy_and_sell_move_cash_and_holding_together(  # noqa: PLR0917 (pytest fixtures)
    flows: Any,
    make_user: Callable[[], str],
    make_asset: Callable[..., str],
    data_settings: DataSettings,
    balance_of: Callable[[str], Decimal],
    holding_of: Callable[[str, str], Decimal],
) -> None:
    name, asset = make_user(), make_asset("12.5")
    flows.deposit(name, "100")
    bought = flows.buy(name, asset.lower(), "3.5")  # asset ids are case-insensitive
    # 3.5 x 12.5 = 43.75
    assert (bought.amount, bought.quantity, bought.price) == (
        Decimal("-43.75"),
        Decimal("3.5"),
        Decimal("12.5"),
    )
    assert (balance_of(name), holding_of(name, asset)) == (Decimal("56.25"), Decimal("3.5"))
    assert bought.order is not None
    assert bought.order.order_type is OrderType.MARKET_BUY
    assert bought.order.status is OrderStatus.COMPLETED
    assert bought.order.total_amount == Decimal("43.75")
    assert bought.balance_transaction is not None
    assert bought.asset_transaction is not None
    assert bought.balance_transaction.reference_id == bought.order.order_id
    assert bought.asset_transaction.order_id == bought.order.order_id

    sold = flows.sell(name, asset, "1.25")
    assert (sold.amount, sold.quantity) == (Decimal("15.62"), Decimal("-1.25"))  # rounded down
    assert (balance_of(name), holding_of(name, asset)) == (Decimal("71.87"), Decimal("2.25"))

    stored = OrderDAO(settings=data_settings).get_order(bought.order.order_id)
    assert stored == bought.order
    holding = AssetBalanceDAO(settings=data_settings).get_asset_balance(name, asset)
    assert holding.quantity == Decimal("2.25")
    cash, assets = _ledgers(data_settings, name)
    assert sum(r.amount for r in cash) == balance_of(name)
    assert sum(r.quantity for r in assets) == holding.quantity
    assert len(cash) == 3
    assert len(assets) == 2


def test_refusals_name_the_reason_and_leave_nothing(
    flows: Any,
    make_user: Callable[[], str],
    make_asset: Callable[..., str],
    data_settings: DataSettings,
) -> None:
    name, asset = make_user(), make_asset("10")
    flows.deposit(name, "50")
    flows.buy(name, asset, "2")  # balance 30, holding 2

    with pytest.raises(CNOPInsufficientBalanceException, match=r"40\.00 USD needed, 30\.00 USD"):
        flows.buy(name, asset, "4")
    with pytest.raises(CNOPInsufficientBalanceException):
        flows.withdraw(name, "30.01")
    with pytest.raises(CNOPInsufficientAssetBalanceException, match=r"2\.00000001 needed, 2 held"):
        flows.sell(name, asset, "2.00000001")
    with pytest.raises(CNOPUserNotFoundException):
        flows.deposit("nobody_" + name[-10:], "5")
    with pytest.raises(CNOPAssetNotFoundException):
        flows.buy(name, "NOSUCHASSET1", "1")
    with pytest.raises(CNOPAssetInactiveException):
        flows.buy(name, make_asset("1", active=False), "1")
    with pytest.raises(CNOPLimitExceededException):
        flows.buy(name, asset, "200000")  # costs 2,000,000 USD: over the per-flow limit
    with pytest.raises(CNOPLimitExceededException):
        flows.deposit(name, "1000000.01")

    cash, assets = _ledgers(data_settings, name)
    assert (len(cash), len(assets)) == (2, 1)
    assert BalanceDAO(settings=data_settings).get_balance(name).balance == Decimal(30)
    assert AssetBalanceDAO(settings=data_settings).get_asset_balance(name, asset).quantity == 2
    assert len(OrderDAO(settings=data_settings).list_orders(name).items) == 1


def test_an_asset_deactivated_after_the_read_is_refused_by_the_transaction(
    make_user: Callable[[], str], make_asset: Callable[..., str], data_settings: DataSettings
) -> None:
    flows = TransactionManager(settings=data_settings)
    name, asset = make_user(), make_asset("10")
    flows.deposit(name, "100")
    op = ops.buy(flows.context, name, asset, "1")  # drive the core step by step
    read = next(op)
    snapshot_reply = flows.executor.call(read)
    AssetDAO(settings=data_settings).update_asset(asset, AssetUpdate(is_active=False), 1)
    write = op.send(snapshot_reply)
    assert write.operation == "transact_write_items"
    with pytest.raises(CNOPAssetInactiveException):
        flows.executor.run(_resume(op, write))
    assert BalanceDAO(settings=data_settings).get_balance(name).balance == Decimal(100)


def _resume(op: Any, first: Any) -> Any:
    """An operation that continues ``op`` from its pending step ``first``."""
    step = first
    while True:
        error: CNOPException | None = None
        reply: Any = None
        try:
            reply = yield step
        except CNOPException as exc:
            error = exc
        try:
            step = op.throw(error) if error is not None else op.send(reply)
        except StopIteration as stop:
            return stop.value


def test_a_price_change_after_the_read_is_detected_and_the_buy_fills_at_the_new_price(
    make_user: Callable[[], str],
    make_asset: Callable[..., str],
    data_settings: DataSettings,
    balance_of: Callable[[str], Decimal],
) -> None:
    flows = TransactionManager(settings=data_settings)
    name, asset = make_user(), make_asset("10")
    flows.deposit(name, "100")
    op = ops.buy(flows.context, name, asset, "2")  # drive the core step by step
    snapshot_reply = flows.executor.call(next(op))
    AssetDAO(settings=data_settings).update_asset(asset, AssetUpdate(price_usd="11"), 1)
    result = flows.executor.run(_resume(op, op.send(snapshot_reply)))
    # The write planned at 10 was refused (the asset's price changed); the retry paid 11.
    assert (result.price, result.amount, balance_of(name)) == (
        Decimal(11),
        Decimal(-22),
        Decimal(78),
    )
    cash, assets = _ledgers(data_settings, name)
    assert [r.amount for r in cash] == [Decimal(-22), Decimal(100)]
    assert [r.price_usd for r in assets] == [Decimal(11)]
