"""Fixtures for cross-package flows: fresh cnop.data tables on the session's DynamoDB Local."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal

import pytest

from cnop.data import (
    AssetCreate,
    AssetDAO,
    DataSettings,
    TableNames,
    UserCreate,
    UserDAO,
    create_tables,
    dynamodb_client,
)


@pytest.fixture(scope="session")
def flow_settings(dynamodb_endpoint: str) -> DataSettings:
    settings = DataSettings.from_env(
        endpoint_url=dynamodb_endpoint,
        tables=TableNames.from_env(f"i{uuid.uuid4().hex[:8]}-", {}),
        region="us-east-1",
    )
    create_tables(dynamodb_client(settings), settings.tables)
    return settings


@pytest.fixture
def make_user(flow_settings: DataSettings) -> Callable[[], str]:
    users = UserDAO(settings=flow_settings)

    def make() -> str:
        name = f"i_{uuid.uuid4().hex[:16]}"
        data = UserCreate(
            username=name, email=f"{name}@example.com", first_name="Ada", last_name="Byron"
        )
        return users.create_user(data, "not-a-real-hash").username

    return make


@pytest.fixture
def make_asset(flow_settings: DataSettings) -> Callable[[str], str]:
    assets = AssetDAO(settings=flow_settings)

    def make(price: str) -> str:
        asset_id = "I" + uuid.uuid4().hex[:12].upper()
        assets.create_asset(
            AssetCreate(
                asset_id=asset_id, name="Integration", category="test", price_usd=Decimal(price)
            )
        )
        return asset_id

    return make
