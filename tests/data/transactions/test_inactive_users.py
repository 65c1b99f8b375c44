"""A deactivated user moves no money: refused by a condition in the flow's own transaction."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from cnop.data import (
    BalanceDAO,
    DataSettings,
    OrderCreate,
    OrderType,
    TransactionManager,
    UserDAO,
    UserUpdate,
)
from cnop.data.transactions import operations as ops
from cnop.exceptions import CNOPUserInactiveException


def _deactivate(settings: DataSettings, name: str) -> None:
    users = UserDAO(settings=settings)
    user = users.get_user_by_username(name)
    users.update_user(name, UserUpdate(is_active=False), user.version)


@pytest.mark.parametrize("flow", ["deposit", "withdraw", "buy", "sell", "limit", "cancel"])
def test_every_flow_refuses_a_deactivated_user(
    flows: Any,
    data_settings: DataSettings,
    make_user: Callable[[], str],
    make_asset: Callable[..., str],
    flow: str,
) -> None:
    name, asset = make_user(), make_asset("10")
    flows.deposit(name, "100")
    flows.buy(name, asset, "2")
    order = flows.place_limit_order(
        name,
        OrderCreate(order_type=OrderType.LIMIT_BUY, asset_id=asset, quantity="1", limit_price="5"),
    ).order
    _deactivate(data_settings, name)
    calls = {
        "deposit": lambda: flows.deposit(name, "1"),
        "withdraw": lambda: flows.withdraw(name, "1"),
        "buy": lambda: flows.buy(name, asset, "1"),
        "sell": lambda: flows.sell(name, asset, "1"),
        "limit": lambda: flows.place_limit_order(
            name,
            OrderCreate(
                order_type=OrderType.LIMIT_SELL, asset_id=asset, quantity="1", limit_price="50"
            ),
        ),
        "cancel": lambda: flows.cancel_order(name, order.order_id),
    }
    balances = BalanceDAO(settings=data_settings)
    before = balances.get_balance(name)
    with pytest.raises(CNOPUserInactiveException) as caught:
        calls[flow]()
    assert caught.value.status_code == 403
    assert name in caught.value.message
    assert balances.get_balance(name) == before
    assert len(balances.list_transactions(name).items) == 3  # deposit, buy, hold


def test_a_user_deactivated_after_the_read_is_refused_at_the_write(
    data_settings: DataSettings, make_user: Callable[[], str], make_asset: Callable[..., str]
) -> None:
    # The condition lives in the transaction, not in a read before it: deactivating the
    # user between the flow's read (the price) and its write still refuses it.
    name, asset = make_user(), make_asset("2")
    manager = TransactionManager(settings=data_settings)
    manager.deposit(name, "5")
    op = ops.buy(manager.context, name, asset, "1")
    price = manager.executor.call(next(op))
    _deactivate(data_settings, name)
    write = op.send(price)
    with pytest.raises(CNOPUserInactiveException):
        manager.executor.call(write)
    assert BalanceDAO(settings=data_settings).get_balance(name).balance == Decimal(5)
