"""Waiting limit orders fill on a price, expire at their time, and resolve their hold once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
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
    OrderType,
    TransactionManager,
)
from cnop.data.types import utc_now
from cnop.exceptions import CNOPInvalidStateTransitionException, CNOPValidationException

from .invariants import check_invariants


def _limit(  # noqa: PLR0917 - a test helper
    flows: Any, user: str, asset: str, buy: bool, qty: str, limit: str, **extra: Any
) -> Any:
    order = OrderCreate(
        order_type=OrderType.LIMIT_BUY if buy else OrderType.LIMIT_SELL,
        asset_id=asset,
        quantity=qty,
        limit_price=limit,
        **extra,
    )
    placed = flows.place_limit_order(user, order).order
    assert placed is not None
    return placed


@pytest.fixture
def trader(
    flows: Any, make_user: Callable[[], str], make_asset: Callable[..., str]
) -> tuple[str, str]:
    user, asset = make_user(), make_asset("10")
    flows.deposit(user, "1000")
    flows.buy(user, asset, "10")  # 100 USD: balance 900, holding 10
    return user, asset


def test_a_limit_buy_fills_below_its_limit_and_gets_the_unused_hold_back(
    flows: Any, data_settings: DataSettings, trader: tuple[str, str]
) -> None:
    user, asset = trader
    order = _limit(flows, user, asset, True, "2", "8")  # holds 16.00
    assert BalanceDAO(settings=data_settings).get_balance(user).balance == Decimal(884)
    sweep = flows.match_limit_orders(asset, "6.5")
    assert [r.order.order_id for r in sweep.done] == [order.order_id]
    fill = sweep.done[0]
    assert fill.flow is FlowType.FILL_ORDER
    assert (fill.amount, fill.quantity) == (Decimal(3), Decimal(2))  # 16.00 held, 13.00 paid
    assert BalanceDAO(settings=data_settings).get_balance(user).balance == Decimal(887)
    assert fill.order.status is OrderStatus.COMPLETED
    assert fill.order.price == Decimal("6.5")
    stored = OrderDAO(settings=data_settings).get_order(order.order_id)
    assert (stored.status, stored.price) == (OrderStatus.COMPLETED, Decimal("6.5"))
    # Every movement is a ledger record linked to the order.
    assert fill.balance_transaction.reference_id == order.order_id
    assert fill.asset_transaction.order_id == order.order_id
    assert AssetBalanceDAO(settings=data_settings).get_asset_balance(user, asset).quantity == 12
    check_invariants(data_settings, [user], None)
    # Filled once: a second match at any price finds nothing.
    assert not flows.match_limit_orders(asset, "1").done


def test_a_limit_sell_fills_above_its_limit_for_the_proceeds(
    flows: Any, data_settings: DataSettings, trader: tuple[str, str]
) -> None:
    user, asset = trader
    order = _limit(flows, user, asset, False, "3", "20")  # holds 3 of the 10
    sweep = flows.match_limit_orders(asset, "21.333")
    assert [r.order.order_id for r in sweep.done] == [order.order_id]
    fill = sweep.done[0]
    assert (fill.amount, fill.quantity) == (Decimal("63.99"), None)
    assert BalanceDAO(settings=data_settings).get_balance(user).balance == Decimal("963.99")
    assert AssetBalanceDAO(settings=data_settings).get_asset_balance(user, asset).quantity == 7
    check_invariants(data_settings, [user], None)


def test_a_price_that_does_not_cross_fills_nothing(
    flows: Any, trader: tuple[str, str], data_settings: DataSettings
) -> None:
    user, asset = trader
    buy = _limit(flows, user, asset, True, "1", "8")
    sell = _limit(flows, user, asset, False, "1", "20")
    assert flows.match_limit_orders(asset, "8.01").done == []
    assert flows.match_limit_orders(asset, "19.99").done == []
    orders = OrderDAO(settings=data_settings)
    assert orders.get_order(buy.order_id).status is OrderStatus.QUEUED
    assert orders.get_order(sell.order_id).status is OrderStatus.QUEUED


def test_best_limit_first_across_pages(flows: Any, trader: tuple[str, str]) -> None:
    user, asset = trader
    placed = {limit: _limit(flows, user, asset, True, "1", limit).order_id for limit in "798"}
    sweep = flows.match_limit_orders(asset, "7", page_size=1)
    assert [r.order.order_id for r in sweep.done] == [placed["9"], placed["8"], placed["7"]]


def test_a_fill_beyond_the_limit_is_refused_and_changes_nothing(
    flows: Any, trader: tuple[str, str], data_settings: DataSettings
) -> None:
    user, asset = trader
    buy = _limit(flows, user, asset, True, "1", "8")
    sell = _limit(flows, user, asset, False, "1", "20")
    before = BalanceDAO(settings=data_settings).get_balance(user)
    with pytest.raises(CNOPValidationException, match="above the limit"):
        flows.fill_order(buy.order_id, "8.01")
    with pytest.raises(CNOPValidationException, match="below the limit"):
        flows.fill_order(sell.order_id, "19.99")
    assert BalanceDAO(settings=data_settings).get_balance(user) == before


def test_a_cancelled_order_leaves_the_index_and_cannot_fill(
    flows: Any, trader: tuple[str, str]
) -> None:
    user, asset = trader
    order = _limit(flows, user, asset, True, "1", "8")
    flows.cancel_order(user, order.order_id)
    assert flows.match_limit_orders(asset, "5").done == []
    with pytest.raises(CNOPInvalidStateTransitionException):
        flows.fill_order(order.order_id, "5")


def _ids(sweep: Any) -> set[str]:
    # Other tests share the tables: a sweep also settles their orders.
    return {r.order.order_id for r in sweep.done if r.order is not None}


def test_an_expired_order_releases_its_hold_once(
    flows: Any, trader: tuple[str, str], data_settings: DataSettings
) -> None:
    user, asset = trader
    soon = utc_now() + timedelta(seconds=2)
    buy = _limit(flows, user, asset, True, "2", "8", expires_at=soon)
    sell = _limit(flows, user, asset, False, "4", "30", expires_at=soon)
    later = _limit(flows, user, asset, True, "1", "5", expires_at=soon + timedelta(hours=1))
    mine = {buy.order_id, sell.order_id, later.order_id}
    if utc_now() < soon - timedelta(seconds=0.3):
        assert not _ids(flows.expire_limit_orders()) & mine  # not yet
    time.sleep(max(0.0, (soon - utc_now()).total_seconds()) + 0.2)
    sweep = flows.expire_limit_orders()
    assert _ids(sweep) & mine == {buy.order_id, sell.order_id}
    assert all(r.order.status is OrderStatus.EXPIRED for r in sweep.done)
    assert not _ids(flows.expire_limit_orders()) & mine  # resolved once
    balance = BalanceDAO(settings=data_settings).get_balance(user).balance
    assert balance == Decimal(900) - Decimal(5)  # only the unexpired buy still holds
    assert AssetBalanceDAO(settings=data_settings).get_asset_balance(user, asset).quantity == 10
    assert OrderDAO(settings=data_settings).get_order(later.order_id).status is OrderStatus.QUEUED
    # An expired order cannot fill.
    assert _ids(flows.match_limit_orders(asset, "1")) == {later.order_id}
    check_invariants(data_settings, [user], None)


def _race(*calls: Callable[[], Any]) -> list[Any]:
    results: list[Any] = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_two_matchers_and_a_cancel_resolve_each_order_once(
    data_settings: DataSettings, make_user: Callable[[], str], make_asset: Callable[..., str]
) -> None:
    users = [make_user() for _ in range(3)]
    asset = make_asset("10")
    setup = TransactionManager(settings=data_settings)
    orders = []
    for user in users:
        setup.deposit(user, "500")
        orders += [_limit(setup, user, asset, True, "1", str(p)).order_id for p in (9, 8, 7, 6)]
    matchers = [TransactionManager(settings=data_settings) for _ in range(2)]
    victim = orders[5]
    outcomes = _race(
        lambda: matchers[0].match_limit_orders(asset, "5"),
        lambda: matchers[1].match_limit_orders(asset, "5"),
        lambda: setup.cancel_order(users[1], victim),
    )
    first, second, cancel = outcomes
    filled = [r.order.order_id for r in first.done + second.done]
    assert len(filled) == len(set(filled)), "an order was filled twice"
    cancelled = [] if isinstance(cancel, Exception) else [victim]
    assert sorted(filled + cancelled) == sorted(orders)
    assert isinstance(cancel, CNOPInvalidStateTransitionException) or victim not in filled
    stored = {o: OrderDAO(settings=data_settings).get_order(o).status for o in orders}
    assert all(s in (OrderStatus.COMPLETED, OrderStatus.CANCELLED) for s in stored.values())
    check_invariants(data_settings, users, None)
    ledger = AssetTransactionDAO(settings=data_settings)
    moves = sum(len(ledger.list_transactions(u, limit=100).items) for u in users)
    assert moves == len(filled)


def test_an_expiry_racing_a_cancel_resolves_once_and_an_expired_order_cannot_fill(
    data_settings: DataSettings, make_user: Callable[[], str], make_asset: Callable[..., str]
) -> None:
    user, asset = make_user(), make_asset("10")
    flows = TransactionManager(settings=data_settings)
    flows.deposit(user, "100")
    soon = utc_now() + timedelta(seconds=1)
    order = _limit(flows, user, asset, True, "1", "8", expires_at=soon)
    time.sleep(1.2)
    with pytest.raises(CNOPInvalidStateTransitionException, match="expired"):
        flows.fill_order(order.order_id, "7")  # its time is up, swept or not
    cancel, expiry = _race(
        lambda: flows.cancel_order(user, order.order_id),
        lambda: TransactionManager(settings=data_settings).expire_limit_orders(),
    )
    won = [not isinstance(cancel, Exception), order.order_id in _ids(expiry)]
    assert won.count(True) == 1, (cancel, expiry)
    assert BalanceDAO(settings=data_settings).get_balance(user).balance == Decimal(100)
    status = OrderDAO(settings=data_settings).get_order(order.order_id).status
    assert status is (OrderStatus.CANCELLED if won[0] else OrderStatus.EXPIRED)
    check_invariants(data_settings, [user], None)


@pytest.mark.parametrize("bad", [None, "", "1\n", "\u0661", -1, "nan", 1.5, object()])
def test_sweeps_refuse_bad_input(flows: Any, bad: Any, make_asset: Callable[..., str]) -> None:
    asset = make_asset("10")
    with pytest.raises(CNOPValidationException):
        flows.match_limit_orders(asset, bad)
    with pytest.raises(CNOPValidationException):
        flows.fill_order(bad, "1")


@pytest.mark.parametrize("bad", [None, "", "BTC\n", " BTC", "B\x00TC", "\u0412TC", 5])
def test_matching_refuses_a_bad_asset_id(flows: Any, bad: Any) -> None:
    with pytest.raises(CNOPValidationException):
        flows.match_limit_orders(bad, "1")


def test_operators_match_and_expire_from_the_command_line(
    data_settings: DataSettings, make_user: Callable[[], str], make_asset: Callable[..., str]
) -> None:
    import json
    import os
    import subprocess
    import sys

    user, asset = make_user(), make_asset("10")
    flows = TransactionManager(settings=data_settings)
    flows.deposit(user, "100")
    order = _limit(flows, user, asset, True, "1", "8")
    tables = data_settings.tables
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL_DYNAMODB": data_settings.endpoint_url or "",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "USERS_TABLE": tables.users,
        "ORDERS_TABLE": tables.orders,
        "INVENTORY_TABLE": tables.inventory,
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cnop.data", "orders", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    matched = run("match", "--asset", asset, "--price", "7.5")
    assert matched.returncode == 0, matched.stderr
    assert json.loads(matched.stdout)["done"] == [order.order_id]
    expired = run("expire")
    assert expired.returncode == 0, expired.stderr
    assert json.loads(expired.stdout) == {"done": [], "lost": [], "refused": {}}
    bad = run("match", "--asset", asset, "--price", "\u0667")
    assert bad.returncode == 1
    assert "price" in bad.stderr
    assert OrderDAO(settings=data_settings).get_order(order.order_id).status is (
        OrderStatus.COMPLETED
    )
