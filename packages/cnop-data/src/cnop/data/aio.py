"""Asynchronous DAOs over an open aiobotocore client; the same core as the sync DAOs.

Needs the ``async`` extra (``pip install 'cnop-data[async]'``)::

    async with open_async_client() as client:
        users = AsyncUserDAO(client)
        user = await users.get_user_by_username("alice_01")
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

from cnop.data.config import DataSettings
from cnop.data.core import assets as asset_ops
from cnop.data.core import balances as balance_ops
from cnop.data.core import holdings as holding_ops
from cnop.data.core import orders as order_ops
from cnop.data.core import users as user_ops
from cnop.data.core.batch import DEFAULT_WRITE_CONCURRENCY
from cnop.data.core.cursor import CursorCodec
from cnop.data.core.paging import DEFAULT_PAGE_SIZE, Page
from cnop.data.core.users import PasswordVerifier
from cnop.data.enums import OrderStatus
from cnop.data.executors import AsyncExecutor
from cnop.data.models import (
    Asset,
    AssetBalance,
    AssetCreate,
    AssetTransaction,
    AssetUpdate,
    Balance,
    BalanceTransaction,
    Order,
    User,
    UserCreate,
    UserUpdate,
)
from cnop.data.validation import validate_instance, validate_method
from cnop.exceptions import CNOPConfigurationException

__all__ = [
    "AsyncAssetBalanceDAO",
    "AsyncAssetDAO",
    "AsyncAssetTransactionDAO",
    "AsyncBalanceDAO",
    "AsyncDAO",
    "AsyncOrderDAO",
    "AsyncUserDAO",
    "open_async_client",
]


@asynccontextmanager
async def open_async_client(settings: DataSettings | None = None) -> AsyncIterator[Any]:
    """An open aiobotocore DynamoDB client configured like the sync one (same ``Config``)."""
    try:
        import aioboto3  # noqa: PLC0415 - the optional extra loads only when used
    except ImportError:
        raise CNOPConfigurationException(
            "The async DAOs need the 'async' extra: pip install 'cnop-data[async]'"
        ) from None
    settings = settings or DataSettings.from_env()
    session = aioboto3.Session()
    async with session.client("dynamodb", **settings.client_kwargs()) as client:
        yield client


class AsyncDAO:
    """Shared set-up: an open aiobotocore DynamoDB client and settings.

    Open the client once per process (e.g. in the web app's lifespan) with
    :func:`open_async_client` and pass it to every async DAO.
    """

    def __init__(self, client: Any, *, settings: DataSettings | None = None) -> None:
        self.settings = (
            DataSettings.from_env()
            if settings is None
            else validate_instance(settings, DataSettings, "settings")
        )
        self.tables = self.settings.tables
        self.executor = AsyncExecutor(client)
        self._cursors = CursorCodec(
            self.settings.cursor_secret, self.settings.previous_cursor_secrets
        )


class AsyncUserDAO(AsyncDAO):
    """Users. A new user gets a unique email guard and a zero USD balance atomically."""

    async def create_user(self, user: UserCreate, password_hash: str) -> User:
        """Create; CNOPEntityAlreadyExistsException if the username or email is taken."""
        return await self.executor.run(user_ops.create_user(self.tables, user, password_hash))

    async def get_user_by_username(self, username: str) -> User:
        """The user, or CNOPUserNotFoundException."""
        return await self.executor.run(user_ops.get_user_by_username(self.tables, username))

    async def get_user_by_email(self, email: str) -> User:
        """The user, or CNOPUserNotFoundException."""
        return await self.executor.run(user_ops.get_user_by_email(self.tables, email))

    async def update_user(self, username: str, changes: UserUpdate, expected_version: int) -> User:
        """Apply changes at ``expected_version``; a stale one is CNOPVersionConflictException."""
        return await self.executor.run(
            user_ops.update_user(self.tables, username, changes, expected_version)
        )

    async def set_password_hash(
        self, username: str, password_hash: str, expected_version: int
    ) -> User:
        """Store a new password hash (a password change, or the rehash a login returned).

        Conditional on ``expected_version`` (the ``version`` of the user the old hash was
        read from): CNOPVersionConflictException if the user changed since,
        CNOPUserNotFoundException if it does not exist, CNOPValidationException for a hash
        that is not 1-1024 printable ASCII characters without whitespace (never echoed).
        Returns the user at its new version.
        """
        return await self.executor.run(
            user_ops.set_password_hash(self.tables, username, password_hash, expected_version)
        )

    async def authenticate_user(
        self, username: str, password: str, verifier: PasswordVerifier
    ) -> User:
        """The user if the password matches; CNOPInvalidCredentialsException otherwise
        (the same error for an unknown user, an inactive one and a wrong password)."""
        validate_method(verifier, "verify_password", "verifier")
        user = await self.executor.run(user_ops.find_user_for_login(self.tables, username))
        # Hash checks are CPU-bound (bcrypt ~0.2 s): keep them off the event loop.
        return await asyncio.to_thread(user_ops.check_credentials, user, password, verifier)


class AsyncBalanceDAO(AsyncDAO):
    """USD balances and the balance ledger (changes are made by atomic transactions)."""

    async def get_balance(self, username: str) -> Balance:
        return await self.executor.run(balance_ops.get_balance(self.tables, username))

    async def get_transaction(self, username: str, transaction_id: str) -> BalanceTransaction:
        return await self.executor.run(
            balance_ops.get_balance_transaction(self.tables, username, transaction_id)
        )

    async def list_transactions(
        self, username: str, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[BalanceTransaction]:
        """Newest first; pass ``page.next_cursor`` back for the next page."""
        return await self.executor.run(
            balance_ops.list_balance_transactions(
                self.tables, self._cursors, username, limit=limit, cursor=cursor
            )
        )

    async def create_transaction(self, record: BalanceTransaction) -> BalanceTransaction:
        return await self.executor.run(balance_ops.create_balance_transaction(self.tables, record))

    async def create_transactions(
        self,
        records: Sequence[BalanceTransaction],
        *,
        concurrency: int = DEFAULT_WRITE_CONCURRENCY,
    ) -> int:
        """Write new records, 100 per transaction, ``concurrency`` transactions in flight
        (1 to 32, default 4); returns how many were written.

        An existing record id is CNOPEntityAlreadyExistsException (naming it in
        ``details["ids"]``): its chunk of 100 writes nothing, no further chunk is started,
        and ``details["written"]`` / ``details["not_written"]`` list every other record
        exactly. A lost reply is resent with the same request token (written once).
        """
        return await self.executor.run(
            balance_ops.create_balance_transactions(self.tables, records, concurrency=concurrency)
        )


class AsyncOrderDAO(AsyncDAO):
    """Orders; status changes follow the state machine, enforced by the database."""

    async def create_order(self, order: Order) -> Order:
        return await self.executor.run(order_ops.create_order(self.tables, order))

    async def get_order(self, order_id: str) -> Order:
        return await self.executor.run(order_ops.get_order(self.tables, order_id))

    async def list_orders(
        self,
        username: str,
        *,
        asset_id: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[Order]:
        """Newest first, optionally of one asset."""
        return await self.executor.run(
            order_ops.list_orders(
                self.tables, self._cursors, username, asset_id=asset_id, limit=limit, cursor=cursor
            )
        )

    async def update_status(
        self,
        order_id: str,
        status: OrderStatus | str,
        *,
        expected_version: int | None = None,
        reason: str | None = None,
        price: Decimal | None = None,
        total_amount: Decimal | None = None,
    ) -> Order:
        """Move to ``status``; CNOPInvalidStateTransitionException if not allowed from now."""
        return await self.executor.run(
            order_ops.update_order_status(
                self.tables,
                order_id,
                status,
                expected_version=expected_version,
                reason=reason,
                price=price,
                total_amount=total_amount,
            )
        )


class AsyncAssetDAO(AsyncDAO):
    """Tradable assets."""

    async def create_asset(self, asset: AssetCreate) -> Asset:
        return await self.executor.run(asset_ops.create_asset(self.tables, asset))

    async def get_asset(self, asset_id: str) -> Asset:
        return await self.executor.run(asset_ops.get_asset(self.tables, asset_id))

    async def update_asset(
        self, asset_id: str, changes: AssetUpdate, expected_version: int
    ) -> Asset:
        return await self.executor.run(
            asset_ops.update_asset(self.tables, asset_id, changes, expected_version)
        )

    async def get_assets(self, asset_ids: Sequence[str]) -> list[Asset | None]:
        """Many by id (BatchGetItem, 100 per call), in the caller's order; None if missing."""
        return await self.executor.run(asset_ops.get_assets(self.tables, asset_ids))

    async def list_assets(
        self, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[Asset]:
        """Every asset, inactive ones too (an admin view); pass ``next_cursor`` back for more.

        In no useful order (a Scan of the inventory table, which holds only assets).
        """
        return await self.executor.run(
            asset_ops.list_assets(self.tables, self._cursors, limit=limit, cursor=cursor)
        )

    async def list_active_assets(
        self, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[Asset]:
        return await self.executor.run(
            asset_ops.list_active_assets(self.tables, self._cursors, limit=limit, cursor=cursor)
        )

    async def list_assets_by_category(
        self, category: str, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[Asset]:
        return await self.executor.run(
            asset_ops.list_assets_by_category(
                self.tables, self._cursors, category, limit=limit, cursor=cursor
            )
        )


class AsyncAssetBalanceDAO(AsyncDAO):
    """Holdings (changed only by atomic transactions)."""

    async def get_asset_balance(self, username: str, asset_id: str) -> AssetBalance:
        return await self.executor.run(
            holding_ops.get_asset_balance(self.tables, username, asset_id)
        )

    async def list_asset_balances(
        self, username: str, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[AssetBalance]:
        return await self.executor.run(
            holding_ops.list_asset_balances(
                self.tables, self._cursors, username, limit=limit, cursor=cursor
            )
        )


class AsyncAssetTransactionDAO(AsyncDAO):
    """The holdings ledger."""

    async def create_transaction(self, record: AssetTransaction) -> AssetTransaction:
        return await self.executor.run(holding_ops.create_asset_transaction(self.tables, record))

    async def create_transactions(
        self,
        records: Sequence[AssetTransaction],
        *,
        concurrency: int = DEFAULT_WRITE_CONCURRENCY,
    ) -> int:
        """Write new records, 100 per transaction, ``concurrency`` transactions in flight
        (1 to 32, default 4); returns how many were written.

        An existing record id is CNOPEntityAlreadyExistsException (naming it in
        ``details["ids"]``): its chunk of 100 writes nothing, no further chunk is started,
        and ``details["written"]`` / ``details["not_written"]`` list every other record
        exactly. A lost reply is resent with the same request token (written once).
        """
        return await self.executor.run(
            holding_ops.create_asset_transactions(self.tables, records, concurrency=concurrency)
        )

    async def get_transaction(self, username: str, transaction_id: str) -> AssetTransaction:
        return await self.executor.run(
            holding_ops.get_asset_transaction(self.tables, username, transaction_id)
        )

    async def list_transactions(
        self,
        username: str,
        *,
        asset_id: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[AssetTransaction]:
        """Newest first: all of a user's assets, or one."""
        return await self.executor.run(
            holding_ops.list_asset_transactions(
                self.tables, self._cursors, username, asset_id=asset_id, limit=limit, cursor=cursor
            )
        )
