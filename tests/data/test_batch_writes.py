"""Batch writes of new ledger records against DynamoDB Local: the database refuses existing ones.

Each test runs with the sync DAOs and the async DAOs (the ``daos`` fixture).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from cnop.data import (
    AssetTransaction,
    AsyncBalanceDAO,
    BalanceDAO,
    BalanceTransaction,
    DataSettings,
)
from cnop.exceptions import CNOPEntityAlreadyExistsException, CNOPTransactionNotFoundException


def _deposit(name: str, amount: str) -> BalanceTransaction:
    return BalanceTransaction(username=name, transaction_type="deposit", amount=amount)


def _buy(name: str, i: int) -> AssetTransaction:
    return AssetTransaction(
        username=name,
        asset_id="BTC",
        transaction_type="buy",
        quantity=f"0.{i + 1:08d}",
        price_usd="100",
    )


def _all_pages(list_page: Callable[..., Any], name: str) -> list[Any]:
    items: list[Any] = []
    cursor = None
    while True:
        page = list_page(name, limit=100, cursor=cursor)
        items += page.items
        cursor = page.next_cursor
        if cursor is None:
            return items


def test_batch_with_an_existing_balance_record_is_refused_and_the_ledger_is_unchanged(
    daos: SimpleNamespace, new_username: Callable[[], str]
) -> None:
    name = new_username()
    committed = daos.balances.create_transaction(_deposit(name, "5"))
    forged = committed.model_copy(update={"amount": Decimal(1000)})
    fresh = [_deposit(name, "1"), _deposit(name, "2")]

    with pytest.raises(CNOPEntityAlreadyExistsException) as info:
        daos.balances.create_transactions([fresh[0], forged, fresh[1]])

    assert committed.transaction_id in info.value.message
    assert info.value.details["ids"] == [committed.transaction_id]
    assert daos.balances.get_transaction(name, committed.transaction_id).amount == Decimal(5)
    for record in fresh:  # same chunk: all-or-nothing
        with pytest.raises(CNOPTransactionNotFoundException):
            daos.balances.get_transaction(name, record.transaction_id)
    assert _all_pages(daos.balances.list_transactions, name) == [committed]


def test_batch_with_existing_asset_records_names_each_and_earlier_chunks_stay(
    daos: SimpleNamespace, new_username: Callable[[], str]
) -> None:
    name = new_username()
    committed = [daos.asset_transactions.create_transaction(_buy(name, i)) for i in (0, 1)]
    forged = [c.model_copy(update={"quantity": Decimal(7)}) for c in committed]
    first_chunk = [_buy(name, i) for i in range(10, 110)]
    second_chunk = [forged[0], _buy(name, 200), forged[1]]

    with pytest.raises(CNOPEntityAlreadyExistsException) as info:
        daos.asset_transactions.create_transactions(first_chunk + second_chunk)

    assert info.value.details["ids"] == [c.transaction_id for c in committed]
    stored = _all_pages(daos.asset_transactions.list_transactions, name)
    assert [r.transaction_id for r in stored] == [
        r.transaction_id for r in reversed(committed + first_chunk)
    ]
    assert all(r.quantity != Decimal(7) for r in stored)


def test_batch_of_250_new_records_is_written_in_three_chunks_in_order(
    daos: SimpleNamespace, new_username: Callable[[], str]
) -> None:
    name = new_username()
    records = [_deposit(name, f"{i}.01") for i in range(250)]

    assert daos.balances.create_transactions(records) == 250

    stored = _all_pages(daos.balances.list_transactions, name)
    assert stored == list(reversed(records))  # newest first: every record, exactly as sent


def test_identical_batch_resent_after_success_is_answered_as_done_once(
    daos: SimpleNamespace, new_username: Callable[[], str]
) -> None:
    name = new_username()
    records = [_deposit(name, "1") for _ in range(120)]
    assert daos.balances.create_transactions(records) == 120

    # A lost reply makes a caller resend the same chunks: same tokens, nothing written twice.
    assert daos.balances.create_transactions(records) == 120
    stored = _all_pages(daos.balances.list_transactions, name)
    assert sum(r.amount for r in stored) == Decimal(120)

    # Any other chunk holding one of them is a new request, and the database refuses it.
    with pytest.raises(CNOPEntityAlreadyExistsException):
        daos.balances.create_transactions(records[:5])


def _race_outcome(
    results: list[int | BaseException], batches: list[list[BalanceTransaction]], ledger: list[Any]
) -> None:
    winners = [i for i, r in enumerate(results) if r == len(batches[i])]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1, results
    assert len(losers) == len(batches) - 1
    assert all(isinstance(e, CNOPEntityAlreadyExistsException) for e in losers), losers
    assert sorted(r.transaction_id for r in ledger) == sorted(
        r.transaction_id for r in batches[winners[0]]
    )


def _racing_batches(name: str, workers: int) -> list[list[BalanceTransaction]]:
    shared = _deposit(name, "50")
    return [[_deposit(name, f"1.{w:02d}"), shared, _deposit(name, "2")] for w in range(workers)]


def test_concurrent_batches_sharing_a_record_write_it_once(
    data_settings: DataSettings, new_username: Callable[[], str]
) -> None:
    dao = BalanceDAO(settings=data_settings)
    name = new_username()
    batches = _racing_batches(name, 12)

    def write(batch: list[BalanceTransaction]) -> int | BaseException:
        try:
            return int(dao.create_transactions(batch))
        except CNOPEntityAlreadyExistsException as exc:
            return exc

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(write, batches))
    _race_outcome(results, batches, _all_pages(dao.list_transactions, name))


async def test_concurrent_async_batches_sharing_a_record_write_it_once(
    data_settings: DataSettings, async_client: Any, new_username: Callable[[], str]
) -> None:
    dao = AsyncBalanceDAO(async_client, settings=data_settings)
    name = new_username()
    batches = _racing_batches(name, 12)
    results = await asyncio.gather(
        *(dao.create_transactions(b) for b in batches), return_exceptions=True
    )
    ledger = (await dao.list_transactions(name, limit=100)).items
    _race_outcome(list(results), batches, ledger)
