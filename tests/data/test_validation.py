from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from cnop.data import validation as v
from cnop.exceptions import CNOPValidationException


def test_username_is_lower_cased_and_checked() -> None:
    assert v.validate_username("Alice_01") == "alice_01"
    for bad, why in [
        ("short", "6-30"),
        ("x" * 31, "6-30"),
        ("alice-01", "letters, digits and underscores"),
        ("alice 01", "letters, digits and underscores"),
        (123456, "string"),
    ]:
        with pytest.raises(CNOPValidationException, match=why) as info:
            v.validate_username(bad)
        assert info.value.errors[0]["field"] == "username"


@pytest.mark.parametrize(
    "good", ["a@b.co", "First.Last+tag@Example.COM", "x_y@sub.domain.org", "o'neil@x.io"]
)
def test_valid_emails_are_lower_cased(good: str) -> None:
    assert v.validate_email(good) == good.lower()


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "plain",
        "@x.com",
        "a@",
        "a@b",
        "a..b@x.com",
        ".a@x.com",
        "a@-x.com",
        "a b@x.com",
        "a@x.123",
        "a@b@c.com",
        "<a>@x.com",
        "a@" + "x" * 250 + ".com",
    ],
)
def test_invalid_emails_are_refused(bad: str) -> None:
    with pytest.raises(CNOPValidationException, match="email"):
        v.validate_email(bad)


@pytest.mark.parametrize("good", ["Ada", "Jean-Luc", "O'Brien", "St. John", "José", "Zoë Ann"])
def test_names_keep_their_value(good: str) -> None:
    assert v.validate_name(good, "first_name") == good


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("<script>alert(1)</script>", "markup or script"),
        ("Bob<b>", "markup or script"),
        ("javascript:alert(1)", "markup or script"),
        ("&lt;b&gt;", "markup or script"),
        (" Ada", "start or end with a space"),
        ("", "empty"),
        ("R2D2", "only letters"),
        ("Ada;DROP", "only letters"),
        ("--", "must contain a letter"),
        ("A" * 51, "at most 50"),
    ],
)
def test_names_with_markup_or_junk_are_refused_not_stripped(bad: str, why: str) -> None:
    with pytest.raises(CNOPValidationException, match=why) as info:
        v.validate_name(bad, "last_name")
    assert info.value.errors == [{"field": "last_name", "message": info.value.errors[0]["message"]}]
    assert "last_name" in info.value.message


def test_phone() -> None:
    assert v.validate_phone("+1 (555) 123-4567") == "+1 (555) 123-4567"
    for bad in ["123", "+1 555 abc 4567", "1" * 16, "+-1234567", "555 1234 "]:
        with pytest.raises(CNOPValidationException, match="phone"):
            v.validate_phone(bad)


def test_amounts_are_exact_decimals() -> None:
    assert v.validate_amount("10.50") == Decimal("10.50")
    assert v.validate_amount(7) == Decimal(7)
    assert v.validate_quantity(Decimal("0.00000001")) == Decimal("0.00000001")
    assert v.validate_price("0") == 0
    big = "123456789012345678901234567890.12345678"  # 38 digits
    assert v.validate_price(big) == Decimal(big)


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (0.1, "not a float"),
        (True, "not a float"),
        ("abc", "must be a number"),
        ("NaN", "finite"),
        ("Infinity", "finite"),
        (Decimal("1.123456789"), "at most 8 decimal places"),
        ("1234567890123456789012345678901.12345678", "at most 38 digits"),
        (" 1", "must be a number"),
        (0, "greater than zero"),
        ("-1", "greater than zero"),
        (None, "Decimal, an int or a numeric string"),
    ],
)
def test_bad_quantities_are_refused(bad: object, why: str) -> None:
    with pytest.raises(CNOPValidationException, match=why):
        v.validate_quantity(bad)


def test_negative_price_refused() -> None:
    with pytest.raises(CNOPValidationException, match="must not be negative"):
        v.validate_price("-0.01")


def test_ids() -> None:
    from cnop.data import new_id

    ident = new_id()
    assert v.validate_entity_id(ident, "order_id") == ident
    for bad in ["", "x" * 26, ident.lower(), ident[:-1], "8" + ident[1:], 5]:
        with pytest.raises(CNOPValidationException, match="order_id"):
            v.validate_entity_id(bad, "order_id")


def test_asset_ids_are_upper_cased() -> None:
    assert v.validate_asset_id("btc") == "BTC"
    for bad in ["", "BT C", "B" * 21, "BTC#", "ÄBC"]:
        with pytest.raises(CNOPValidationException, match="asset_id"):
            v.validate_asset_id(bad)


def test_timestamps_must_be_aware_and_are_utc() -> None:
    local = datetime(2026, 1, 2, 5, 0, tzinfo=timezone(timedelta(hours=2)))
    assert v.check_timestamp(local) == datetime(2026, 1, 2, 3, 0, tzinfo=timezone.utc)
    assert v.check_timestamp("2026-01-02T03:00:00Z").tzinfo is timezone.utc
    with pytest.raises(ValueError, match="timezone-aware"):
        v.check_timestamp(datetime(2026, 1, 2))
    with pytest.raises(ValueError, match="ISO-8601"):
        v.check_timestamp("yesterday")


def test_date_of_birth() -> None:
    assert v.check_date_of_birth("1990-05-17") == date(1990, 5, 17)
    with pytest.raises(ValueError, match="in the past"):
        v.check_date_of_birth(datetime.now(timezone.utc).date() + timedelta(days=1))
    with pytest.raises(ValueError, match="150 years"):
        v.check_date_of_birth(date(1800, 1, 1))
