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
    AssetBalanceDAO,
    AssetDAO,
    AssetTransactionDAO,
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


BAD_TEXT: list[Any] = [
    b"abc",
    123,
    Decimal(1),
    ["x"],
    {"S": "x"},
    "",
    " x",
    "x\n",
    "a\x00b",
    "a\ud800b",
    "x" * 100_000,
    "\u0661\u0660",  # other digit scripts
    "\uff11\uff10",
]


@pytest.mark.parametrize("bad", BAD_TEXT, ids=_ids(BAD_TEXT))
def test_hostile_arguments_to_every_flow_are_refused_before_any_request(
    quick_flows: TransactionManager,
    data_settings: DataSettings,
    user_input: Callable[..., UserCreate],
    bad: Any,
) -> None:
    name = UserDAO(settings=data_settings).create_user(user_input(), "x-hash").username
    quick_flows.deposit(name, "50")
    oid = "01J00000000000000000000000"
    calls: dict[str, Callable[[], Any]] = {
        "deposit.username": lambda: quick_flows.deposit(bad, "1"),
        "deposit.amount": lambda: quick_flows.deposit(name, bad),
        "deposit.key": lambda: quick_flows.deposit(name, "1", idempotency_key=bad),
        "deposit.description": lambda: quick_flows.deposit(name, "1", description=bad),
        "withdraw.reference": lambda: quick_flows.withdraw(name, "1", external_reference=bad),
        "buy.asset": lambda: quick_flows.buy(name, bad, "1"),
        "sell.quantity": lambda: quick_flows.sell(name, "BTC", bad),
        "cancel.order_id": lambda: quick_flows.cancel_order(name, bad),
        "fill.order_id": lambda: quick_flows.fill_order(bad, "1"),
        "fill.price": lambda: quick_flows.fill_order(oid, bad),
        "expire.order_id": lambda: quick_flows.expire_order(bad),
        "match.asset": lambda: quick_flows.match_limit_orders(bad, "1"),
        "match.page_size": lambda: quick_flows.match_limit_orders("BTC", "1", page_size=bad),
        "expire_all.now": lambda: quick_flows.expire_limit_orders(bad),
        "adjust.reason": lambda: quick_flows.adjust(name, reason=bad, operator="ops", amount="1"),
        "adjust.operator": lambda: quick_flows.adjust(name, reason="fix", operator=bad, amount="1"),
    }
    numeric = {"deposit.amount", "sell.quantity", "fill.price"}
    free_text = {"deposit.description", "adjust.reason"}
    legit = (
        numeric
        if isinstance(bad, (int, Decimal))
        else free_text
        if isinstance(bad, str) and bad in ("\u0661\u0660", "\uff11\uff10")
        else set()
    )
    leaked = {}
    for what, call in calls.items():
        if what in legit:
            continue
        try:
            call()
        except CNOPValidationException:
            continue
        except Exception as exc:
            leaked[what] = f"{type(exc).__name__}: {str(exc)[:80]}"
        else:
            leaked[what] = "accepted"
    assert leaked == {}
    assert BalanceDAO(settings=data_settings).get_balance(name).balance == Decimal(50)


@pytest.mark.parametrize("bad", BAD_TEXT, ids=_ids(BAD_TEXT))
def test_hostile_arguments_to_every_dao_read_are_refused_with_a_typed_error(
    data_settings: DataSettings, bad: Any
) -> None:
    users, balances = UserDAO(settings=data_settings), BalanceDAO(settings=data_settings)
    orders, assets = OrderDAO(settings=data_settings), AssetDAO(settings=data_settings)
    holdings = AssetBalanceDAO(settings=data_settings)
    ledger = AssetTransactionDAO(settings=data_settings)
    calls: dict[str, Callable[[], Any]] = {
        "user.username": lambda: users.get_user_by_username(bad),
        "user.email": lambda: users.get_user_by_email(bad),
        "balance.username": lambda: balances.get_balance(bad),
        "balance.transaction_id": lambda: balances.get_transaction("someone_1", bad),
        "balance.cursor": lambda: balances.list_transactions("someone_1", cursor=bad),
        "balance.limit": lambda: balances.list_transactions("someone_1", limit=bad),
        "order.id": lambda: orders.get_order(bad),
        "orders.asset": lambda: orders.list_orders("someone_1", asset_id=bad),
        "order.status": lambda: orders.update_status("01J00000000000000000000000", bad),
        "asset.id": lambda: assets.get_asset(bad),
        "assets.ids": lambda: assets.get_assets([bad]),
        "assets.category": lambda: assets.list_assets_by_category(bad),
        "holding.asset": lambda: holdings.get_asset_balance("someone_1", bad),
        "ledger.asset": lambda: ledger.list_transactions("someone_1", asset_id=bad),
    }
    leaked = {}
    for what, call in calls.items():
        try:
            call()
        except CNOPValidationException:
            continue
        except Exception as exc:
            leaked[what] = f"{type(exc).__name__}: {str(exc)[:80]}"
        else:
            leaked[what] = "accepted"
    if isinstance(bad, int) and not isinstance(bad, bool):
        leaked.pop("balance.limit", None)  # 123 is a valid page size
    assert leaked == {}
