"""The public request builders a transaction manager composes, run against DynamoDB Local."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import pytest

from cnop.data import (
    AssetBalanceDAO,
    AssetTransaction,
    BalanceDAO,
    BalanceTransaction,
    DataSettings,
    UserCreate,
    UserDAO,
)
from cnop.data.core.requests import (
    asset_balance_change,
    balance_change,
    transact_condition,
    transact_put_new,
)
from cnop.data.core.steps import Call
from cnop.data.errors import CancellationReason, reasons_to_exception
from cnop.data.executors import SyncExecutor
from cnop.data.layout import (
    ASSET_TRANSACTION_MAPPER,
    BALANCE_TRANSACTION_MAPPER,
    user_key,
)
from cnop.data.types import utc_now
from cnop.exceptions import (
    CNOPException,
    CNOPInsufficientAssetBalanceException,
    CNOPInsufficientBalanceException,
    CNOPUserNotFoundException,
)


def _run(
    settings: DataSettings,
    items: list[dict[str, Any]],
    explain: dict[int, Any],
    token: str | None = None,
) -> None:
    executor = UserDAO(settings=settings).executor
    params: dict[str, Any] = {"TransactItems": items}
    if token:
        params["ClientRequestToken"] = token

    def cancelled(reasons: Sequence[CancellationReason]) -> CNOPException:
        return reasons_to_exception(reasons, explain)

    executor.run(
        _one(Call("transact_write_items", params, settings.tables.users, on_cancelled=cancelled))
    )


def _one(call: Call) -> Any:
    return (yield call)


def _flow(
    settings: DataSettings,
    name: str,
    delta: str,
    asset_delta: str | None = None,
    token: str | None = None,
) -> None:
    """A deposit/withdraw (and optionally a holding change) as one transaction."""
    t = settings.tables
    now = utc_now()
    amount = Decimal(delta)
    record = BalanceTransaction(
        username=name,
        transaction_type="deposit" if amount > 0 else "withdraw",
        amount=amount,
    )
    items = [
        transact_condition(t.users, user_key(name), "attribute_exists(pk)"),
        balance_change(t.users, name, amount, now=now),
        transact_put_new(t.users, BALANCE_TRANSACTION_MAPPER.to_item(record)),
    ]
    explain: dict[int, Any] = {
        0: lambda _: CNOPUserNotFoundException(f"User '{name}' not found"),
        1: lambda _: CNOPInsufficientBalanceException(),
    }
    if asset_delta is not None:
        qty = Decimal(asset_delta)
        items.append(asset_balance_change(t.orders, name, "BTC", qty, now=now))
        items.append(
            transact_put_new(
                t.orders,
                ASSET_TRANSACTION_MAPPER.to_item(
                    AssetTransaction(
                        username=name,
                        asset_id="BTC",
                        transaction_type="buy" if qty > 0 else "sell",
                        quantity=qty,
                        price_usd="10",
                    )
                ),
            )
        )
        explain[3] = lambda _: CNOPInsufficientAssetBalanceException()
    _run(settings, items, explain, token)


def test_atomic_balance_and_holding_changes(
    data_settings: DataSettings,
    user_input: Callable[..., UserCreate],
    new_username: Callable[[], str],
) -> None:
    name = UserDAO(settings=data_settings).create_user(user_input(), "h").username
    balances = BalanceDAO(settings=data_settings)
    holdings = AssetBalanceDAO(settings=data_settings)

    _flow(data_settings, name, "100.25")
    _flow(data_settings, name, "-40.25", asset_delta="2.5")  # a buy: pay, receive
    assert balances.get_balance(name).balance == Decimal("60")
    holding = holdings.get_asset_balance(name, "BTC")
    assert (holding.quantity, holding.version) == (Decimal("2.5"), 1)

    with pytest.raises(CNOPInsufficientBalanceException):
        _flow(data_settings, name, "-60.01")
    with pytest.raises(CNOPInsufficientAssetBalanceException):
        _flow(data_settings, name, "1", asset_delta="-2.50000001")
    with pytest.raises(CNOPUserNotFoundException):
        _flow(data_settings, new_username(), "5")

    # Refused flows left nothing behind: balance, holding and ledgers are unchanged.
    balance = balances.get_balance(name)
    assert (balance.balance, balance.version) == (Decimal("60"), 3)
    ledger = balances.list_transactions(name).items
    assert [r.amount for r in ledger] == [Decimal("-40.25"), Decimal("100.25")]
    assert sum(r.amount for r in ledger) == balance.balance
    assert holdings.get_asset_balance(name, "BTC").quantity == Decimal("2.5")
    assert [h.asset_id for h in holdings.list_asset_balances(name).items] == ["BTC"]


def test_client_request_token_applies_a_retry_once(
    data_settings: DataSettings, user_input: Callable[..., UserCreate]
) -> None:
    name = UserDAO(settings=data_settings).create_user(user_input(), "h").username
    # The same token with the same request: DynamoDB applies it once.
    t = data_settings.tables
    now = utc_now()
    record = BalanceTransaction(username=name, transaction_type="deposit", amount="10")
    items = [
        balance_change(t.users, name, Decimal(10), now=now),
        transact_put_new(t.users, BALANCE_TRANSACTION_MAPPER.to_item(record)),
    ]
    for _ in range(3):
        _run(data_settings, items, {}, token="deposit-" + record.transaction_id)
    assert BalanceDAO(settings=data_settings).get_balance(name).balance == Decimal(10)


def test_executor_is_shared_by_the_daos(data_settings: DataSettings) -> None:
    assert isinstance(UserDAO(settings=data_settings).executor, SyncExecutor)
    assert (
        UserDAO(settings=data_settings).executor.client
        is BalanceDAO(settings=data_settings).executor.client
    )
