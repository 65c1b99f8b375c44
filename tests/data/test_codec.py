from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from boto3.dynamodb.types import TypeDeserializer

from cnop.data import Asset, Order, OrderCreate, User, UserCreate
from cnop.data.codec import format_timestamp, parse_timestamp
from cnop.data.layout import ASSET_MAPPER, ORDER_MAPPER, USER_MAPPER
from cnop.exceptions import CNOPDatabaseOperationException

BIG = Decimal("123456789012345678901234567890.12345678")  # 38 significant digits


def _user() -> User:
    return User.new(
        UserCreate(
            username="ada_lovelace",
            email="ada@example.com",
            first_name="Ada",
            last_name="Lovelace",
            date_of_birth=date(1990, 12, 10),
            phone="+44 20 7946 0958",
        ),
        "$2b$12$hash",
    )


def test_user_round_trip_and_keys() -> None:
    user = _user()
    item = USER_MAPPER.to_item(user)
    assert item["pk"] == {"S": "USER#ada_lovelace"}
    assert item["gsi1pk"] == {"S": "EMAIL#ada@example.com"}
    assert item["version"] == {"N": "1"}
    assert item["role"] == {"S": "customer"}
    assert item["created_at"]["S"].endswith("Z")
    assert USER_MAPPER.from_item(item) == user


def test_decimals_are_numbers_and_exact() -> None:
    asset = Asset(asset_id="BTC", name="Bitcoin", category="major", price_usd=BIG)
    item = ASSET_MAPPER.to_item(asset)
    assert item["price_usd"] == {"N": str(BIG)}
    back = ASSET_MAPPER.from_item(item)
    assert back.price_usd == BIG
    assert str(back.price_usd) == str(BIG)
    # Same meaning as boto3's own deserializer gives.
    assert TypeDeserializer().deserialize(item["price_usd"]) == BIG


def test_none_fields_are_left_out_and_inactive_assets_leave_the_sparse_index() -> None:
    asset = Asset(asset_id="OLD", name="Old", category="legacy", price_usd="0", is_active=False)
    item = ASSET_MAPPER.to_item(asset)
    assert "description" not in item
    assert "gsi1pk" not in item
    assert item["gsi2pk"] == {"S": "CATEGORY#legacy"}


def test_order_keys_sort_newest_last() -> None:
    first = Order.new(
        "ada_lovelace", OrderCreate(order_type="market_buy", asset_id="BTC", quantity="1")
    )
    second = Order.new(
        "ada_lovelace", OrderCreate(order_type="market_buy", asset_id="BTC", quantity="1")
    )
    a, b = ORDER_MAPPER.to_item(first), ORDER_MAPPER.to_item(second)
    assert a["gsi1sk"]["S"] < b["gsi1sk"]["S"]
    assert a["gsi2pk"] == {"S": "USER#ada_lovelace#ASSET#BTC"}


def test_timestamps_fixed_width_utc() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    text = format_timestamp(moment)
    assert text == "2026-01-02T03:04:05.000000Z"
    assert parse_timestamp(text) == moment


def test_malformed_items_are_a_typed_error() -> None:
    item = USER_MAPPER.to_item(_user())
    del item["email"]
    with pytest.raises(CNOPDatabaseOperationException, match=r"missing"):
        USER_MAPPER.from_item(item)
    item = USER_MAPPER.to_item(_user())
    item["version"] = {"S": "one"}
    with pytest.raises(CNOPDatabaseOperationException, match="'version' has the wrong type"):
        USER_MAPPER.from_item(item)


def test_decoded_models_behave_like_validated_ones() -> None:
    order = Order.new(
        "ada_lovelace",
        OrderCreate(order_type="limit_buy", asset_id="BTC", quantity="1", limit_price="2"),
    )
    back = ORDER_MAPPER.from_item(ORDER_MAPPER.to_item(order))
    assert back == order
    assert back.model_dump() == order.model_dump()
    assert back.model_dump_json() == order.model_dump_json()
    assert list(back.model_dump()) == list(Order.model_fields)
    assert Order.model_validate_json(back.model_dump_json()) == order
    assert hash(back) == hash(order)
    assert "price" not in back.model_fields_set  # None fields were not stored
    with pytest.raises(Exception, match="frozen"):
        back.quantity = Decimal(5)  # type: ignore[misc]
