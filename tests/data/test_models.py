from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest

from cnop.data import (
    ORDER_TRANSITIONS,
    AssetTransaction,
    BalanceTransaction,
    Order,
    OrderCreate,
    OrderStatus,
    OrderType,
    User,
    UserCreate,
    UserUpdate,
    can_transition,
    check_transition,
    new_id,
)
from cnop.data.enums import allowed_previous_statuses
from cnop.data.ids import id_timestamp
from cnop.data.types import utc_now
from cnop.exceptions import CNOPEntityValidationException, CNOPInvalidStateTransitionException


def _user_create(**overrides: object) -> UserCreate:
    fields: dict[str, object] = {
        "username": "Ada_Lovelace",
        "email": "Ada@Example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
    }
    fields.update(overrides)
    return UserCreate(**fields)


def test_user_input_is_normalised_not_rewritten() -> None:
    data = _user_create()
    assert data.username == "ada_lovelace"
    assert data.email == "ada@example.com"
    assert data.first_name == "Ada"


def test_every_bad_field_is_reported_at_once_without_values() -> None:
    with pytest.raises(CNOPEntityValidationException) as info:
        _user_create(username="x", email="nope", first_name="<b>Ada</b>", role="root")
    fields = {e["field"] for e in info.value.errors}
    assert fields == {"username", "email", "first_name", "role"}
    assert info.value.details["entity"] == "UserCreate"
    assert "<b>" not in info.value.message


def test_unknown_fields_and_lax_types_are_refused() -> None:
    with pytest.raises(
        CNOPEntityValidationException, match="is_admin: Extra inputs are not permitted"
    ):
        _user_create(is_admin=True)
    with pytest.raises(CNOPEntityValidationException, match="true or false"):
        _user_create(marketing_emails_consent="yes")


def test_password_hash_never_in_repr() -> None:
    user = User.new(_user_create(), "$2b$12$secret-hash")
    assert "secret-hash" not in repr(user)
    assert user.version == 1
    assert user.created_at.tzinfo is not None


def test_user_update_needs_a_change_and_cannot_clear_required_fields() -> None:
    with pytest.raises(CNOPEntityValidationException, match="at least one field"):
        UserUpdate()
    with pytest.raises(CNOPEntityValidationException, match="email cannot be cleared"):
        UserUpdate(email=None)
    assert UserUpdate(phone=None).changes() == {"phone": None}


def test_limit_fields_only_on_limit_orders() -> None:
    limit = OrderCreate(order_type="limit_buy", asset_id="btc", quantity="1", limit_price="10")
    assert limit.asset_id == "BTC"
    with pytest.raises(CNOPEntityValidationException, match="limit_price is required"):
        OrderCreate(order_type=OrderType.LIMIT_SELL, asset_id="BTC", quantity="1")
    with pytest.raises(CNOPEntityValidationException, match="only to limit orders"):
        OrderCreate(order_type=OrderType.MARKET_BUY, asset_id="BTC", quantity="1", limit_price="5")
    with pytest.raises(CNOPEntityValidationException, match="in the future"):
        OrderCreate(
            order_type="limit_buy",
            asset_id="BTC",
            quantity="1",
            limit_price="10",
            expires_at=utc_now() - timedelta(seconds=1),
        )
    with pytest.raises(CNOPEntityValidationException, match="at most 8 decimal places"):
        OrderCreate(order_type="market_buy", asset_id="BTC", quantity="0.000000001")


def test_ledger_signs_follow_the_type() -> None:
    credit = BalanceTransaction(username="ada_lovelace", transaction_type="deposit", amount="5")
    assert credit.amount == Decimal(5)
    with pytest.raises(CNOPEntityValidationException, match="negative"):
        BalanceTransaction(username="ada_lovelace", transaction_type="withdraw", amount="5")
    with pytest.raises(CNOPEntityValidationException, match="positive"):
        AssetTransaction(
            username="ada_lovelace",
            asset_id="BTC",
            transaction_type="buy",
            quantity="-1",
            price_usd="1",
        )
    with pytest.raises(CNOPEntityValidationException, match="must not be zero"):
        BalanceTransaction(
            username="ada_lovelace", transaction_type="system_adjustment", amount="0"
        )


def test_state_machine_paths() -> None:
    limit_path = ["pending", "confirmed", "queued", "triggered", "processing", "completed"]
    for a, b in itertools.pairwise(limit_path):
        assert can_transition(OrderStatus(a), OrderStatus(b))
    assert can_transition(OrderStatus.CONFIRMED, OrderStatus.PROCESSING)  # market orders
    for terminal in ("completed", "cancelled", "failed", "expired"):
        assert OrderStatus(terminal).is_terminal
        assert not ORDER_TRANSITIONS[OrderStatus(terminal)]
    assert not can_transition(OrderStatus.COMPLETED, OrderStatus.CANCELLED)
    assert not can_transition(OrderStatus.PROCESSING, OrderStatus.CANCELLED)
    assert not can_transition(OrderStatus.PENDING, OrderStatus.COMPLETED)
    with pytest.raises(CNOPInvalidStateTransitionException, match="from completed to pending"):
        check_transition(OrderStatus.COMPLETED, OrderStatus.PENDING)
    assert allowed_previous_statuses(OrderStatus.PENDING) == frozenset()
    assert allowed_previous_statuses(OrderStatus.TRIGGERED) == {OrderStatus.QUEUED}


def test_ids_sort_by_time_even_within_a_millisecond() -> None:
    ids = [new_id() for _ in range(2000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert abs((id_timestamp(ids[0]) - utc_now()).total_seconds()) < 5


def test_order_new_is_pending_version_one() -> None:
    order = Order.new(
        "ada_lovelace", OrderCreate(order_type="market_buy", asset_id="ETH", quantity="2")
    )
    assert order.status is OrderStatus.PENDING
    assert order.version == 1
    assert order.limit_price is None
