"""Validators for values services accept: usernames, emails, names, phones, amounts, ids.

Each ``validate_*`` function returns the value as it is stored (usernames and emails
lower-case, asset ids upper-case) or raises :class:`CNOPValidationException` whose
message names the field and the rule. Nothing is stripped or rounded silently: markup
in a name, a float amount or a ninth decimal is refused, not repaired.

>>> validate_username("Alice_01")
'alice_01'
>>> validate_amount("10.50", field="amount")
Decimal('10.50')

The ``check_*`` functions hold the same rules but raise ``ValueError``; the entity
models use them so that pydantic reports every bad field at once.

A value is what it says or it is refused: every pattern must match the whole string
(``re.fullmatch``: a trailing newline is not silently allowed), usernames, emails, ids
and numbers are ASCII only (so ``"\u0430lice"`` with a Cyrillic letter, a Kelvin sign
that lower-cases to ``k``, or the digits ``"\u0661\u0660"`` and ``"\uff11\uff10"`` are
refused rather than read as something else), and surrounding whitespace is refused,
never stripped. The stored form is then the only form: the email a guard item is built
from is exactly the lower-cased address that was checked.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from cnop.data.ids import ULID_ALPHABET
from cnop.exceptions import CNOPValidationException, FieldConstraints

__all__ = [
    "MAX_DECIMAL_PLACES",
    "MAX_SIGNIFICANT_DIGITS",
    "check_amount",
    "check_asset_id",
    "check_category",
    "check_date_of_birth",
    "check_email",
    "check_entity_id",
    "check_name",
    "check_phone",
    "check_price",
    "check_quantity",
    "check_text",
    "check_timestamp",
    "check_username",
    "to_decimal",
    "validate_amount",
    "validate_asset_id",
    "validate_email",
    "validate_entity_id",
    "validate_instance",
    "validate_method",
    "validate_name",
    "validate_phone",
    "validate_price",
    "validate_quantity",
    "validate_records",
    "validate_username",
]

#: DynamoDB numbers hold at most 38 significant digits.
MAX_SIGNIFICANT_DIGITS = 38
#: Quantities, prices and amounts keep at most this many decimal places.
MAX_DECIMAL_PLACES = FieldConstraints.QUANTITY_MAX_DECIMALS

# Every pattern is applied with fullmatch; the anchors only document the intent.
_USERNAME = re.compile(FieldConstraints.USERNAME_PATTERN)
_EMAIL_LOCAL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_EMAIL_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_MARKUP = re.compile(r"[<>]|&[#a-z0-9]+;|javascript:|data:", re.IGNORECASE)
_NAME_PUNCTUATION = frozenset(" '-.")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()-]*[0-9]$")
_ASSET_ID = re.compile(r"^[A-Z0-9]{1,20}$")
_CATEGORY = re.compile(r"^[a-z0-9_-]{1,30}$")
# A plain decimal numeral in ASCII: Decimal() alone also reads other scripts' digits
# ("\u0661\u0660", fullwidth "\uff11\uff10") and underscores ("1_0") as 10.
_NUMERAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_ULID_CHARS = frozenset(ULID_ALPHABET)
_OLDEST_BIRTH_YEARS = 150
# Longer numerals cannot be stored anyway; refusing them early keeps a 1 MB string cheap.
_MAX_NUMERAL_LENGTH = 100
_NOT_FINITE = frozenset({"nan", "snan", "inf", "infinity"})


def check_username(value: Any) -> str:
    """6-30 of ``[A-Za-z0-9_]``; returned lower-case."""
    if not isinstance(value, str):
        raise ValueError("username must be a string")
    low, high = FieldConstraints.USERNAME_MIN_LENGTH, FieldConstraints.USERNAME_MAX_LENGTH
    if not low <= len(value) <= high:
        raise ValueError(f"username must be {low}-{high} characters long")
    if not _USERNAME.fullmatch(value):
        raise ValueError("username may contain only letters, digits and underscores")
    return value.lower()


def check_email(value: Any) -> str:
    """A plain ``local@domain.tld`` address; returned lower-case."""
    if not isinstance(value, str):
        raise ValueError("email must be a string")
    if len(value) > FieldConstraints.EMAIL_MAX_LENGTH:
        raise ValueError(f"email must be at most {FieldConstraints.EMAIL_MAX_LENGTH} characters")
    if not value.isascii():
        # Checked before lower-casing: some letters lower-case to ASCII ones (the Kelvin
        # sign to "k"), so a look-alike address would otherwise become another's.
        raise ValueError("email must contain only ASCII characters")
    lowered = value.lower()
    local, at, domain = lowered.rpartition("@")
    labels = domain.split(".")
    if (
        not at
        or not local
        or len(local) > 64
        or not _EMAIL_LOCAL.fullmatch(local)
        or len(labels) < 2
        or not all(_EMAIL_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise ValueError("email is not a valid address")
    return lowered


def check_name(value: Any, field: str = "name") -> str:
    """A person's name: letters with single spaces, hyphens, apostrophes or periods."""
    if not isinstance(value, str):
        raise ValueError(f"{field} must be a string")
    if _MARKUP.search(value):
        raise ValueError(f"{field} must not contain markup or script")
    if not value or value != value.strip():
        raise ValueError(f"{field} must not be empty or start or end with a space")
    if len(value) > FieldConstraints.NAME_MAX_LENGTH:
        raise ValueError(f"{field} must be at most {FieldConstraints.NAME_MAX_LENGTH} characters")
    has_letter = False
    for char in value:
        if char in _NAME_PUNCTUATION:
            continue
        category = unicodedata.category(char)
        if category.startswith("L"):
            has_letter = True
        elif not category.startswith("M"):
            raise ValueError(
                f"{field} may contain only letters, spaces, hyphens, apostrophes and periods"
            )
    if not has_letter:
        raise ValueError(f"{field} must contain a letter")
    return value


