"""The synchronous TransactionManager: each flow is one atomic DynamoDB transaction."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import Any

from cnop.data.config import DataSettings, dynamodb_client
from cnop.data.core.steps import Operation
from cnop.data.executors import SyncExecutor
from cnop.data.models import OrderCreate
from cnop.data.transactions import operations as ops
from cnop.data.transactions.limits import Amount, FlowLimits
from cnop.data.transactions.locks import UserLocks
from cnop.data.transactions.results import FlowResult, FlowType, SweepResult
from cnop.data.transactions.runner import DEFAULT_RETENTION, RetryPolicy, check_retention
from cnop.data.transactions.telemetry import (
    adjusted,
    flow_committed,
    flow_failed,
    lock_release_failed,
)
from cnop.data.validation import validate_username
from cnop.exceptions import CNOPException, CNOPValidationException

__all__ = ["TransactionManager"]


class TransactionManager:
    """Deposits, withdrawals, market buys/sells and limit orders, each all-or-nothing.

    ``locks`` (optional) is any object with ``user_lock(username, operation)``, such as
    ``cnop.locking.LockManager``: each flow then runs holding the user's lock.
    ``idempotency_key`` (optional, 1-36 characters): the same request sent again with
    the same key is applied once and returns the first result (``replayed=True``) for
    ``idempotency_retention`` (default 24 hours); after that the key is a new request.
    """

    def __init__(
        self,
        *,
        settings: DataSettings | None = None,
        client: Any = None,
        locks: UserLocks | None = None,
        limits: FlowLimits | None = None,
        retry: RetryPolicy | None = None,
        idempotency_retention: timedelta = DEFAULT_RETENTION,
    ) -> None:
        if settings is not None and not isinstance(settings, DataSettings):
            raise CNOPValidationException.for_field("settings", "must be a DataSettings")
        for name, value, kind in (
            ("limits", limits, FlowLimits),
            ("retry", retry, RetryPolicy),
        ):
            if value is not None and not isinstance(value, kind):
                raise CNOPValidationException.for_field(name, f"must be a {kind.__name__}")
        self.settings = settings or DataSettings.from_env()
        self.tables = self.settings.tables
        self.executor = SyncExecutor(
            client if client is not None else dynamodb_client(self.settings)
        )
        self.locks = locks
        self.limits = limits or FlowLimits()
        self.retry = retry or RetryPolicy()
        self.context = ops.FlowContext(
            self.tables, self.limits, self.retry, check_retention(idempotency_retention)
        )

    def _run(self, flow: FlowType, username: Any, operation: Operation[FlowResult]) -> FlowResult:
        name = validate_username(username)
        lock = self.locks.user_lock(name, flow.value) if self.locks is not None else nullcontext()
        result: FlowResult | None = None
        try:
            with lock:
                result = self.executor.run(operation)
        except Exception as exc:
            # Any error: the lock is the caller's object and may raise anything.
            if result is None:
                if isinstance(exc, CNOPException):
                    flow_failed(flow, name, exc)
                raise
            # Committed: the transaction's conditions, not the lock, kept it correct. An
            # error now would make the caller retry (and, without a key, apply it twice).
            lock_release_failed(result, exc)
        flow_committed(result)
        return result

    def deposit(
        self,
        username: str,
        amount: Amount,
        *,
        idempotency_key: str | None = None,
        description: str | None = None,
        external_reference: str | None = None,
    ) -> FlowResult:
        """Credit ``amount`` USD (whole cents, within the limits).

        ``description`` and ``external_reference`` (an outside system's id, e.g. the
        payment's) are stored on the ledger record.
        """
        op = ops.deposit(
            self.context,
            username,
            amount,
            idempotency_key,
            description=description,
            external_reference=external_reference,
        )
        return self._run(FlowType.DEPOSIT, username, op)

    def withdraw(
        self,
        username: str,
        amount: Amount,
        *,
        idempotency_key: str | None = None,
        description: str | None = None,
        external_reference: str | None = None,
    ) -> FlowResult:
        """Debit ``amount`` USD; CNOPInsufficientBalanceException if the balance is short.

        ``description`` and ``external_reference`` (an outside system's id, e.g. the
        payment's) are stored on the ledger record.
        """
        op = ops.withdraw(
            self.context,
            username,
            amount,
            idempotency_key,
            description=description,
            external_reference=external_reference,
        )
        return self._run(FlowType.WITHDRAW, username, op)

    def buy(
        self,
        username: str,
        asset_id: str,
        quantity: Amount,
        *,
        idempotency_key: str | None = None,
    ) -> FlowResult:
        """Market buy at the asset's current price (cost rounded up to the cent)."""
        op = ops.buy(self.context, username, asset_id, quantity, idempotency_key)
        return self._run(FlowType.BUY, username, op)

    def sell(
        self,
        username: str,
        asset_id: str,
        quantity: Amount,
        *,
        idempotency_key: str | None = None,
    ) -> FlowResult:
        """Market sell at the asset's current price (proceeds rounded down to the cent)."""
        op = ops.sell(self.context, username, asset_id, quantity, idempotency_key)
        return self._run(FlowType.SELL, username, op)

    def place_limit_order(
        self, username: str, order: OrderCreate, *, idempotency_key: str | None = None
    ) -> FlowResult:
        """Queue a limit order, holding its funds (buy) or its quantity (sell)."""
        op = ops.place_limit_order(self.context, username, order, idempotency_key)
        return self._run(FlowType.LIMIT_ORDER, username, op)

    def cancel_order(
        self, username: str, order_id: str, *, idempotency_key: str | None = None
    ) -> FlowResult:
        """Cancel a waiting limit order of ``username`` and release what it held."""
        op = ops.cancel_order(self.context, username, order_id, idempotency_key)
        return self._run(FlowType.CANCEL_ORDER, username, op)

    # --- system flows: settle waiting limit orders (no user lock: each is one transaction)

    def _settle(self, flow: FlowType, operation: Operation[FlowResult]) -> FlowResult:
        try:
            result = self.executor.run(operation)
        except CNOPException as exc:
            flow_failed(flow, "-", exc)
            raise
        flow_committed(result)
        return result

    def _sweep(self, operation: Operation[SweepResult]) -> SweepResult:
        sweep = self.executor.run(operation)
        for result in sweep.done:
            flow_committed(result)
        return sweep

    def fill_order(
        self, order_id: str, price: Amount, *, idempotency_key: str | None = None
    ) -> FlowResult:
        """Fill a waiting limit order at ``price``: a buy pays ``quantity x price`` from its
        hold and gets the unused rest back; a sell delivers its held quantity for the
        proceeds. CNOPInvalidStateTransitionException if another request ended it first."""
        op = ops.fill_order(self.context, order_id, price, idempotency_key)
        return self._settle(FlowType.FILL_ORDER, op)

    def expire_order(self, order_id: str, *, idempotency_key: str | None = None) -> FlowResult:
        """Expire a waiting limit order past its ``expires_at`` and release its hold."""
        op = ops.expire_order(self.context, order_id, idempotency_key)
        return self._settle(FlowType.EXPIRE_ORDER, op)

    def match_limit_orders(
        self, asset_id: str, price: Amount, *, page_size: int = 100
    ) -> SweepResult:
        """Fill, at ``price``, every waiting limit order of ``asset_id`` that it crosses."""
        op = ops.match_limit_orders(self.context, asset_id, price, page_size=page_size)
        return self._sweep(op)

    def expire_limit_orders(
        self, now: datetime | None = None, *, page_size: int = 100
    ) -> SweepResult:
        """Expire every waiting limit order whose ``expires_at`` is before ``now``."""
        op = ops.expire_limit_orders(self.context, now, page_size=page_size)
        return self._sweep(op)

    def adjust(
        self,
        username: str,
        *,
        reason: str,
        operator: str,
        amount: Amount | None = None,
        asset_id: str | None = None,
        quantity: Amount | None = None,
        idempotency_key: str | None = None,
    ) -> FlowResult:
        """An operator's correction: a signed change of the USD balance (``amount``) or of
        the holding of ``asset_id`` (``quantity``), with a mandatory ``reason`` and the
        ``operator``'s identity. A new ``system_adjustment`` ledger record (records are never
        edited), never below zero, audited."""
        op = ops.adjust(
            self.context,
            username,
            reason=reason,
            operator=operator,
            amount=amount,
            asset_id=asset_id,
            quantity=quantity,
            idempotency_key=idempotency_key,
        )
        result = self._run(FlowType.ADJUST, username, op)
        adjusted(result, operator, reason)
        return result
