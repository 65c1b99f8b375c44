"""Where each entity lives: table, key attributes, GSI attributes, and its item mapper.

Every table has string keys ``pk``/``sk`` and overloaded GSIs ``gsi1`` (``gsi1pk``/``gsi1sk``)
and ``gsi2`` (``gsi2pk``/``gsi2sk``). Ids are ULIDs, so sort keys that end in an id are
in time order and "newest first" is ``ScanIndexForward=False``. See the package README
for the full table of keys and access patterns.
"""

from __future__ import annotations

from collections.abc import Mapping

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
    "ORDER_MAPPER",
    "USER_MAPPER",
    "asset_balance_key",
    "asset_key",
    "asset_transaction_key",
    "balance_key",
    "balance_transaction_key",
    "category_partition",
    "email_guard_key",
    "key",
    "order_key",
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
#: The one gsi1 partition of the inventory table that holds active assets (sparse).
ACTIVE_ASSETS = "ASSETS#ACTIVE"


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


def _order_keys(order: Order) -> Mapping[str, str]:
    sort = ORDER_PREFIX + order.order_id
    return {
        "pk": f"ORDER#{order.order_id}",
        "sk": ORDER,
        "gsi1pk": user_partition(order.username),
        "gsi1sk": sort,
        "gsi2pk": user_asset_partition(order.username, order.asset_id),
        "gsi2sk": sort,
    }


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