def check_text(value: Any, field: str, max_length: int) -> str:
    """Free text (descriptions): no markup or control characters, at most ``max_length``."""
    if not isinstance(value, str):
        raise ValueError(f"{field} must be a string")
    if len(value) > max_length:
        raise ValueError(f"{field} must be at most {max_length} characters")
    if _MARKUP.search(value):
        raise ValueError(f"{field} must not contain markup or script")
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in value):
        raise ValueError(f"{field} must not contain control characters")
    if any(unicodedata.category(c) == "Cs" for c in value):
        # A lone surrogate cannot be stored or sent as UTF-8 (JSON from a client allows it).
        raise ValueError(f"{field} must not contain lone surrogates")
    return value


def check_phone(value: Any) -> str:
    """7-15 digits, optionally a leading ``+`` and spaces, hyphens or parentheses."""
    if not isinstance(value, str):
        raise ValueError("phone must be a string")
    digits = sum(c.isdigit() for c in value)
    if not _PHONE.fullmatch(value) or not 7 <= digits <= 15:
        raise ValueError("phone must be 7-15 digits, optionally with +, spaces, - or ()")
    return value


def check_date_of_birth(value: Any) -> date:
    """A date in the past, at most 150 years ago (ISO ``YYYY-MM-DD`` strings accepted)."""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            raise ValueError("date_of_birth must be an ISO date (YYYY-MM-DD)") from None
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ValueError("date_of_birth must be a date")
    today = datetime.now(timezone.utc).date()
    if value >= today:
        raise ValueError("date_of_birth must be in the past")
    if today.year - value.year > _OLDEST_BIRTH_YEARS:
        raise ValueError(f"date_of_birth must be within the last {_OLDEST_BIRTH_YEARS} years")
    return value


def _parse_numeral(value: str, field: str) -> Decimal:
    if value.strip() != value:
        raise ValueError(f"{field} must be a number without surrounding spaces")
    if len(value) > _MAX_NUMERAL_LENGTH:
        raise ValueError(f"{field} must have at most {MAX_SIGNIFICANT_DIGITS} digits")
    if value.lstrip("+-").lower() in _NOT_FINITE:
        raise ValueError(f"{field} must be a finite number")
    if not _NUMERAL.fullmatch(value):
        raise ValueError(f"{field} must be a number written with ASCII digits 0-9")
    try:
        return Decimal(value)
    except InvalidOperation:  # pragma: no cover - the pattern admits only numerals
        raise ValueError(f"{field} must be a number") from None


def to_decimal(value: Any, field: str) -> Decimal:
    """``value`` (Decimal, int or numeric string) as a finite Decimal that DynamoDB can store.

    Floats are refused: they cannot represent most decimal amounts exactly.
    """
    if isinstance(value, (bool, float)):
        raise ValueError(f"{field} must be a Decimal, an int or a numeric string, not a float")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, str):
        number = _parse_numeral(value, field)
    else:
        raise ValueError(f"{field} must be a Decimal, an int or a numeric string")
    if not number.is_finite():
        raise ValueError(f"{field} must be a finite number")
    _, digits, exponent = number.as_tuple()
    exponent = int(exponent)  # finite numbers have an int exponent
    places = max(0, -exponent)
    if places > MAX_DECIMAL_PLACES:
        raise ValueError(f"{field} must have at most {MAX_DECIMAL_PLACES} decimal places")
    significant = len(digits) + max(0, exponent)
    if significant > MAX_SIGNIFICANT_DIGITS:
        raise ValueError(f"{field} must have at most {MAX_SIGNIFICANT_DIGITS} digits")
    return number


def check_quantity(value: Any, field: str = "quantity") -> Decimal:
    """A quantity: greater than zero, at most 8 decimal places."""
    number = to_decimal(value, field)
    if number <= 0:
        raise ValueError(f"{field} must be greater than zero")
    return number


def check_price(value: Any, field: str = "price") -> Decimal:
    """A price: zero or more, at most 8 decimal places."""
    number = to_decimal(value, field)
    if number < 0:
        raise ValueError(f"{field} must not be negative")
    return number


