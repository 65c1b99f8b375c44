"""Pure conversion of one item of the original layout into a cnop entity (no I/O).

Each ``convert_*`` function takes a source item in DynamoDB's low-level form
(``{"name": {"S": "..."}}``) and returns the cnop model, or raises
:class:`ConversionError` saying what is wrong. Nothing is rounded, trimmed or guessed:
a value cnop would refuse from a caller is refused here too.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, TypeVar

from cnop.data.enums import AssetTransactionType, OrderStatus, OrderType, TransactionType
from cnop.data.ids import ULID_ALPHABET
from cnop.data.migrate._report import ProblemKind
from cnop.data.models import (
    Asset,
    AssetBalance,
    AssetTransaction,
    Balance,
    BalanceTransaction,
    CNOPModel,
    Order,
    User,
)
from cnop.data.validation import to_decimal
from cnop.exceptions import CNOPEntityValidationException, UserRole

__all__ = [
    "ORIGINAL",
    "ConversionError",
    "Source",
    "convert_asset",
    "convert_asset_balance",
    "convert_asset_transaction",
    "convert_balance",
    "convert_balance_transaction",
    "convert_order",
    "convert_user",
    "derived_id",
    "exact_decimal",
    "order_target_id",
    "parse_source_time",
]

Source = Mapping[str, Mapping[str, Any]]
M = TypeVar("M", bound=CNOPModel)


class ORIGINAL:
    """Keys and markers of the original package's layout."""

    USER_SK = "USER"
    BALANCE_SK = "BALANCE"
    ORDER_SK = "ORDER"
    LOCK_SK = "LOCK"
    LEDGER_PK = "TRANS#"
    HOLDING_SK = "ASSET#"
    ASSET_LEDGER_PK = "ASSET_TRANS#"
    LOCK_PK = "USER#"


class ConversionError(ValueError):
    """A source item that cannot become a cnop entity; the message says why."""

    def __init__(self, message: str, kind: ProblemKind = ProblemKind.INVALID) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


#: USD amounts (balances, ledger amounts, order totals) are whole cents in cnop.
USD_PLACES = 2
#: Quantities and unit prices keep at most cnop's 8 decimal places.
QUANTITY_PLACES = 8

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MAX_MS = (1 << 48) - 1
# What the original wrote: PynamoDB's UTCDateTimeAttribute ("...T...+0000") and
# datetime.isoformat() ("...+00:00"); "Z" is accepted as the same instant.
_TIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:?\d{2})", re.ASCII
)
_ID_NAMESPACE = b"cnop-migrate-from-common/v1"


# --- attribute access --------------------------------------------------------------


def _attribute(item: Source, name: str) -> Mapping[str, Any] | None:
    value = item.get(name)
    if value is None or "NULL" in value:
        return None
    return value


def text(item: Source, name: str, *, required: bool = True) -> str | None:
    """A string attribute (``S``); missing is an error when ``required``."""
    value = _attribute(item, name)
    if value is None:
        if required:
            raise ConversionError(f"attribute {name!r} is missing")
        return None
    if "S" not in value:
        raise ConversionError(f"attribute {name!r} must be a string")
    found = value["S"]
    if not isinstance(found, str):
        raise ConversionError(f"attribute {name!r} must be a string")
    return found


def required_text(item: Source, name: str) -> str:
    found = text(item, name)
    assert found is not None  # noqa: S101 - text() raised otherwise
    return found


def _flag(item: Source, name: str, default: bool) -> bool:
    value = _attribute(item, name)
    if value is None:
        return default
    if "BOOL" not in value or not isinstance(value["BOOL"], bool):
        raise ConversionError(f"attribute {name!r} must be true or false")
    return bool(value["BOOL"])


def _number_text(item: Source, name: str) -> str:
    """The number of an attribute the original stored as a string (S) or a number (N)."""
    value = _attribute(item, name)
    if value is None:
        raise ConversionError(f"attribute {name!r} is missing")
    for tag in ("S", "N"):
        if tag in value and isinstance(value[tag], str):
            return str(value[tag])
    raise ConversionError(f"attribute {name!r} must be a number or a numeric string")


# --- values ------------------------------------------------------------------------


def exact_decimal(value: Any, field: str, *, places: int, negative: bool = False) -> Decimal:
    """``value`` as the exact Decimal it denotes, or ConversionError.

    A float becomes the Decimal of its shortest repr (``0.1`` is ``Decimal('0.1')``, not
    the binary fraction); a string must be a plain ASCII numeral. NaN, infinities, more
    than ``places`` decimals, more than 38 digits and (unless ``negative``) values below
    zero are refused: nothing is rounded.
    """
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConversionError(f"{field} must be a finite number")
        value = repr(value)
    try:
        number = to_decimal(value, field)
    except ValueError as exc:
        raise ConversionError(str(exc)) from None
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        raise ConversionError(
            f"{field} {number} has more than {places} decimal places (cnop does not round)"
        )
    if number < 0 and not negative:
        raise ConversionError(f"{field} {number} must not be negative")
    return number


