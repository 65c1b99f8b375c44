"""Helpers for testing code that takes a lock manager: in-memory locks, and a pytest fixture.

>>> from cnop.locking.testing import memory_lock_manager
>>> locks = memory_lock_manager()
>>> with locks.user_lock("alice_01", "deposit") as lock:
...     lock.held
True

In a test suite, import the fixture into ``conftest.py`` (or list this module in
``pytest_plugins``)::

    from cnop.locking.testing import cnop_memory_locks  # noqa: F401

    def test_deposit(cnop_memory_locks):
        flows = TransactionManager(locks=cnop_memory_locks)

The locks are real ones (the in-memory backend: threads and asyncio tasks of this process
share them), with a short default wait so a test that forgets to release fails in a
second instead of hanging. The fixture needs pytest; the factory does not.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from cnop.locking.manager import DEFAULT_TTL, LockManager

__all__ = ["TEST_DEFAULT_WAIT", "cnop_memory_locks", "memory_lock_manager"]

#: Seconds a test's lock request waits by default (production's default is 5).
TEST_DEFAULT_WAIT = 1.0


def memory_lock_manager(
    *,
    default_ttl: float = DEFAULT_TTL,
    default_wait: float = TEST_DEFAULT_WAIT,
    operation_ttls: Mapping[str, float] | None = None,
) -> LockManager:
    """A :class:`LockManager` over a new in-memory lock table (shared by nobody else).

    The arguments are those of :meth:`LockManager.in_memory` and are checked the same way.
    """
    return LockManager.in_memory(
        default_ttl=default_ttl, default_wait=default_wait, operation_ttls=operation_ttls
    )


try:
    import pytest
except ImportError:  # the factory above works without pytest
    pass
else:

    @pytest.fixture
    def cnop_memory_locks() -> Iterator[LockManager]:
        """A fresh in-memory :class:`LockManager` for one test, closed after it."""
        manager = memory_lock_manager()
        try:
            yield manager
        finally:
            manager.close()
