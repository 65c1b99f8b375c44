"""cnop.locking.testing: the in-memory factory and the fixture users import."""

from __future__ import annotations

import asyncio
import threading

import pytest

from cnop.exceptions import CNOPException, CNOPLockAcquisitionException
from cnop.locking import LockManager
from cnop.locking.testing import TEST_DEFAULT_WAIT, cnop_memory_locks, memory_lock_manager

__all__ = ["cnop_memory_locks"]  # imported as a fixture, the way users do


def test_the_fixture_gives_real_locks_that_exclude_each_other(
    cnop_memory_locks: LockManager,
) -> None:
    with cnop_memory_locks.user_lock("alice_01", "deposit") as held:
        assert held.held
        with (
            pytest.raises(CNOPLockAcquisitionException),
            cnop_memory_locks.user_lock("alice_01", "withdraw", wait=0),
        ):
            pass
    with cnop_memory_locks.user_lock("alice_01", "withdraw", wait=0) as again:
        assert again.held


def test_threads_and_tasks_share_the_table(cnop_memory_locks: LockManager) -> None:
    taken = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with cnop_memory_locks.user_lock("bob_02", "buy"):
            taken.set()
            release.wait(5)

    worker = threading.Thread(target=hold)
    worker.start()
    assert taken.wait(5)

    async def try_async() -> bool:
        try:
            async with cnop_memory_locks.auser_lock("bob_02", "sell", wait=0):
                return True
        except CNOPLockAcquisitionException:
            return False

    try:
        assert asyncio.run(try_async()) is False
    finally:
        release.set()
        worker.join(5)
    assert asyncio.run(try_async()) is True


def test_each_factory_call_has_its_own_table() -> None:
    first, second = memory_lock_manager(), memory_lock_manager()
    with (
        first.user_lock("carol_03", "deposit"),
        second.user_lock("carol_03", "deposit", wait=0) as other,
    ):
        assert other.held


def test_a_forgotten_lock_fails_within_the_short_default_wait() -> None:
    locks = memory_lock_manager()
    assert TEST_DEFAULT_WAIT <= 1.0
    with (
        locks.user_lock("dave_04", "deposit"),
        pytest.raises(CNOPLockAcquisitionException) as caught,
        locks.user_lock("dave_04", "deposit"),
    ):
        pass
    assert caught.value.retryable


@pytest.mark.parametrize(
    "options",
    [
        {"default_wait": -1},
        {"default_ttl": 0},
        {"default_ttl": float("nan")},
        {"default_wait": "1"},
        {"operation_ttls": {"deposit": -5}},
    ],
)
def test_bad_settings_are_refused_like_the_managers(options: dict[str, object]) -> None:
    with pytest.raises(CNOPException):
        memory_lock_manager(**options)  # type: ignore[arg-type]