def _money(item: Source, name: str, *, places: int, negative: bool = False) -> Decimal:
    return exact_decimal(_number_text(item, name), name, places=places, negative=negative)


def parse_source_time(value: str, field: str) -> datetime:
    """A timestamp as the original wrote it, as an aware UTC datetime."""
    match = _TIME.fullmatch(value)
    if match is None:
        raise ConversionError(f"{field} must be an ISO-8601 UTC timestamp")
    day, clock, fraction, offset = match.groups()
    offset = "+00:00" if offset == "Z" else offset[:3] + ":" + offset[-2:]
    try:
        parsed = datetime.fromisoformat(f"{day}T{clock}.{(fraction or '').ljust(6, '0')}{offset}")
    except ValueError:
        raise ConversionError(f"{field} is not a valid date and time") from None
    return parsed.astimezone(timezone.utc)


def _time(item: Source, name: str) -> datetime:
    return parse_source_time(required_text(item, name), name)


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(ULID_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def derived_id(kind: str, source_key: tuple[str, ...], at: datetime) -> str:
    """The cnop id (a ULID) of a source record: the same key always gives the same id.

    Its time part is ``at`` (the record's own creation time, so ids sort as the records
    were made); its 80 other bits are a hash of the entity kind and the source key, so
    a second run, or a run resumed after a crash, writes the same keys.
    """
    ms = (at - _EPOCH) // timedelta(milliseconds=1)
    if not 0 <= ms <= _MAX_MS:
        raise ConversionError("created_at is outside the range a ULID can hold")
    keys = (k.encode("utf-8", "surrogatepass") for k in source_key)
    parts = [_ID_NAMESPACE, kind.encode(), *keys]
    digest = hashlib.sha256(b"\0".join(parts)).digest()
    # The top bit stays clear, as in ids cnop makes itself.
    return _encode(ms, 10) + _encode(int.from_bytes(digest[:10], "big") >> 1, 16)


def _build(model: type[M], **fields: Any) -> M:
    try:
        return model(**fields)
    except CNOPEntityValidationException as exc:
        raise ConversionError(exc.message) from None


def _enum(enum: type[Any], raw: str, field: str) -> Any:
    try:
        return enum(raw)
    except ValueError:
        raise ConversionError(f"{field} {raw!r} is not one cnop knows") from None


# --- entities ----------------------------------------------------------------------


def convert_user(item: Source) -> User:
    """A user item (``Pk`` = username, ``Sk`` = ``USER``)."""
    username = required_text(item, "username")
    if required_text(item, "Pk") != username:
        raise ConversionError("Pk is not the item's username")
    role = required_text(item, "role") if _attribute(item, "role") else UserRole.CUSTOMER.value
    return _build(
        User,
        username=username,
        email=required_text(item, "email"),
        first_name=required_text(item, "first_name"),
        last_name=required_text(item, "last_name"),
        phone=text(item, "phone", required=False),
        date_of_birth=text(item, "date_of_birth", required=False),
        marketing_emails_consent=_flag(item, "marketing_emails_consent", False),
        role=_enum(UserRole, role, "role"),
        is_active=True,  # the original had no deactivation
        password_hash=required_text(item, "password_hash"),
        created_at=_time(item, "created_at"),
        updated_at=_time(item, "updated_at"),
    )


def convert_balance(item: Source) -> Balance:
    """A balance item (``Pk`` = username, ``Sk`` = ``BALANCE``, ``current_balance`` a string)."""
    username = required_text(item, "username")
    if required_text(item, "Pk") != username:
        raise ConversionError("Pk is not the item's username")
    return _build(
        Balance,
        username=username,
        balance=_money(item, "current_balance", places=USD_PLACES),
        created_at=_time(item, "created_at"),
        updated_at=_time(item, "updated_at"),
    )


def _order_reference(raw: str | None, order_ids: Mapping[str, str], field: str) -> str | None:
    if raw is None or raw == "":
        return None
    target = order_ids.get(raw)
    if target is None:
        raise ConversionError(
            f"{field} names an order that is not in the source orders table", ProblemKind.ORPHAN
        )
    return target


def convert_balance_transaction(item: Source, order_ids: Mapping[str, str]) -> BalanceTransaction:
    """A ledger record (``Pk`` = ``TRANS#<username>``, ``Sk`` = its id, ``amount`` a string)."""
    username = required_text(item, "username")
    pk, sk = required_text(item, "Pk"), required_text(item, "Sk")
    if pk != ORIGINAL.LEDGER_PK + username:
        raise ConversionError("Pk is not TRANS# and the item's username")
    status = required_text(item, "status")
    if status == "cancelled":
        raise ConversionError(
            "status 'cancelled' has no cnop equivalent (pending, completed, failed)",
            ProblemKind.UNSUPPORTED,
        )
    created = _time(item, "created_at")
    return _build(
        BalanceTransaction,
        transaction_id=derived_id("balance_transaction", (pk, sk), created),
        username=username,
        transaction_type=_enum(
            TransactionType, required_text(item, "transaction_type"), "transaction_type"
        ),
        amount=_money(item, "amount", places=USD_PLACES, negative=True),
        status=status,
        description=text(item, "description", required=False) or None,
        reference_id=_order_reference(
            text(item, "reference_id", required=False), order_ids, "reference_id"
        ),
        created_at=created,
    )


def convert_asset_balance(item: Source) -> AssetBalance:
    """A holding (``Pk`` = username, ``Sk`` = ``ASSET#<asset_id>``, ``quantity`` a string)."""
    username, asset_id = required_text(item, "username"), required_text(item, "asset_id")
    pk, sk = required_text(item, "Pk"), required_text(item, "Sk")
    if pk != username or sk != ORIGINAL.HOLDING_SK + asset_id:
        raise ConversionError("Pk/Sk are not the item's username and ASSET#asset_id")
    return _build(
        AssetBalance,
        username=username,
        asset_id=asset_id,
        quantity=_money(item, "quantity", places=QUANTITY_PLACES),
        created_at=_time(item, "created_at"),
        updated_at=_time(item, "updated_at"),
    )


def convert_asset_transaction(item: Source, order_ids: Mapping[str, str]) -> AssetTransaction:
    """An asset ledger record (``Pk`` = ``ASSET_TRANS#<username>#<asset_id>``, ``Sk`` = time).

    The original stored a positive quantity for both BUY and SELL; cnop's is signed.
    """
    username, asset_id = required_text(item, "username"), required_text(item, "asset_id")
    pk, sk = required_text(item, "Pk"), required_text(item, "Sk")
    if pk != f"{ORIGINAL.ASSET_LEDGER_PK}{username}#{asset_id}":
        raise ConversionError("Pk is not ASSET_TRANS# with the item's username and asset_id")
    status = text(item, "status", required=False) or "COMPLETED"
    if status != "COMPLETED":
        raise ConversionError(
            f"status {status!r}: cnop's asset ledger holds completed records only",
            ProblemKind.UNSUPPORTED,
        )
    raw_kind = required_text(item, "transaction_type")
    if raw_kind not in ("BUY", "SELL"):
        raise ConversionError(f"transaction_type {raw_kind!r} is not BUY or SELL")
    kind = AssetTransactionType(raw_kind.lower())
    quantity = _money(item, "quantity", places=QUANTITY_PLACES)
    if kind is AssetTransactionType.SELL:
        quantity = -quantity
    created = _time(item, "created_at")
    return _build(
        AssetTransaction,
        transaction_id=derived_id("asset_transaction", (pk, sk), created),
        username=username,
        asset_id=asset_id,
        transaction_type=kind,
        quantity=quantity,
        price_usd=_money(item, "price", places=QUANTITY_PLACES),
        order_id=_order_reference(text(item, "order_id", required=False), order_ids, "order_id"),
        created_at=created,
    )


def order_target_id(item: Source) -> str:
    """The cnop id an original order gets (from its ``Pk`` and ``created_at``)."""
    return derived_id("order", (required_text(item, "Pk"),), _time(item, "created_at"))


def convert_order(item: Source) -> Order:
    """An order (``Pk`` = order id, ``Sk`` = ``ORDER``; quantity, price, total as strings).

    Only finished orders are copied: cnop holds funds for a queued limit order, which
    the original never did, so an open order must be finished before it is moved.
    The original kept no limit price; a limit order's ``limit_price`` is its ``price``.
    """
    if required_text(item, "order_id") != required_text(item, "Pk"):
        raise ConversionError("Pk is not the item's order_id")
    order_type = _enum(OrderType, required_text(item, "order_type"), "order_type")
    status = _enum(OrderStatus, required_text(item, "status"), "status")
    if not status.is_terminal:
        raise ConversionError(
            f"the order is still {status.value}: finish or cancel it in the original first",
            ProblemKind.UNSUPPORTED,
        )
    price = _money(item, "price", places=QUANTITY_PLACES)
    return _build(
        Order,
        order_id=order_target_id(item),
        username=required_text(item, "username"),
        order_type=order_type,
        asset_id=required_text(item, "asset_id"),
        quantity=_money(item, "quantity", places=QUANTITY_PLACES),
        price=price,
        limit_price=price if order_type.is_limit else None,
        total_amount=_money(item, "total_amount", places=USD_PLACES),
        status=status,
        status_reason=text(item, "status_reason", required=False) or None,
        created_at=_time(item, "created_at"),
        updated_at=_time(item, "updated_at"),
    )


def convert_asset(item: Source) -> Asset:
    """An inventory item (``product_id`` = asset id; ``price_usd`` a number from a float)."""
    asset_id = required_text(item, "asset_id")
    if required_text(item, "product_id") != asset_id:
        raise ConversionError("product_id is not the item's asset_id")
    return _build(
        Asset,
        asset_id=asset_id,
        name=required_text(item, "name"),
        description=text(item, "description", required=False) or None,
        category=required_text(item, "category"),
        price_usd=_money(item, "price_usd", places=QUANTITY_PLACES),
        is_active=_flag(item, "is_active", True),
        created_at=_time(item, "created_at"),
        updated_at=_time(item, "updated_at"),
    )
