"""A password hash whose UpdateItem reply is lost: the resend must not report a conflict."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cnop.data import AsyncUserDAO, DataSettings, UserCreate, UserDAO
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


def test_a_conflict_with_another_writers_hash_is_still_a_conflict(
    data_settings: DataSettings, dynamodb_proxy: Any, user_input: Callable[..., UserCreate]
) -> None:
    direct = UserDAO(settings=data_settings)
    user = direct.create_user(user_input(), OLD)
    direct.set_password_hash(user.username, NEW, 1)
    with pytest.raises(CNOPVersionConflictException):
        direct.set_password_hash(user.username, NEW.replace("B", "C"), 1)
    # The same hash at the next version, written by an earlier request of this caller:
    # the caller's resend is answered as done.
    assert direct.set_password_hash(user.username, NEW, 1).version == 2
    with pytest.raises(CNOPVersionConflictException):
        direct.set_password_hash(user.username, OLD, 1)
