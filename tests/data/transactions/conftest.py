"""Fixtures for the money flows: a manager (sync, or async run to completion), users, assets."""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from cnop.data import (
    AssetBalanceDAO,
    AssetCreate,
    AssetDAO,
    AsyncTransactionManager,
    BalanceDAO,
    DataSettings,
    TransactionManager,
    UserCreate,
    UserDAO,
)
from cnop.data.aio import open_async_client
from cnop.exceptions import CNOPEntityNotFoundException


class Blocking:
    """Runs an async manager's coroutine methods to completion, so one test checks both."""

    def __init__(self, target: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._target = target
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if inspect.iscoroutinefunction(attr):
            return lambda *args, **kwargs: self._loop.run_until_complete(attr(*args, **kwargs))
        return attr


@pytest.fixture(params=["sync", "async"])
def flows(request: pytest.FixtureRequest, data_settings: DataSettings) -> Iterator[Any]:
    """A TransactionManager, or an AsyncTransactionManager driven to completion."""
    if request.param == "sync":
        yield TransactionManager(settings=data_settings)
        return
    loop = asyncio.new_event_loop()
    opened = open_async_client(data_settings)
    client = loop.run_until_complete(opened.__aenter__())
    try:
        yield Blocking(AsyncTransactionManager(client, settings=data_settings), loop)
    finally:
        loop.run_until_complete(opened.__aexit__(None, None, None))
        loop.close()


@pytest.fixture
def make_user(
    data_settings: DataSettings, user_input: Callable[..., UserCreate]
) -> Callable[[], str]:
    """Registers a new user (zero balance) and returns the username."""
    users = UserDAO(settings=data_settings)
    return lambda: users.create_user(user_input(), "not-a-real-hash").username


@pytest.fixture
def make_asset(data_settings: DataSettings) -> Callable[..., str]:
    """Lists a new asset (unique id) and returns its id."""
    assets = AssetDAO(settings=data_settings)

    def make(price: str = "10", *, active: bool = True) -> str:
        asset_id = "T" + uuid.uuid4().hex[:12].upper()
        assets.create_asset(
            AssetCreate(
                asset_id=asset_id,
                name=f"Test asset {asset_id}",
                category="test",
                price_usd=Decimal(price),
                is_active=active,
            )
        )
        return asset_id

    return make


@pytest.fixture
def balance_of(data_settings: DataSettings) -> Callable[[str], Decimal]:
    """The user's USD balance as stored now (flow results say what changed, not this)."""
    dao = BalanceDAO(settings=data_settings)
    return lambda name: dao.get_balance(name).balance


@pytest.fixture
def holding_of(data_settings: DataSettings) -> Callable[[str, str], Decimal]:
    """The user's holding of an asset as stored now (0 when there is none)."""
    dao = AssetBalanceDAO(settings=data_settings)

    def read(name: str, asset_id: str) -> Decimal:
        try:
            return dao.get_asset_balance(name, asset_id).quantity
        except CNOPEntityNotFoundException:
            return Decimal(0)

    return read
