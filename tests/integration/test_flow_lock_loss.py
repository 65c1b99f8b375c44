"""A flow that committed is reported as committed, even if its user lock was lost meanwhile.

The database conditions, not the lock, keep balances right; an error raised after the
commit would make a caller retry (without a key: apply it twice).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import boto3.session
import pytest

from cnop.data import AsyncTransactionManager, BalanceDAO, DataSettings, TransactionManager
from cnop.data.aio import open_async_client
from cnop.locking import LockManager

pytestmark = pytest.mark.integration


class EvictAfterWrite:
    """A DynamoDB client that, once a transaction committed, evicts the user's lock holder."""

    def __init__(self, client: Any, locks: LockManager, user: str) -> None:
        self._client, self._locks, self._user = client, locks, user

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, **params: Any) -> Any:
        reply = self._client.transact_write_items(**params)
        assert self._locks.force_release(f"user:{self._user}")
        return reply


class AsyncEvictAfterWrite(EvictAfterWrite):
    async def transact_write_items(self, **params: Any) -> Any:  # type: ignore[override]
        reply = await self._client.transact_write_items(**params)
        assert await self._locks.aforce_release(f"user:{self._user}")
        return reply


def test_a_committed_deposit_is_returned_when_the_lock_was_lost(
    flow_settings: DataSettings, make_user: Callable[[], str]
) -> None:
    user = make_user()
    locks = LockManager.in_memory()
    client = boto3.session.Session().client("dynamodb", **flow_settings.client_kwargs())
    flows = TransactionManager(
        settings=flow_settings, client=EvictAfterWrite(client, locks, user), locks=locks
    )
    result = flows.deposit(user, "12.34")
    assert result.amount == Decimal("12.34")
    assert BalanceDAO(settings=flow_settings).get_balance(user).balance == Decimal("12.34")
    locks.close()


async def test_a_committed_async_deposit_is_returned_when_the_lock_was_lost(
    flow_settings: DataSettings, make_user: Callable[[], str]
) -> None:
    user = make_user()
    locks = LockManager.in_memory()
    async with open_async_client(flow_settings) as client:
        flows = AsyncTransactionManager(
            AsyncEvictAfterWrite(client, locks, user), settings=flow_settings, locks=locks
        )
        result = await flows.deposit(user, "5.00")
    assert result.amount == Decimal("5.00")
    assert BalanceDAO(settings=flow_settings).get_balance(user).balance == Decimal("5.00")
    locks.close()
