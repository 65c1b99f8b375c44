"""Requests now reach DynamoDB without botocore's client-side check of every parameter.

Whatever a caller passes (here: models built without validation, e.g. with
``model_construct``), a DAO or a flow must refuse it with a typed, client-safe error that
names what is wrong, before sending anything, and must never write.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from cnop.data import (
    BalanceDAO,
    BalanceTransaction,
    DataSettings,
    Order,
    OrderCreate,
    OrderDAO,
    OrderType,
    TransactionManager,
    TransactionType,
    UserCreate,
    UserDAO,
)
from cnop.data.transactions.runner import RetryPolicy
from cnop.exceptions import CNOPException, CNOPValidationException

NOW = datetime(2026, 1, 2, tzinfo=timezone.utc)
HOSTILE: list[Any] = [123, b"BTC", {"S": "x"}, ["BTC"], Decimal(7), None, "", "A\x00B"]


def _ids(values: list[Any]) -> list[str]:
    return [type(v).__name__ + ":" + repr(v)[:12] for v in values]


@pytest.fixture
def quick_flows(data_settings: DataSettings) -> TransactionManager:
    # A short resend window: an "outcome unknown" shows up in seconds, not 20.
    return TransactionManager(
        settings=data_settings, retry=RetryPolicy(resends=1, resend_window=1.0)
    )


@pytest.mark.parametrize("asset_id", HOSTILE, ids=_ids(HOSTILE))
def test_an_unvalidated_limit_order_is_refused_before_any_write(
    quick_flows: TransactionManager,
    data_settings: DataSettings,
    user_input: Callable[..., UserCreate],
    asset_id: Any,
) -> None:
    name = UserDAO(settings=data_settings).create_user(user_input(), "x-hash").username
    quick_flows.deposit(name, "100")
    order = OrderCreate.model_construct(
        order_type=OrderType.LIMIT_BUY,
        asset_id=asset_id,
        quantity=Decimal(1),
        limit_price=Decimal(1),
        expires_at=None,
    )
    with pytest.raises(CNOPValidationException):
        quick_flows.place_limit_order(name, order)
    assert BalanceDAO(settings=data_settings).get_balance(name).balance == Decimal(100)


@pytest.mark.parametrize("description", HOSTILE[:4], ids=_ids(HOSTILE[:4]))
def test_an_unvalidated_ledger_record_is_refused_before_any_write(
    data_settings: DataSettings, user_input: Callable[..., UserCreate], description: Any
) -> None:
    name = UserDAO(settings=data_settings).create_user(user_input(), "x-hash").username
    record = BalanceTransaction.model_construct(
        **{
            **BalanceTransaction(
                username=name,
                transaction_type=TransactionType.DEPOSIT,
                amount=Decimal(5),
                description="ok",
                created_at=NOW,
            ).__dict__,
            "description": description,
        }
    )
    dao = BalanceDAO(settings=data_settings)
    with pytest.raises(CNOPValidationException):
        dao.create_transaction(record)
    assert dao.list_transactions(name).items == []


@pytest.mark.parametrize("username", HOSTILE, ids=_ids(HOSTILE))
def test_an_unvalidated_order_is_refused_before_any_write(
    data_settings: DataSettings, username: Any
) -> None:
    valid = Order(
        username="someone_1",
        order_type=OrderType.MARKET_BUY,
        asset_id="BTC",
        quantity=Decimal(1),
        created_at=NOW,
        updated_at=NOW,
    )
    order = Order.model_construct(**{**valid.__dict__, "username": username})
    dao = OrderDAO(settings=data_settings)
    with pytest.raises(CNOPValidationException):
        dao.create_order(order)
    with pytest.raises(CNOPException):
        dao.get_order(valid.order_id)


@pytest.mark.parametrize("email", HOSTILE, ids=_ids(HOSTILE))
def test_an_unvalidated_user_is_refused_before_any_write(
    data_settings: DataSettings, user_input: Callable[..., UserCreate], email: Any
) -> None:
    good = user_input()
    user = UserCreate.model_construct(**{**good.__dict__, "email": email})
    with pytest.raises(CNOPValidationException):
        UserDAO(settings=data_settings).create_user(user, "x-hash")
