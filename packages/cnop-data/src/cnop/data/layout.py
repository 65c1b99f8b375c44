"""Where each entity lives: table, key attributes, GSI attributes, and its item mapper.

Every table has string keys ``pk``/``sk`` and overloaded GSIs ``gsi1`` (``gsi1pk``/``gsi1sk``)
and ``gsi2`` (``gsi2pk``/``gsi2sk``). Ids are ULIDs, so sort keys that end in an id are
in time order and "newest first" is ``ScanIndexForward=False``. See the package README
for the full table of keys and access patterns.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from decimal import Context, Decimal

from cnop.data.codec import (
    BOOL,
    DATE,
    DECIMAL,
    INT,
    STR,
    TIMESTAMP,
    AttributeValue,
    ItemMapper,
    enum_codec,
    format_timestamp,
)
from cnop.data.enums import (
    AssetTransactionType,
    OrderStatus,
    OrderType,
    TransactionStatus,
    TransactionType,
)
from cnop.data.models import (
    Asset,
    AssetBalance,
    AssetTransaction,
    Balance,
    BalanceTransaction,
    Order,
    User,
)
from cnop.exceptions import UserRole

__all__ = [
    "ACTIVE_ASSETS",
    "ASSET_BALANCE_MAPPER",
    "ASSET_MAPPER",
    "ASSET_TRANSACTION_MAPPER",
    "BALANCE_MAPPER",
    "BALANCE_TRANSACTION_MAPPER",
    "DAILY_PREFIX",
    "EXPIRY_SHARDS",
    "ORDER_MAPPER",
    "USER_MAPPER",
    "WAITING_ORDER_ATTRIBUTES",
    "asset_balance_key",
    "asset_key",
    "asset_transaction_key",
    "balance_key",
    "balance_transaction_key",
    "category_partition",
    "email_guard_key",
    "expiry_partition",
    "key",
    "order_key",
    "pending_partition",
    "price_rank",
    "user_asset_partition",
    "user_key",
    "user_partition",
]

# Sort-key constants and prefixes.
PROFILE = "PROFILE"
BALANCE = "BALANCE"
EMAIL = "EMAIL"
ORDER = "ORDER"
ASSET = "ASSET"
BALANCE_TX_PREFIX = "BALTX#"
ASSET_BALANCE_PREFIX = "ASSETBAL#"
ASSET_TX_PREFIX = "ASSETTX#"
ORDER_PREFIX = "ORDER#"
#: Per-user, per-day counters of deposits and withdrawals (``DAILY#deposit#2026-12-01``).
DAILY_PREFIX = "DAILY#"
#: The one gsi1 partition of the inventory table that holds active assets (sparse).
ACTIVE_ASSETS = "ASSETS#ACTIVE"
#: How many gsi4 partitions the expiry index of waiting orders is spread over.
EXPIRY_SHARDS = 4
#: The GSI attributes a waiting limit order carries, removed when it stops waiting.
WAITING_ORDER_ATTRIBUTES = ("gsi3pk", "gsi3sk", "gsi4pk", "gsi4sk")
_EXACT = Context(prec=100)
_PRICE_CEILING = Decimal(10) ** 38
_PRICE_DIGITS = 39  # 10^38 - a tiny price has 38 nines, and the ceiling itself 39 digits
_PRICE_DECIMALS = 18


def key(pk: str, sk: str) -> dict[str, AttributeValue]:
    """A primary key in attribute-value form."""
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def user_partition(username: str) -> str:
    return f"USER#{username}"


def user_asset_partition(username: str, asset_id: str) -> str:
    return f"USER#{username}#ASSET#{asset_id}"


def category_partition(category: str) -> str:
    return f"CATEGORY#{category}"


# users table ----------------------------------------------------------------------


def user_key(username: str) -> dict[str, AttributeValue]:
    return key(user_partition(username), PROFILE)


def email_guard_key(email: str) -> dict[str, AttributeValue]:
    """The guard item that makes an email unique (written with the user, atomically)."""
    return key(f"EMAIL#{email}", EMAIL)


def balance_key(username: str) -> dict[str, AttributeValue]:
    return key(user_partition(username), BALANCE)


def balance_transaction_key(username: str, transaction_id: str) -> dict[str, AttributeValue]:
    return key(user_partition(username), BALANCE_TX_PREFIX + transaction_id)


# orders table ---------------------------------------------------------------------


def order_key(order_id: str) -> dict[str, AttributeValue]:
    return key(f"ORDER#{order_id}", ORDER)


def asset_balance_key(username: str, asset_id: str) -> dict[str, AttributeValue]:
    return key(user_partition(username), ASSET_BALANCE_PREFIX + asset_id)


def asset_transaction_key(username: str, transaction_id: str) -> dict[str, AttributeValue]:
    return key(user_partition(username), ASSET_TX_PREFIX + transaction_id)


# inventory table ------------------------------------------------------------------


def asset_key(asset_id: str) -> dict[str, AttributeValue]:
    return key(f"ASSET#{asset_id}", ASSET)


# mappers --------------------------------------------------------------------------


def _user_keys(user: User) -> Mapping[str, str]:
    return {
        "pk": user_partition(user.username),
        "sk": PROFILE,
        "gsi1pk": f"EMAIL#{user.email}",
        "gsi1sk": PROFILE,
    }


def pending_partition(asset_id: str, buy: bool) -> str:
    """The gsi3 partition of the waiting limit buys (or sells) of one asset."""
    return f"PENDING#{asset_id}#{'BUY' if buy else 'SELL'}"


def price_rank(price: Decimal, buy: bool) -> str:
    """A gsi3 sort key prefix that orders waiting orders best limit first.

    Buys rank by ``10^38 - limit`` (highest limit first), sells by the limit (lowest
    first); fixed-width digits, so string order is number order. Digits past the 18th
    decimal are cut: the rank never moves an order across a price it does not cross by
    more than that, and a matcher re-checks the exact limit.
    """
    # Exact: the default 28-digit context would round 10^38 - 7 to 10^38.
    value = _EXACT.subtract(_PRICE_CEILING, price) if buy else price
    whole = int(value)
    fraction = int(_EXACT.multiply(_EXACT.subtract(value, whole), Decimal(10) ** _PRICE_DECIMALS))
    return f"{whole:0{_PRICE_DIGITS}d}.{fraction:0{_PRICE_DECIMALS}d}"


def expiry_partition(shard: int) -> str:
    return f"EXPIRING#{shard}"


def _expiry_shard(order_id: str) -> int:
    return int(hashlib.sha256(order_id.encode()).hexdigest()[:8], 16) % EXPIRY_SHARDS


def _order_keys(order: Order) -> Mapping[str, str]:
    sort = ORDER_PREFIX + order.order_id
    keys = {
        "pk": f"ORDER#{order.order_id}",
        "sk": ORDER,
        "gsi1pk": user_partition(order.username),
        "gsi1sk": sort,
        "gsi2pk": user_asset_partition(order.username, order.asset_id),
        "gsi2sk": sort,
    }
    if order.status is OrderStatus.QUEUED and order.limit_price is not None:
        # Sparse indexes of waiting orders: by asset, side and limit (matching on a
        # price) and by expiry; the flow that ends the order removes them.
        buy = order.order_type.is_buy
        keys["gsi3pk"] = pending_partition(order.asset_id, buy)
        keys["gsi3sk"] = f"{price_rank(order.limit_price, buy)}#{order.order_id}"
        if order.expires_at is not None:
            keys["gsi4pk"] = expiry_partition(_expiry_shard(order.order_id))
            keys["gsi4sk"] = f"{format_timestamp(order.expires_at)}#{order.order_id}"
    return keys


def _asset_keys(asset: Asset) -> Mapping[str, str]:
    keys = {
        "pk": f"ASSET#{asset.asset_id}",
        "sk": ASSET,
        "gsi2pk": category_partition(asset.category),
        "gsi2sk": asset.asset_id,
    }
    if asset.is_active:
        keys["gsi1pk"] = ACTIVE_ASSETS
        keys["gsi1sk"] = asset.asset_id
    return keys


def _asset_transaction_keys(record: AssetTransaction) -> Mapping[str, str]:
    sort = ASSET_TX_PREFIX + record.transaction_id
    return {
        "pk": user_partition(record.username),
        "sk": sort,
        "gsi2pk": user_asset_partition(record.username, record.asset_id),
        "gsi2sk": sort,
    }


_TIMES = {"created_at": TIMESTAMP, "updated_at": TIMESTAMP}

USER_MAPPER = ItemMapper(
    User,
    {
        "username": STR,
        "email": STR,
        "first_name": STR,
        "last_name": STR,
        "phone": STR,
        "date_of_birth": DATE,
        "marketing_emails_consent": BOOL,
        "role": enum_codec(UserRole),
        "is_active": BOOL,
        "password_hash": STR,
        **_TIMES,
        "version": INT,
    },
    _user_keys,
)

BALANCE_MAPPER = ItemMapper(
    Balance,
    {"username": STR, "balance": DECIMAL, "currency": STR, **_TIMES, "version": INT},
    lambda b: {"pk": user_partition(b.username), "sk": BALANCE},
)

BALANCE_TRANSACTION_MAPPER = ItemMapper(
    BalanceTransaction,
    {
        "transaction_id": STR,
        "username": STR,
        "transaction_type": enum_codec(TransactionType),
        "amount": DECIMAL,
        "status": enum_codec(TransactionStatus),
        "description": STR,
        "reference_id": STR,
        "external_reference": STR,
        "created_at": TIMESTAMP,
    },
    lambda t: {"pk": user_partition(t.username), "sk": BALANCE_TX_PREFIX + t.transaction_id},
)

ORDER_MAPPER = ItemMapper(
    Order,
    {
        "order_id": STR,
        "username": STR,
        "order_type": enum_codec(OrderType),
        "asset_id": STR,
        "quantity": DECIMAL,
        "price": DECIMAL,
        "limit_price": DECIMAL,
        "expires_at": TIMESTAMP,
        "total_amount": DECIMAL,
        "status": enum_codec(OrderStatus),
        "status_reason": STR,
        **_TIMES,
        "version": INT,
    },
    _order_keys,
)

ASSET_MAPPER = ItemMapper(
    Asset,
    {
        "asset_id": STR,
        "name": STR,
        "description": STR,
        "category": STR,
        "price_usd": DECIMAL,
        "is_active": BOOL,
        **_TIMES,
        "version": INT,
    },
    _asset_keys,
)

ASSET_BALANCE_MAPPER = ItemMapper(
    AssetBalance,
    {"username": STR, "asset_id": STR, "quantity": DECIMAL, **_TIMES, "version": INT},
    lambda b: {"pk": user_partition(b.username), "sk": ASSET_BALANCE_PREFIX + b.asset_id},
)

ASSET_TRANSACTION_MAPPER = ItemMapper(
    AssetTransaction,
    {
        "transaction_id": STR,
        "username": STR,
        "asset_id": STR,
        "transaction_type": enum_codec(AssetTransactionType),
        "quantity": DECIMAL,
        "price_usd": DECIMAL,
        "order_id": STR,
        "created_at": TIMESTAMP,
    },
    _asset_transaction_keys,
)
