"""Typed entities and sync/async DAOs on DynamoDB for CNOP services.

>>> from cnop.data import UserDAO, UserCreate
>>> users = UserDAO()  # AWS_REGION, AWS_ENDPOINT_URL_DYNAMODB, USERS_TABLE... from the environment
"""

from cnop.data.__about__ import __version__
from cnop.data.aio import (
    AsyncAssetBalanceDAO,
    AsyncAssetDAO,
    AsyncAssetTransactionDAO,
    AsyncBalanceDAO,
    AsyncOrderDAO,
    AsyncUserDAO,
    open_async_client,
)
from cnop.data.cache import AsyncCachedAssetDAO, CachedAssetDAO
from cnop.data.config import DataSettings, TableNames, dynamodb_client, reset_clients
from cnop.data.core.batch import DEFAULT_WRITE_CONCURRENCY, MAX_WRITE_CONCURRENCY, Backoff
from cnop.data.core.paging import Page
from cnop.data.core.users import PasswordVerifier
from cnop.data.dao import (
    AssetBalanceDAO,
    AssetDAO,
    AssetTransactionDAO,
    BalanceDAO,
    OrderDAO,
    UserDAO,
)
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
from cnop.data.health import CheckResult, HealthReport, async_check_health, check_health
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
from cnop.data.tables import (
    create_tables,
    delete_tables,
    describe_tables,
    schema_problems,
    table_definitions,
    verify_tables,
)
from cnop.data.transactions import (
    AsyncTransactionManager,
    AsyncUserLocks,
    FlowLimits,
    FlowResult,
    FlowType,
    RetryPolicy,
    SweepResult,
    TransactionManager,
    UserLocks,
)

__all__ = [
    "DEFAULT_WRITE_CONCURRENCY",
    "MAX_WRITE_CONCURRENCY",
    "ORDER_TRANSITIONS",
    "Asset",
    "AssetBalance",
    "AssetBalanceDAO",
    "AssetCreate",
    "AssetDAO",
    "AssetTransaction",
    "AssetTransactionDAO",
    "AssetTransactionType",
    "AssetUpdate",
    "AsyncAssetBalanceDAO",
    "AsyncAssetDAO",
    "AsyncAssetTransactionDAO",
    "AsyncBalanceDAO",
    "AsyncCachedAssetDAO",
    "AsyncOrderDAO",
    "AsyncTransactionManager",
    "AsyncUserDAO",
    "AsyncUserLocks",
    "Backoff",
    "Balance",
    "BalanceDAO",
    "BalanceTransaction",
    "CachedAssetDAO",
    "CheckResult",
    "DataSettings",
    "FlowLimits",
    "FlowResult",
    "FlowType",
    "HealthReport",
    "Order",
    "OrderCreate",
    "OrderDAO",
    "OrderStatus",
    "OrderType",
    "Page",
    "PasswordVerifier",
    "RetryPolicy",
    "SweepResult",
    "TableNames",
    "TransactionManager",
    "TransactionStatus",
    "TransactionType",
    "User",
    "UserCreate",
    "UserDAO",
    "UserLocks",
    "UserRole",
    "UserUpdate",
    "__version__",
    "async_check_health",
    "can_transition",
    "check_health",
    "check_transition",
    "create_tables",
    "delete_tables",
    "describe_tables",
    "dynamodb_client",
    "new_id",
    "open_async_client",
    "reset_clients",
    "schema_problems",
    "table_definitions",
    "verify_tables",
]
