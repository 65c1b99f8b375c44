"""The per-user lock a transaction manager may hold around each flow.

``cnop.data`` does not depend on ``cnop.locking``: any object with the method below
fits, and ``cnop.locking.LockManager`` is one.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any, Protocol

__all__ = ["AsyncUserLocks", "UserLocks"]


class UserLocks(Protocol):
    """``user_lock(username, operation)`` returns a context manager that holds the user's lock."""

    def user_lock(self, username: str, operation: str, /) -> AbstractContextManager[Any]: ...


class AsyncUserLocks(Protocol):
    """``auser_lock(username, operation)`` returns an async context manager (``async with``)."""

    def auser_lock(self, username: str, operation: str, /) -> AbstractAsyncContextManager[Any]: ...
