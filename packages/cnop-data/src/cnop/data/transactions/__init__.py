"""Atomic money flows: each deposit, withdrawal, market buy/sell and limit order is one
DynamoDB ``TransactWriteItems`` that applies every change or none.

>>> from cnop.data import TransactionManager
>>> flows = TransactionManager()  # settings from the environment, like the DAOs
>>> flows.deposit("alice_01", "100.00", idempotency_key="3f1c9e52-dep-1")  # doctest: +SKIP
"""

from cnop.data.transactions.aio import AsyncTransactionManager
from cnop.data.transactions.limits import FlowLimits
from cnop.data.transactions.locks import AsyncUserLocks, UserLocks
from cnop.data.transactions.manager import TransactionManager
from cnop.data.transactions.results import FlowResult, FlowType, SweepResult
from cnop.data.transactions.runner import RetryPolicy

__all__ = [
    "AsyncTransactionManager",
    "AsyncUserLocks",
    "FlowLimits",
    "FlowResult",
    "FlowType",
    "RetryPolicy",
    "SweepResult",
    "TransactionManager",
    "UserLocks",
]
