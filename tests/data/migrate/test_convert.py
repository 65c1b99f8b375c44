"""Conversion of single items of the original layout: exact money, times, ids, hostile input."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from cnop.data.migrate import ConversionError, ProblemKind, derived_id, exact_decimal
from cnop.data.migrate._convert import (
    convert_asset,
    convert_asset_transaction,
    convert_balance,
    convert_order,
    convert_user,
    parse_source_time,
)
from cnop.data.validation import check_entity_id

from .original import BASE, stamp


@pytest.mark.parametrize(
    ("value", "places", "expected"),
    [
        (0.1, 8, Decimal("0.1")),  # the shortest repr, not the binary fraction
        (45000.5, 2, Decimal("45000.5")),
        (1e-05, 8, Decimal("0.00001")),
        ("629.49", 2, Decimal("629.49")),
        ("0.00", 2, Decimal("0.00")),
        ("-100.50", 2, Decimal("-100.50")),
    ],
)
def test_exact_decimal_keeps_the_value_denoted(value: Any, places: int, expected: Decimal) -> None:
    result = exact_decimal(value, "amount", places=places, negative=True)
    assert result == expected
    assert str(result) == str(expected)


@pytest.mark.parametrize(
    ("value", "places", "reason"),
    [
        (float("nan"), 8, "finite"),
        (float("inf"), 8, "finite"),
        ("NaN", 8, "finite"),
        ("Infinity", 8, "finite"),
        ("-inf", 8, "finite"),
        ("10.005", 2, "more than 2 decimal places"),
        (0.30000000000000004, 8, "8 decimal places"),
        ("\u0661\u0660", 2, "ASCII"),
        ("\uff11\uff10", 2, "ASCII"),
        (" 10", 2, "spaces"),
        ("10\n", 2, "spaces"),
        ("1" * 39, 2, "38 digits"),
        ("", 2, "number"),
    ],
)
def test_exact_decimal_refuses_what_it_cannot_keep(value: Any, places: int, reason: str) -> None:
    with pytest.raises(ConversionError, match=reason):
        exact_decimal(value, "amount", places=places, negative=True)


def test_exact_decimal_refuses_a_negative_balance() -> None:
    with pytest.raises(ConversionError, match="must not be negative"):
        exact_decimal("-0.01", "current_balance", places=2)


@pytest.mark.parametrize(
    "text",
    ["2025-03-01T12:00:00.000000+0000", "2025-03-01T12:00:00+00:00", "2025-03-01T12:00:00Z"],
)
def test_times_in_each_form_the_original_wrote(text: str) -> None:
    assert parse_source_time(text, "created_at") == BASE


@pytest.mark.parametrize(
    "text", ["2025-03-01T12:00:00", "2025-03-01 12:00:00+0000", "2025-02-30T12:00:00Z", "yesterday"]
)
def test_times_without_a_zone_or_malformed_are_refused(text: str) -> None:
    with pytest.raises(ConversionError):
        parse_source_time(text, "created_at")


def test_derived_ids_are_stable_ulids_in_time_order() -> None:
    first = derived_id("order", ("order_1",), BASE)
    assert first == derived_id("order", ("order_1",), BASE)
    assert first != derived_id("order", ("order_2",), BASE)
    assert first != derived_id("balance_transaction", ("order_1",), BASE)
    later = derived_id("order", ("order_0",), BASE.replace(second=1))
    assert later > first
    for value in (first, later):
        assert check_entity_id(value) == value
    with pytest.raises(ConversionError):
        derived_id("order", ("x",), datetime(1960, 1, 1, tzinfo=timezone.utc))


def _user(**overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "Pk": {"S": "alice_01"},
        "Sk": {"S": "USER"},
        "username": {"S": "alice_01"},
        "email": {"S": "alice@example.com"},
        "password_hash": {"S": "$2b$12$abc"},
        "first_name": {"S": "Ada"},
        "last_name": {"S": "Lovelace"},
        "role": {"S": "customer"},
        "created_at": {"S": stamp(BASE)},
        "updated_at": {"S": stamp(BASE)},
    }
    item.update(overrides)
    return item


def test_a_user_converts_with_its_hash_and_times() -> None:
    user = convert_user(_user(date_of_birth={"S": "1990-05-01"}))
    assert user.username == "alice_01"
    assert user.password_hash == "$2b$12$abc"
    assert user.created_at == BASE
    assert user.is_active


@pytest.mark.parametrize(
    "overrides",
    [
        {"Pk": {"S": "alice_01\n"}, "username": {"S": "alice_01\n"}},
        {"Pk": {"S": "alice\x0001"}, "username": {"S": "alice\x0001"}},
        {"Pk": {"S": "ali"}, "username": {"S": "ali"}},
        {"username": {"S": "mallory_1"}},  # Pk says someone else
        {"email": {"S": "alice@example.com\n"}},
        {"first_name": {"S": "Ada\x00"}},
        {"first_name": {"S": "<script>"}},
        {"role": {"S": "root"}},
        {"password_hash": {"N": "1"}},
        {"created_at": {"S": "2025-03-01T12:00:00"}},
    ],
)
def test_hostile_or_malformed_users_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ConversionError):
        convert_user(_user(**overrides))


def test_a_balance_with_a_third_decimal_is_refused_not_rounded() -> None:
    item = {
        "Pk": {"S": "alice_01"},
        "Sk": {"S": "BALANCE"},
        "username": {"S": "alice_01"},
        "current_balance": {"S": "10.005"},
        "created_at": {"S": stamp(BASE)},
        "updated_at": {"S": stamp(BASE)},
    }
    with pytest.raises(ConversionError, match=r"10\.005 has more than 2 decimal places"):
        convert_balance(item)


def _asset_tx(kind: str, status: str = "COMPLETED") -> dict[str, Any]:
    return {
        "Pk": {"S": "ASSET_TRANS#alice_01#BTC"},
        "Sk": {"S": BASE.isoformat()},
        "username": {"S": "alice_01"},
        "asset_id": {"S": "BTC"},
        "transaction_type": {"S": kind},
        "quantity": {"S": "0.5"},
        "price": {"S": "45000"},
        "order_id": {"S": "ord_1"},
        "status": {"S": status},
        "created_at": {"S": stamp(BASE)},
    }


def test_a_sell_becomes_a_negative_quantity_and_its_order_is_mapped() -> None:
    order_ids = {"ord_1": derived_id("order", ("ord_1",), BASE)}
    sell = convert_asset_transaction(_asset_tx("SELL"), order_ids)
    buy = convert_asset_transaction(_asset_tx("BUY"), order_ids)
    assert sell.quantity == Decimal("-0.5")
    assert buy.quantity == Decimal("0.5")
    assert sell.order_id == order_ids["ord_1"]
    with pytest.raises(ConversionError) as missing:
        convert_asset_transaction(_asset_tx("BUY"), {})
    assert missing.value.kind is ProblemKind.ORPHAN
    with pytest.raises(ConversionError) as pending:
        convert_asset_transaction(_asset_tx("BUY", "PENDING"), order_ids)
    assert pending.value.kind is ProblemKind.UNSUPPORTED


def _order(status: str, order_type: str = "limit_buy") -> dict[str, Any]:
    return {
        "Pk": {"S": "ord_1"},
        "Sk": {"S": "ORDER"},
        "order_id": {"S": "ord_1"},
        "username": {"S": "alice_01"},
        "order_type": {"S": order_type},
        "status": {"S": status},
        "asset_id": {"S": "BTC"},
        "quantity": {"S": "0.5"},
        "price": {"S": "45000"},
        "total_amount": {"S": "22500.00"},
        "created_at": {"S": stamp(BASE)},
        "updated_at": {"S": stamp(BASE)},
    }


def test_a_finished_limit_order_keeps_its_price_as_limit_price() -> None:
    order = convert_order(_order("completed"))
    assert order.limit_price == order.price == Decimal("45000")
    assert order.order_id == derived_id("order", ("ord_1",), BASE)


@pytest.mark.parametrize("status", ["pending", "confirmed", "queued", "processing"])
def test_an_open_order_is_not_moved(status: str) -> None:
    with pytest.raises(ConversionError, match="finish or cancel") as refused:
        convert_order(_order(status))
    assert refused.value.kind is ProblemKind.UNSUPPORTED


def test_an_inventory_float_price_is_read_exactly() -> None:
    item = {
        "product_id": {"S": "DOGE"},
        "asset_id": {"S": "DOGE"},
        "name": {"S": "Dogecoin"},
        "category": {"S": "altcoin"},
        "price_usd": {"N": "0.0712"},
        "is_active": {"BOOL": True},
        "created_at": {"S": stamp(BASE)},
        "updated_at": {"S": stamp(BASE)},
    }
    assert convert_asset(item).price_usd == Decimal("0.0712")
    with pytest.raises(ConversionError, match="8 decimal places"):
        convert_asset({**item, "price_usd": {"N": "0.30000000000000004"}})
