"""Fixtures for cnop.data: one set of tables per test session on the session's DynamoDB Local."""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from cnop.data import (
    AssetBalanceDAO,
    AssetDAO,
    AssetTransactionDAO,
    AsyncAssetBalanceDAO,
    AsyncAssetDAO,
    AsyncAssetTransactionDAO,
    AsyncBalanceDAO,
    AsyncOrderDAO,
    AsyncUserDAO,
    BalanceDAO,
    DataSettings,
    OrderDAO,
    TableNames,
    UserCreate,
    UserDAO,
    create_tables,
    dynamodb_client,
)
from cnop.data.aio import open_async_client

SYNC_DAOS = {
    "users": UserDAO,
    "balances": BalanceDAO,
    "orders": OrderDAO,
    "assets": AssetDAO,
    "holdings": AssetBalanceDAO,
    "asset_transactions": AssetTransactionDAO,
}
ASYNC_DAOS = {
    "users": AsyncUserDAO,
    "balances": AsyncBalanceDAO,
    "orders": AsyncOrderDAO,
    "assets": AsyncAssetDAO,
    "holdings": AsyncAssetBalanceDAO,
    "asset_transactions": AsyncAssetTransactionDAO,
}


class Blocking:
    """Runs an async DAO's coroutine methods to completion, so one test body checks both."""

    def __init__(self, target: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._target = target
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if inspect.iscoroutinefunction(attr):
            return lambda *args, **kwargs: self._loop.run_until_complete(attr(*args, **kwargs))
        return attr


@pytest.fixture(scope="session")
def data_settings(dynamodb_endpoint: str) -> DataSettings:
    """Settings pointing at fresh tables (unique prefix) on DynamoDB Local."""
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    settings = DataSettings.from_env(
        endpoint_url=dynamodb_endpoint,
        tables=TableNames.from_env(prefix, {}),
        region="us-east-1",
    )
    create_tables(dynamodb_client(settings), settings.tables)
    return settings


@pytest.fixture
async def async_client(data_settings: DataSettings) -> AsyncIterator[Any]:
    async with open_async_client(data_settings) as client:
        yield client


@pytest.fixture
def new_username() -> Callable[[], str]:
    """A valid username nobody else uses."""
    return lambda: f"u_{uuid.uuid4().hex[:16]}"


@pytest.fixture
def user_input(new_username: Callable[[], str]) -> Callable[..., UserCreate]:
    def make(**overrides: Any) -> UserCreate:
        name = overrides.pop("username", None) or new_username()
        fields: dict[str, Any] = {
            "username": name,
            "email": f"{name}@example.com",
            "first_name": "Ada",
            "last_name": "Lovelace",
        }
        fields.update(overrides)
        return UserCreate(**fields)

    return make


@pytest.fixture(params=["sync", "async"])
def daos(request: pytest.FixtureRequest, data_settings: DataSettings) -> Iterator[SimpleNamespace]:
    """Every DAO, in its sync form or (run to completion) its async form."""
    if request.param == "sync":
        yield SimpleNamespace(
            kind="sync", **{k: cls(settings=data_settings) for k, cls in SYNC_DAOS.items()}
        )
        return
    loop = asyncio.new_event_loop()
    opened = open_async_client(data_settings)
    client = loop.run_until_complete(opened.__aenter__())
    try:
        yield SimpleNamespace(
            kind="async",
            **{
                k: Blocking(cls(client, settings=data_settings), loop)
                for k, cls in ASYNC_DAOS.items()
            },
        )
    finally:
        loop.run_until_complete(opened.__aexit__(None, None, None))
        loop.close()
