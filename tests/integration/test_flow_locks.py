"""cnop.locking's LockManager fits cnop.data's lock Protocol and serialises a user's flows."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import boto3.session
import pytest

from cnop.data import (
    AsyncTransactionManager,
    AsyncUserLocks,
    BalanceDAO,
    DataSettings,
    OrderCreate,
    TransactionManager,
    UserLocks,
)
from cnop.data.aio import open_async_client
from cnop.exceptions import CNOPLockAcquisitionException
from cnop.locking import LockManager

pytestmark = pytest.mark.integration


@pytest.fixture(params=["memory", "redis"])
def locks(request: pytest.FixtureRequest) -> Iterator[LockManager]:
    if request.param == "memory":
        manager = LockManager.in_memory()
    else:
        manager = LockManager.from_url(request.getfixturevalue("redis_url"))
    yield manager
    manager.close()


class WriteSpy:
    """A boto3 client that checks, at each write, whether the user's lock is free."""

    def __init__(self, client: Any, locks: LockManager, user: str, *, probe: bool = True) -> None:
        self._client, self._locks, self._user, self._probe = client, locks, user, probe
        self.writes = 0
        self.lock_was_free: list[bool] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, **params: Any) -> Any:
        self.writes += 1
        if self._probe:
            self.lock_was_free.append(self._lock_free())
        return self._client.transact_write_items(**params)

    def _lock_free(self) -> bool:
        # From another thread, as another request of the service would try it.
        free: list[bool] = []

        def probe() -> None:
            try:
                with self._locks.user_lock(self._user, "probe", wait=0):
                    free.append(True)
            except CNOPLockAcquisitionException:
                free.append(False)

        thread = threading.Thread(target=probe)
        thread.start()
        thread.join()
        return free[0]


def test_the_lock_manager_fits_the_protocols(locks: LockManager) -> None:
    sync_locks: UserLocks = locks  # checked by mypy: LockManager has user_lock(username, op)
    async_locks: AsyncUserLocks = locks
    assert callable(sync_locks.user_lock)
    assert callable(async_locks.auser_lock)


def test_each_flow_runs_holding_the_users_lock(
    locks: LockManager,
    flow_settings: DataSettings,
    make_user: Callable[[], str],
    make_asset: Callable[[str], str],
) -> None:
    user, asset = make_user(), make_asset("4")
    client = boto3.session.Session().client("dynamodb", **flow_settings.client_kwargs())
    spy = WriteSpy(client, locks, user)
    flows = TransactionManager(settings=flow_settings, client=spy, locks=locks)
    flows.deposit(user, "20")
    flows.buy(user, asset, "2")
    flows.sell(user, asset, "1")
    placed = flows.place_limit_order(
        user, OrderCreate(order_type="limit_sell", asset_id=asset, quantity="1", limit_price="5")
    )
    assert placed.order is not None
    flows.cancel_order(user, placed.order.order_id)
    assert spy.lock_was_free == [False] * 5
    # And released afterwards.
    with locks.user_lock(user, "after", wait=0):
        pass


def test_twenty_concurrent_deposits_under_the_lock_write_once_each(
    locks: LockManager, flow_settings: DataSettings, make_user: Callable[[], str]
) -> None:
    user = make_user()
    client = boto3.session.Session().client("dynamodb", **flow_settings.client_kwargs())
    spy = WriteSpy(client, locks, user, probe=False)
    flows = TransactionManager(settings=flow_settings, client=spy, locks=locks)
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda i: flows.deposit(user, f"{i + 1}.00"), range(20)))
    assert BalanceDAO(settings=flow_settings).get_balance(user).balance == Decimal(210)
    assert sorted(r.amount for r in results) == [Decimal(i + 1) for i in range(20)]
    # Serialised by the lock, no flow had to be planned again after a conflict.
    assert spy.writes == 20


class CountingLocks:
    """Passes ``auser_lock`` through to a LockManager; counts holders and overlap."""

    def __init__(self, locks: LockManager) -> None:
        self._locks = locks
        self.entered: list[tuple[str, str]] = []
        self.inside = 0
        self.most_inside = 0

    @contextlib.asynccontextmanager
    async def auser_lock(self, username: str, operation: str) -> AsyncIterator[None]:
        async with self._locks.auser_lock(username, operation):
            self.entered.append((username, operation))
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
            try:
                yield
            finally:
                self.inside -= 1


async def test_async_flows_hold_the_lock_too(
    locks: LockManager, flow_settings: DataSettings, make_user: Callable[[], str]
) -> None:
    user = make_user()
    counting = CountingLocks(locks)
    async with open_async_client(flow_settings) as client:
        flows = AsyncTransactionManager(client, settings=flow_settings, locks=counting)
        results = await asyncio.gather(*(flows.deposit(user, "1.50") for _ in range(20)))
    assert [r.amount for r in results] == [Decimal("1.50")] * 20
    assert BalanceDAO(settings=flow_settings).get_balance(user).balance == Decimal(30)
    assert counting.entered == [(user, "deposit")] * 20
    assert counting.most_inside == 1
