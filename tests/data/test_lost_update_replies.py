"""Versioned updates whose reply is lost: botocore's resend must not report a conflict."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from cnop.data import (
    AssetCreate,
    AssetDAO,
    AssetUpdate,
    AsyncUserDAO,
    DataSettings,
    UserCreate,
    UserDAO,
    UserUpdate,
)
from cnop.data.aio import open_async_client
from cnop.exceptions import CNOPVersionConflictException

fp = pytest.importorskip("cnop_faultproxy")

OLD = "$2b$12$" + "A" * 53
NEW = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$" + "B" * 43


def test_a_lost_reply_resent_is_the_stored_user_not_a_conflict(
    data_settings: DataSettings, dynamodb_proxy: Any, user_input: Callable[..., UserCreate]
) -> None:
    direct = UserDAO(settings=data_settings)
    user = direct.create_user(user_input(), OLD)
    through = UserDAO(
        settings=DataSettings.from_env(
            region=data_settings.region,
            endpoint_url=dynamodb_proxy.url,
            tables=data_settings.tables,
            max_attempts=3,
        )
    )
    dynamodb_proxy.plan("UpdateItem", [fp.DROP_REPLY, fp.FORWARD])
    updated = through.set_password_hash(user.username, NEW, user.version)
    records = dynamodb_proxy.records("UpdateItem")
    assert records[0].applied
    assert not records[0].delivered
    assert (updated.password_hash, updated.version) == (NEW, 2)
    assert direct.get_user_by_username(user.username) == updated


async def test_the_async_form_resolves_a_lost_reply_too(
    data_settings: DataSettings, dynamodb_proxy: Any, user_input: Callable[..., UserCreate]
) -> None:
    direct = UserDAO(settings=data_settings)
    user = direct.create_user(user_input(), OLD)
    settings = DataSettings.from_env(
        region=data_settings.region,
        endpoint_url=dynamodb_proxy.url,
        tables=data_settings.tables,
        max_attempts=3,
    )
    dynamodb_proxy.plan("UpdateItem", [fp.DROP_REPLY, fp.FORWARD])
    async with open_async_client(settings) as client:
        updated = await AsyncUserDAO(client, settings=settings).set_password_hash(
            user.username, NEW, user.version
        )
    assert not dynamodb_proxy.records("UpdateItem")[0].delivered
    assert (updated.password_hash, updated.version) == (NEW, 2)
    assert direct.get_user_by_username(user.username) == updated


def test_a_conflict_with_another_write_is_still_a_conflict(
    data_settings: DataSettings, user_input: Callable[..., UserCreate]
) -> None:
    direct = UserDAO(settings=data_settings)
    user = direct.create_user(user_input(), OLD)
    direct.set_password_hash(user.username, NEW, 1)
    with pytest.raises(CNOPVersionConflictException):
        direct.set_password_hash(user.username, NEW.replace("B", "C"), 1)
    # The same hash again from a stale read is another request, not a resend: refused.
    with pytest.raises(CNOPVersionConflictException):
        direct.set_password_hash(user.username, NEW, 1)
    direct.update_user(user.username, UserUpdate(first_name="Grace"), 2)
    with pytest.raises(CNOPVersionConflictException):
        direct.update_user(user.username, UserUpdate(first_name="Grace"), 2)


def _through(data_settings: DataSettings, proxy: Any) -> DataSettings:
    return DataSettings.from_env(
        region=data_settings.region,
        endpoint_url=proxy.url,
        tables=data_settings.tables,
        max_attempts=3,
    )


def test_update_user_resolves_a_lost_reply(
    data_settings: DataSettings, dynamodb_proxy: Any, user_input: Callable[..., UserCreate]
) -> None:
    direct = UserDAO(settings=data_settings)
    user = direct.create_user(user_input(phone="+1 555 123 4567"), OLD)
    through = UserDAO(settings=_through(data_settings, dynamodb_proxy))
    dynamodb_proxy.plan("UpdateItem", [fp.DROP_REPLY, fp.FORWARD])
    updated = through.update_user(user.username, UserUpdate(first_name="Grace", phone=None), 1)
    assert not dynamodb_proxy.records("UpdateItem")[0].delivered
    assert (updated.first_name, updated.phone, updated.version) == ("Grace", None, 2)
    assert direct.get_user_by_username(user.username) == updated


def test_update_asset_resolves_a_lost_reply(
    data_settings: DataSettings, dynamodb_proxy: Any
) -> None:
    direct = AssetDAO(settings=data_settings)
    asset = direct.create_asset(
        AssetCreate(
            asset_id=f"R{uuid.uuid4().hex[:10]}", name="Resent", category="t", price_usd="1"
        )
    )
    through = AssetDAO(settings=_through(data_settings, dynamodb_proxy))
    dynamodb_proxy.plan("UpdateItem", [fp.DROP_REPLY, fp.FORWARD])
    changes = AssetUpdate(price_usd="2.5", is_active=False)
    updated = through.update_asset(asset.asset_id, changes, 1)
    assert not dynamodb_proxy.records("UpdateItem")[0].delivered
    assert (updated.price_usd, updated.is_active, updated.version) == (Decimal("2.5"), False, 2)
    assert direct.get_asset(asset.asset_id) == updated
