"""Typed entities and sync/async DAOs on DynamoDB for CNOP services.
"""

from cnop.data.__about__ import __version__
from cnop.data.config import DataSettings, TableNames, dynamodb_client, reset_clients
from cnop.data.enums import (
    ORDER_TRANSITIONS,
    AssetTransactionType,
    OrderStatus,
    OrderType,
    TransactionStatus,
    TransactionType,
    UserRole,
    can_transition,
    check_transition,
)
from cnop.data.ids import new_id
from cnop.data.models import (
    Asset,
    AssetBalance,
    AssetCreate,
    AssetTransaction,
    AssetUpdate,
    Balance,
    BalanceTransaction,
    Order,
    OrderCreate,
    User,
    UserCreate,
    UserUpdate,
)
from cnop.data.tables import create_tables, delete_tables, describe_tables, table_definitions

__all__ = [
    "ORDER_TRANSITIONS",
    "Asset",
    "AssetBalance",
    "AssetCreate",
    "AssetTransaction",
    "AssetTransactionType",
    "AssetUpdate",
    "Balance",
    "BalanceTransaction",
    "DataSettings",
    "Order",
    "OrderCreate",
    "OrderStatus",
    "OrderType",
    "TableNames",
    "TransactionStatus",
    "TransactionType",
    "User",
    "UserCreate",
    "UserRole",
    "UserUpdate",
    "__version__",
    "can_transition",
    "check_transition",
    "create_tables",
    "delete_tables",
    "describe_tables",
    "dynamodb_client",
    "new_id",
    "reset_clients",
    "table_definitions",
]
