"""Asset balances (holdings) and asset transactions (the holdings ledger)."""

from __future__ import annotations

from collections.abc import Sequence

from cnop.data.config import TableNames
from cnop.data.core.batch import DEFAULT_WRITE_CONCURRENCY, batch_put
from cnop.data.core.common import get_one, put_one, require_model
from cnop.data.core.cursor import CursorCodec
from cnop.data.core.paging import Page, PartitionQuery, query_page
from cnop.data.core.steps import Operation
from cnop.data.layout import (
    ASSET_BALANCE_MAPPER,
    ASSET_BALANCE_PREFIX,
    ASSET_TRANSACTION_MAPPER,
    ASSET_TX_PREFIX,
    asset_balance_key,
    asset_transaction_key,
    user_asset_partition,
    user_partition,
)
from cnop.data.models import AssetBalance, AssetTransaction
from cnop.data.validation import (
    validate_asset_id,
    validate_entity_id,
    validate_records,
    validate_username,
)
from cnop.exceptions import CNOPAssetBalanceNotFoundException, CNOPTransactionNotFoundException

__all__ = [
    "create_asset_transaction",
    "create_asset_transactions",
    "get_asset_balance",
    "get_asset_transaction",
    "list_asset_balances",
    "list_asset_transactions",
]


def get_asset_balance(tables: TableNames, username: str, asset_id: str) -> Operation[AssetBalance]:
    name, asset = validate_username(username), validate_asset_id(asset_id)
    return (
        yield from get_one(
            tables.orders,
            asset_balance_key(name, asset),
            ASSET_BALANCE_MAPPER,
            lambda: CNOPAssetBalanceNotFoundException(f"User '{name}' holds no {asset}"),
        )
    )


def list_asset_balances(
    tables: TableNames, cursors: CursorCodec, username: str, *, limit: int, cursor: str | None
) -> Operation[Page[AssetBalance]]:
    """A user's holdings, by asset id."""
    name = validate_username(username)
    query = PartitionQuery(tables.orders, user_partition(name), ASSET_BALANCE_PREFIX)
    return (
        yield from query_page(
            query, ASSET_BALANCE_MAPPER, cursors, limit=limit, cursor=cursor, newest_first=False
        )
    )


def get_asset_transaction(
    tables: TableNames, username: str, transaction_id: str
) -> Operation[AssetTransaction]:
    name = validate_username(username)
    tx_id = validate_entity_id(transaction_id, "transaction_id")
    return (
        yield from get_one(
            tables.orders,
            asset_transaction_key(name, tx_id),
            ASSET_TRANSACTION_MAPPER,
            lambda: CNOPTransactionNotFoundException(f"Asset transaction '{tx_id}' not found"),
        )
    )


def list_asset_transactions(
    tables: TableNames,
    cursors: CursorCodec,
    username: str,
    *,
    asset_id: str | None = None,
    limit: int,
    cursor: str | None,
) -> Operation[Page[AssetTransaction]]:
    """A user's asset transactions newest first: all assets (base table) or one (gsi2)."""
    name = validate_username(username)
    if asset_id is None:
        query = PartitionQuery(tables.orders, user_partition(name), ASSET_TX_PREFIX)
    else:
        asset = validate_asset_id(asset_id)
        query = PartitionQuery(
            tables.orders, user_asset_partition(name, asset), ASSET_TX_PREFIX, "gsi2"
        )
    return (
        yield from query_page(query, ASSET_TRANSACTION_MAPPER, cursors, limit=limit, cursor=cursor)
    )


def create_asset_transaction(
    tables: TableNames, record: AssetTransaction
) -> Operation[AssetTransaction]:
    record = require_model(record, AssetTransaction, "record")
    return (
        yield from put_one(
            tables.orders,
            record,
            ASSET_TRANSACTION_MAPPER,
            f"Asset transaction '{record.transaction_id}'",
        )
    )


def create_asset_transactions(
    tables: TableNames,
    records: Sequence[AssetTransaction],
    *,
    concurrency: int = DEFAULT_WRITE_CONCURRENCY,
) -> Operation[int]:
    """Write many new asset transactions in transactions of up to 100 (see ``batch_put``).

    A chunk holding a record that already exists is refused whole with
    CNOPEntityAlreadyExistsException, whose details list what was and was not written.
    """
    checked = [
        require_model(r, AssetTransaction, "records")
        for r in validate_records(records, AssetTransaction)
    ]
    items = [ASSET_TRANSACTION_MAPPER.to_item(r) for r in checked]
    ids = [r.transaction_id for r in checked]
    return (
        yield from batch_put(
            tables.orders, items, ids, what="Asset transaction(s)", concurrency=concurrency
        )
    )
