"""Synchronous DAOs over a boto3 client. Each method runs one core operation.

>>> users = UserDAO()                       # settings and client from the environment
>>> user = users.create_user(UserCreate(...), password_hash=hashed)
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from cnop.data.config import DataSettings, dynamodb_client
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
from cnop.data.executors import SyncExecutor
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

__all__ = [
    "AssetBalanceDAO",
    "AssetDAO",
    "AssetTransactionDAO",
    "BalanceDAO",
    "OrderDAO",
    "SyncDAO",
    "UserDAO",
]


class SyncDAO:
    """Shared set-up: settings (default: the environment) and the process-wide client."""

    def __init__(self, *, settings: DataSettings | None = None, client: Any = None) -> None:
        self.settings = (
            DataSettings.from_env()
            if settings is None
            else validate_instance(settings, DataSettings, "settings")
        )
        self.tables = self.settings.tables
        self.executor = SyncExecutor(
            client if client is not None else dynamodb_client(self.settings)
        )
        self._cursors = CursorCodec(
            self.settings.cursor_secret, self.settings.previous_cursor_secrets
        )


class UserDAO(SyncDAO):
    """Users. A new user gets a unique email guard and a zero USD balance atomically."""

    def create_user(self, user: UserCreate, password_hash: str) -> User:
        """Create; CNOPEntityAlreadyExistsException if the username or email is taken."""
        return self.executor.run(user_ops.create_user(self.tables, user, password_hash))

    def get_user_by_username(self, username: str) -> User:
        """The user, or CNOPUserNotFoundException."""
        return self.executor.run(user_ops.get_user_by_username(self.tables, username))

    def get_user_by_email(self, email: str) -> User:
        """The user, or CNOPUserNotFoundException."""
        return self.executor.run(user_ops.get_user_by_email(self.tables, email))

    def update_user(self, username: str, changes: UserUpdate, expected_version: int) -> User:
        """Apply changes at ``expected_version``; a stale one is CNOPVersionConflictException."""
        return self.executor.run(
            user_ops.update_user(self.tables, username, changes, expected_version)
        )

    def set_password_hash(self, username: str, password_hash: str, expected_version: int) -> User:
        """Store a new password hash (a password change, or the rehash a login returned).

        Conditional on ``expected_version`` (the ``version`` of the user the old hash was
        read from): CNOPVersionConflictException if the user changed since,
        CNOPUserNotFoundException if it does not exist, CNOPValidationException for a hash
        that is not 1-1024 printable ASCII characters without whitespace (never echoed).
        Returns the user at its new version.
        """
        return self.executor.run(
            user_ops.set_password_hash(self.tables, username, password_hash, expected_version)
        )

    def authenticate_user(self, username: str, password: str, verifier: PasswordVerifier) -> User:
        """The user if the password matches; CNOPInvalidCredentialsException otherwise
        (the same error for an unknown user, an inactive one and a wrong password)."""
        validate_method(verifier, "verify_password", "verifier")
        user = self.executor.run(user_ops.find_user_for_login(self.tables, username))
        return user_ops.check_credentials(user, password, verifier)


class BalanceDAO(SyncDAO):
    """USD balances and the balance ledger (changes are made by atomic transactions)."""

    def get_balance(self, username: str) -> Balance:
        return self.executor.run(balance_ops.get_balance(self.tables, username))

    def get_transaction(self, username: str, transaction_id: str) -> BalanceTransaction:
        return self.executor.run(
            balance_ops.get_balance_transaction(self.tables, username, transaction_id)
        )

    def list_transactions(
        self, username: str, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[BalanceTransaction]:
        """Newest first; pass ``page.next_cursor`` back for the next page."""
        return self.executor.run(
            balance_ops.list_balance_transactions(
                self.tables, self._cursors, username, limit=limit, cursor=cursor
            )
        )

    def create_transaction(self, record: BalanceTransaction) -> BalanceTransaction:
        return self.executor.run(balance_ops.create_balance_transaction(self.tables, record))

    def create_transactions(
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
        return self.executor.run(
            balance_ops.create_balance_transactions(self.tables, records, concurrency=concurrency)
        )


class OrderDAO(SyncDAO):
    """Orders; status changes follow the state machine, enforced by the database."""

    def create_order(self, order: Order) -> Order:
        return self.executor.run(order_ops.create_order(self.tables, order))

    def get_order(self, order_id: str) -> Order:
        return self.executor.run(order_ops.get_order(self.tables, order_id))

    def list_orders(
        self,
        username: str,
        *,
        asset_id: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[Order]:
        """Newest first, optionally of one asset."""
        return self.executor.run(
            order_ops.list_orders(
                self.tables, self._cursors, username, asset_id=asset_id, limit=limit, cursor=cursor
            )
        )

    def update_status(
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
        return self.executor.run(
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


class AssetDAO(SyncDAO):
    """Tradable assets."""

    def create_asset(self, asset: AssetCreate) -> Asset:
        return self.executor.run(asset_ops.create_asset(self.tables, asset))

    def get_asset(self, asset_id: str) -> Asset:
        return self.executor.run(asset_ops.get_asset(self.tables, asset_id))

    def update_asset(self, asset_id: str, changes: AssetUpdate, expected_version: int) -> Asset:
        return self.executor.run(
            asset_ops.update_asset(self.tables, asset_id, changes, expected_version)
        )

    def get_assets(self, asset_ids: Sequence[str]) -> list[Asset | None]:
        """Many by id (BatchGetItem, 100 per call), in the caller's order; None if missing."""
        return self.executor.run(asset_ops.get_assets(self.tables, asset_ids))

    def list_assets(
        self, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[Asset]:
        """Every asset, inactive ones too (an admin view); pass ``next_cursor`` back for more.

        In no useful order (a Scan of the inventory table, which holds only assets).
        """
        return self.executor.run(
            asset_ops.list_assets(self.tables, self._cursors, limit=limit, cursor=cursor)
        )

    def list_active_assets(
        self, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[Asset]:
        return self.executor.run(
            asset_ops.list_active_assets(self.tables, self._cursors, limit=limit, cursor=cursor)
        )

    def list_assets_by_category(
        self, category: str, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[Asset]:
        return self.executor.run(
            asset_ops.list_assets_by_category(
                self.tables, self._cursors, category, limit=limit, cursor=cursor
            )
        )


class AssetBalanceDAO(SyncDAO):
    """Holdings (changed only by atomic transactions)."""

    def get_asset_balance(self, username: str, asset_id: str) -> AssetBalance:
        return self.executor.run(holding_ops.get_asset_balance(self.tables, username, asset_id))

    def list_asset_balances(
        self, username: str, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None
    ) -> Page[AssetBalance]:
        return self.executor.run(
            holding_ops.list_asset_balances(
                self.tables, self._cursors, username, limit=limit, cursor=cursor
            )
        )


class AssetTransactionDAO(SyncDAO):
    """The holdings ledger."""

    def create_transaction(self, record: AssetTransaction) -> AssetTransaction:
        return self.executor.run(holding_ops.create_asset_transaction(self.tables, record))

    def create_transactions(
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
        return self.executor.run(
            holding_ops.create_asset_transactions(self.tables, records, concurrency=concurrency)
        )

    def get_transaction(self, username: str, transaction_id: str) -> AssetTransaction:
        return self.executor.run(
            holding_ops.get_asset_transaction(self.tables, username, transaction_id)
        )

    def list_transactions(
        self,
        username: str,
        *,
        asset_id: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
    ) -> Page[AssetTransaction]:
        """Newest first: all of a user's assets, or one."""
        return self.executor.run(
            holding_ops.list_asset_transactions(
                self.tables, self._cursors, username, asset_id=asset_id, limit=limit, cursor=cursor
            )
        )
