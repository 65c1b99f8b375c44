"""Balance and asset ledgers, holdings, batch writes, against DynamoDB Local."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from types import SimpleNamespace

import pytest

from cnop.data import (
    AssetTransaction,
    BalanceTransaction,
    DataSettings,
    UserCreate,
    dynamodb_client,
    new_id,
)
from cnop.data.core.requests import asset_balance_change
from cnop.data.types import utc_now
from cnop.exceptions import (
    CNOPAssetBalanceNotFoundException,
    CNOPBalanceNotFoundException,
    CNOPEntityAlreadyExistsException,
    CNOPTransactionNotFoundException,
    CNOPValidationException,
)


def _deposit(name: str, amount: str) -> BalanceTransaction:
    return BalanceTransaction(username=name, transaction_type="deposit", amount=amount)


def test_balance_transactions_newest_first_paginated(
    daos: SimpleNamespace, new_username: Callable[[], str]
) -> None:
    name = new_username()
    records = [_deposit(name, f"{i}.01") for i in range(1, 6)]
    for record in records:
        daos.balances.create_transaction(record)
    with pytest.raises(CNOPEntityAlreadyExistsException):
        daos.balances.create_transaction(records[0])
    page = daos.balances.list_transactions(name, limit=2)
    ids = [r.transaction_id for r in page.items]
    while page.next_cursor:
        page = daos.balances.list_transactions(name, limit=2, cursor=page.next_cursor)
        ids += [r.transaction_id for r in page.items]
    assert ids == [r.transaction_id for r in reversed(records)]
    got = daos.balances.get_transaction(name, records[2].transaction_id)
    assert got == records[2]
    assert got.amount == Decimal("3.01")
    with pytest.raises(CNOPTransactionNotFoundException):
        daos.balances.get_transaction(name, new_id())
    with pytest.raises(CNOPBalanceNotFoundException):
        daos.balances.get_balance(name)  # no user was created: no balance item


def test_batch_write_of_many_records_splits_and_lists(
    daos: SimpleNamespace, new_username: Callable[[], str]
) -> None:
    name = new_username()
    records = [
        AssetTransaction(
            username=name,
            asset_id="BTC" if i % 3 else "ETH",
            transaction_type="buy",
            quantity=f"0.{i + 1:08d}",
            price_usd="100",
        )
        for i in range(60)  # one conditional TransactWriteItems chunk (up to 100)
    ]
    assert daos.asset_transactions.create_transactions(records) == 60
    everything = []
    page = daos.asset_transactions.list_transactions(name, limit=100)
    everything += page.items
    assert page.next_cursor is None
    assert [r.transaction_id for r in everything] == [r.transaction_id for r in reversed(records)]
    eth = daos.asset_transactions.list_transactions(name, asset_id="ETH", limit=100)
    assert [r.transaction_id for r in eth.items] == [
        r.transaction_id for r in reversed(records) if r.asset_id == "ETH"
    ]
    assert daos.asset_transactions.get_transaction(name, records[5].transaction_id) == records[5]
    with pytest.raises(CNOPValidationException, match="same record twice"):
        daos.asset_transactions.create_transactions([records[0], records[0]])
    with pytest.raises(CNOPValidationException, match="AssetTransaction"):
        daos.asset_transactions.create_transactions([_deposit(name, "1")])

    deposits = [_deposit(name, "1") for _ in range(30)]
    assert daos.balances.create_transactions(deposits) == 30
    listed = daos.balances.list_transactions(name, limit=100).items
    assert sum(r.amount for r in listed) == Decimal(30)


def test_holdings_of_a_user(
    daos: SimpleNamespace, data_settings: DataSettings, user_input: Callable[..., UserCreate]
) -> None:
    name = daos.users.create_user(user_input(), "h").username
    with pytest.raises(CNOPAssetBalanceNotFoundException, match="holds no BTC"):
        daos.holdings.get_asset_balance(name, "btc")
    assert daos.holdings.list_asset_balances(name).items == []
    # Holdings change only inside transactions; write three with the public builder.
    client = dynamodb_client(data_settings)
    for asset, qty in [("ETH", "2"), ("BTC", "0.5"), ("SOL", "10.12345678")]:
        client.transact_write_items(
            TransactItems=[
                asset_balance_change(
                    data_settings.tables.orders, name, asset, Decimal(qty), now=utc_now()
                )
            ]
        )
    btc = daos.holdings.get_asset_balance(name, "btc")
    assert (btc.asset_id, btc.quantity, btc.version) == ("BTC", Decimal("0.5"), 1)
    first = daos.holdings.list_asset_balances(name, limit=2)
    rest = daos.holdings.list_asset_balances(name, limit=2, cursor=first.next_cursor)
    assert [h.asset_id for h in first.items + rest.items] == ["BTC", "ETH", "SOL"]
    assert rest.next_cursor is None
    assert rest.items[0].quantity == Decimal("10.12345678")


def test_single_asset_transaction(daos: SimpleNamespace, new_username: Callable[[], str]) -> None:
    record = AssetTransaction(
        username=new_username(),
        asset_id="ETH",
        transaction_type="sell",
        quantity="-0.25",
        price_usd="3000.5",
        order_id=new_id(),
    )
    assert daos.asset_transactions.create_transaction(record) == record
    with pytest.raises(CNOPEntityAlreadyExistsException):
        daos.asset_transactions.create_transaction(record)
    assert daos.asset_transactions.get_transaction(record.username, record.transaction_id) == record
    with pytest.raises(CNOPTransactionNotFoundException):
        daos.asset_transactions.get_transaction(record.username, new_id())