def check_amount(value: Any, field: str = "amount") -> Decimal:
    """A money amount that must be greater than zero (deposits, withdrawals, costs)."""
    return check_quantity(value, field)


def check_entity_id(value: Any, field: str = "id") -> str:
    """A ULID: 26 characters of Crockford base32 (upper-case)."""
    if not isinstance(value, str):
        raise ValueError(f"{field} must be a string")
    if len(value) != 26 or not _ULID_CHARS.issuperset(value) or value[0] > "7":
        raise ValueError(f"{field} must be a 26-character ULID")
    return value


def check_asset_id(value: Any) -> str:
    """1-20 letters or digits (a ticker such as ``BTC``); returned upper-case."""
    if not isinstance(value, str):
        raise ValueError("asset_id must be a string")
    upper = value.upper()
    if not value.isascii() or not _ASSET_ID.fullmatch(upper):
        raise ValueError("asset_id must be 1-20 letters or digits")
    return upper


def check_category(value: Any) -> str:
    """1-30 of lower-case letters, digits, ``_`` or ``-``."""
    if not isinstance(value, str) or not _CATEGORY.fullmatch(value):
        raise ValueError("category must be 1-30 lower-case letters, digits, '_' or '-'")
    return value


def check_timestamp(value: Any, field: str = "timestamp") -> datetime:
    """An aware datetime (or ISO-8601 string with an offset or ``Z``), returned in UTC."""
    if isinstance(value, str):
        text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{field} must be an ISO-8601 timestamp") from None
    if not isinstance(value, datetime):
        raise ValueError(f"{field} must be a datetime")
    offset = value.utcoffset()
    if offset is None:
        raise ValueError(f"{field} must be timezone-aware (UTC)")
    return value if value.tzinfo is timezone.utc else value.astimezone(timezone.utc)


_T = TypeVar("_T")


def _raising(check: Callable[..., _T], field: str, value: Any, *args: Any) -> _T:
    try:
        return check(value, *args)
    except ValueError as exc:
        raise CNOPValidationException.for_field(field, str(exc)) from None


def validate_username(value: Any) -> str:
    """The username as stored (lower-case), or CNOPValidationException."""
    return _raising(check_username, "username", value)


def validate_email(value: Any) -> str:
    """The email as stored (lower-case), or CNOPValidationException."""
    return _raising(check_email, "email", value)


def validate_name(value: Any, field: str = "name") -> str:
    """A first or last name, or CNOPValidationException (markup is refused, not stripped)."""
    return _raising(check_name, field, value, field)


def validate_phone(value: Any) -> str:
    """A phone number, or CNOPValidationException."""
    return _raising(check_phone, "phone", value)


def validate_amount(value: Any, field: str = "amount") -> Decimal:
    """A money amount > 0 as Decimal, or CNOPValidationException."""
    return _raising(check_amount, field, value, field)


def validate_quantity(value: Any, field: str = "quantity") -> Decimal:
    """A quantity > 0 with at most 8 decimals, or CNOPValidationException."""
    return _raising(check_quantity, field, value, field)


def validate_price(value: Any, field: str = "price") -> Decimal:
    """A price >= 0 with at most 8 decimals, or CNOPValidationException."""
    return _raising(check_price, field, value, field)


def validate_entity_id(value: Any, field: str = "id") -> str:
    """A ULID id, or CNOPValidationException."""
    return _raising(check_entity_id, field, value, field)


def validate_instance(value: Any, cls: type[_T], field: str) -> _T:
    """``value`` if it is a ``cls``, or CNOPValidationException naming ``field``."""
    if not isinstance(value, cls):
        raise CNOPValidationException.for_field(
            field, f"must be a {cls.__name__}, not {type(value).__name__}"
        )
    return value


def validate_method(value: Any, method: str, field: str) -> Any:
    """``value`` if it has a callable ``method`` (a Protocol's one method), else
    CNOPValidationException naming ``field``."""
    if not callable(getattr(value, method, None)):
        raise CNOPValidationException.for_field(
            field, f"must have a {method}() method, not be a {type(value).__name__}"
        )
    return value


def validate_records(value: Any, model: type[_T], field: str = "records") -> list[_T]:
    """``value`` as a list of ``model`` instances, or CNOPValidationException.

    A list or a tuple is accepted; anything else (None, a number, a string, a mapping, a
    generator that would be consumed before a retry could see it) is refused by name, as
    is any element of another type.
    """
    if isinstance(value, (str, bytes, bytearray)) or not isinstance(value, (list, tuple)):
        raise CNOPValidationException.for_field(
            field, f"must be a list of {model.__name__}, not {type(value).__name__}"
        )
    for index, item in enumerate(value):
        if not isinstance(item, model):
            raise CNOPValidationException.for_field(
                field, f"item {index} must be a {model.__name__}, not {type(item).__name__}"
            )
    return list(value)


def validate_asset_id(value: Any) -> str:
    """An asset id as stored (upper-case), or CNOPValidationException."""
    return _raising(check_asset_id, "asset_id", value)
