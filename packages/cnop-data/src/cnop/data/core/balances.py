"""USD balances and their ledger (balance transactions)."""

from __future__ import annotations

from collections.abc import Sequence

from cnop.data.config import TableNames
from cnop.data.core.batch import DEFAULT_WRITE_CONCURRENCY, batch_put
from cnop.data.core.common import get_one, put_one, require_model
from cnop.data.core.cursor import CursorCodec
from cnop.data.core.paging import Page, PartitionQuery, query_page
from cnop.data.core.steps import Operation
from cnop.data.layout import (
    BALANCE_MAPPER,
    BALANCE_TRANSACTION_MAPPER,
    BALANCE_TX_PREFIX,
    balance_key,
    balance_transaction_key,
    user_partition,
)
from cnop.data.models import Balance, BalanceTransaction
from cnop.data.validation import validate_entity_id, validate_records, validate_username
from cnop.exceptions import CNOPBalanceNotFoundException, CNOPTransactionNotFoundException

__all__ = [
    "create_balance_transaction",
    "create_balance_transactions",
    "get_balance",
    "get_balance_transaction",
    "list_balance_transactions",
]


def get_balance(tables: TableNames, username: str) -> Operation[Balance]:
    name = validate_username(username)
    return (
        yield from get_one(
            tables.users,
            balance_key(name),
            BALANCE_MAPPER,
            lambda: CNOPBalanceNotFoundException(f"No balance for user '{name}'"),
        )
    )


def get_balance_transaction(
    tables: TableNames, username: str, transaction_id: str
) -> Operation[BalanceTransaction]:
    name = validate_username(username)
    tx_id = validate_entity_id(transaction_id, "transaction_id")
    return (
        yield from get_one(
            tables.users,
            balance_transaction_key(name, tx_id),
            BALANCE_TRANSACTION_MAPPER,
            lambda: CNOPTransactionNotFoundException(f"Transaction '{tx_id}' not found"),
        )
    )


def list_balance_transactions(
    tables: TableNames, cursors: CursorCodec, username: str, *, limit: int, cursor: str | None
) -> Operation[Page[BalanceTransaction]]:
    """A user's balance transactions, newest first."""
    name = validate_username(username)
    query = PartitionQuery(tables.users, user_partition(name), BALANCE_TX_PREFIX)
    return (
        yield from query_page(
            query, BALANCE_TRANSACTION_MAPPER, cursors, limit=limit, cursor=cursor
        )
    )


def create_balance_transaction(
    tables: TableNames, record: BalanceTransaction
) -> Operation[BalanceTransaction]:
    """Write one new ledger record (never overwriting one with the same id)."""
    record = require_model(record, BalanceTransaction, "record")
    return (
        yield from put_one(
            tables.users,
            record,
            BALANCE_TRANSACTION_MAPPER,
            f"Transaction '{record.transaction_id}'",
        )
    )


def create_balance_transactions(
    tables: TableNames,
    records: Sequence[BalanceTransaction],
    *,
    concurrency: int = DEFAULT_WRITE_CONCURRENCY,
) -> Operation[int]:
    """Write many new ledger records in transactions of up to 100 (see ``batch_put``).

    A chunk holding a record that already exists is refused whole with
    CNOPEntityAlreadyExistsException, whose details list what was and was not written.
    """
    checked = [
        require_model(r, BalanceTransaction, "records")
        for r in validate_records(records, BalanceTransaction)
    ]
    items = [BALANCE_TRANSACTION_MAPPER.to_item(r) for r in checked]
    ids = [r.transaction_id for r in checked]
    return (
        yield from batch_put(
            tables.users, items, ids, what="Balance transaction(s)", concurrency=concurrency
        )
    )
