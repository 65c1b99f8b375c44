"""The lock contract, run against every backend (memory, Redis, Redis Cluster, DynamoDB
Local), through the blocking and the asyncio face."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from cnop.exceptions import (
    CNOPLockAcquisitionException,
    CNOPLockLostException,
    CNOPLockTimeoutException,
)
from cnop.locking import AsyncHeldLock, HeldLock, LockManager

pytestmark = pytest.mark.integration


# --- blocking face ------------------------------------------------------------------


def test_a_held_lock_shows_its_owner_token_fence_and_state(
    locks: LockManager, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("contract")
    with locks.lock(name, ttl=5) as first:
        assert (first.held, first.lost) == (True, False)
        assert first.name == name
        assert len(first.token) == 32
        assert first.ttl == 5
    assert first.held is False
    with locks.lock(name, ttl=5) as second:
        assert second.token != first.token
        assert second.fencing_token > first.fencing_token


def test_a_busy_lock_without_wait_is_an_acquisition_error_not_a_timeout(
    locks: LockManager, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("busy")
    with (
        locks.lock(name, ttl=5),
        pytest.raises(CNOPLockAcquisitionException) as caught,
        locks.lock(name, wait=0),
    ):
        pytest.fail("entered a lock that is held")
    assert not isinstance(caught.value, CNOPLockTimeoutException)
    assert caught.value.retryable
    assert name in str(caught.value)


def test_waiting_runs_out_with_a_timeout_that_says_which_lock_and_how_long(
    locks: LockManager, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("timeout")
    with (
        locks.lock(name, ttl=10),
        pytest.raises(CNOPLockTimeoutException) as caught,
        locks.lock(name, wait=0.3),
    ):
        pytest.fail("entered a lock that is held")
    error = caught.value
    assert error.retryable
    assert error.status_code == 409
    assert name in str(error)
    assert "0.3s" in str(error)
    assert error.details["lock"] == name
    assert error.details["waited_s"] >= 0.3


def test_a_waiter_enters_when_the_holder_releases_long_before_the_lease_ends(
    locks: LockManager, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("handoff")
    holding = threading.Event()
    fences: list[int] = []

    def holder() -> None:
        with locks.lock(name, ttl=60) as lock:
            fences.append(lock.fencing_token)
            holding.set()
            time.sleep(0.3)

    thread = threading.Thread(target=holder)
    thread.start()
    assert holding.wait(10)
    # The lease is 60 s and the wait 10 s: only the release can let the waiter in.
    with locks.lock(name, ttl=5, wait=10) as lock:
        fences.append(lock.fencing_token)
    thread.join()
    assert fences[1] > fences[0]


def test_an_expired_lease_lets_the_next_holder_in_and_the_first_learns_it_lost(
    locks: LockManager, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("expiry")
    # The exit of the lock block is what raises, so the block holds the whole scenario.
    with pytest.raises(CNOPLockLostException) as caught, locks.lock(name, ttl=0.3) as stale:  # noqa: PT012
        time.sleep(0.4)
        assert not stale.held  # past its lease on its own clock
        with locks.lock(name, ttl=5, wait=5) as fresh:
            assert fresh.fencing_token > stale.fencing_token
    assert name in str(caught.value)
    assert stale.lost


def test_a_stale_holder_cannot_release_the_next_holders_lock(
    locks: LockManager, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("stale-release")
    stale_cm = locks.lock(name, ttl=0.2)
    stale_cm.__enter__()
    time.sleep(0.3)
    with locks.lock(name, ttl=10, wait=5):
        with pytest.raises(CNOPLockLostException):
            stale_cm.__exit__(None, None, None)
        # The new holder still holds it.
        with pytest.raises(CNOPLockAcquisitionException), locks.lock(name, wait=0):
            pytest.fail("the stale release freed the new holder's lock")


def test_extend_keeps_the_lock_past_its_first_lease(
    locks: LockManager, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("extend")
    with locks.lock(name, ttl=0.3) as lock:
        lock.extend(5)
        time.sleep(0.5)
        assert lock.held
        assert lock.ttl == 5
        with pytest.raises(CNOPLockAcquisitionException), locks.lock(name, wait=0):
            pytest.fail("entered a lock whose lease was extended")


def test_auto_extend_renews_while_the_body_runs(
    locks: LockManager, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("renew")
    # Leases long enough that a renewal survives a scheduler stall on a busy 2-core machine.
    with locks.lock(name, ttl=0.6, auto_extend=True) as lock:
        time.sleep(2.0)  # more than three leases
        assert lock.held
        with pytest.raises(CNOPLockAcquisitionException), locks.lock(name, wait=0):
            pytest.fail("entered a lock that is being renewed")
    assert not lock.lost


def test_a_lock_lost_while_auto_extending_sets_the_flag_calls_back_and_raises_at_exit(
    locks: LockManager, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("lost")
    told = threading.Event()
    seen: list[HeldLock] = []

    def on_lost(lock: HeldLock) -> None:
        seen.append(lock)
        told.set()

    with (  # noqa: PT012 - the exit of the lock block is what raises
        pytest.raises(CNOPLockLostException) as caught,
        locks.lock(name, ttl=0.3, auto_extend=True, on_lost=on_lost) as lock,
    ):
        assert locks.force_release(name)
        with locks.lock(name, ttl=10, wait=5) as thief:
            assert told.wait(5), "the holder was never told"
            assert (lock.lost, lock.held) == (True, False)
            assert thief.fencing_token > lock.fencing_token
    assert seen == [lock]
    assert caught.value.details["lock"] == name


def test_user_locks_are_per_user_with_per_operation_leases(
    make_locks: Callable[..., LockManager], unique_name: Callable[[str], str]
) -> None:
    locks = make_locks(operation_ttls={"deposit": 7, "payout": 3})
    alice, bob = unique_name("alice"), unique_name("bob")
    with locks.user_lock(alice, "deposit") as lock:
        assert lock.name == f"user:{alice}"
        assert lock.ttl == 7
        with (
            pytest.raises(CNOPLockAcquisitionException),
            locks.user_lock(alice, "withdraw", wait=0),
        ):
            pytest.fail("two operations of one user ran at once")
        with locks.user_lock(bob, "payout", wait=0) as other:
            assert other.ttl == 3
    assert locks.ttl_for("withdraw") == 10
    assert locks.ttl_for("unknown-op") == locks.default_ttl


def test_threads_in_one_process_never_overlap(
    locks: LockManager, backend_kind: str, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("threads")
    workers, rounds = (3, 8) if backend_kind == "dynamodb" else (4, 25)
    state = {"value": 0, "inside": 0, "overlaps": 0}
    fences: list[int] = []

    def work() -> None:
        for _ in range(rounds):
            with locks.lock(name, ttl=5, wait=30) as lock:
                state["inside"] += 1
                if state["inside"] > 1:
                    state["overlaps"] += 1
                value = state["value"]
                time.sleep(0.001)
                state["value"] = value + 1
                fences.append(lock.fencing_token)
                state["inside"] -= 1

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert state["overlaps"] == 0
    assert state["value"] == workers * rounds
    assert fences == sorted(fences)
    assert len(set(fences)) == len(fences)


def test_force_release_frees_a_held_lock_and_reports_whether_it_was_held(
    locks: LockManager, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("force")
    assert locks.force_release(name) is False
    cm = locks.lock(name, ttl=10)
    cm.__enter__()
    assert locks.force_release(name) is True
    with locks.lock(name, wait=0):
        pass
    with pytest.raises(CNOPLockLostException):
        cm.__exit__(None, None, None)


def test_an_error_in_the_body_wins_over_a_lost_lock_and_the_lock_is_freed(
    locks: LockManager, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("body-error")
    with pytest.raises(ZeroDivisionError), locks.lock(name, ttl=5):
        _ = 1 / 0
    with locks.lock(name, wait=0):
        pass


# --- asyncio face -------------------------------------------------------------------


async def test_async_lock_holds_and_hands_over_with_increasing_fences(
    alocks: LockManager, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("async")
    async with alocks.alock(name, ttl=5) as first:
        assert isinstance(first, AsyncHeldLock)
        assert (first.held, first.lost) == (True, False)
        with pytest.raises(CNOPLockAcquisitionException) as busy:
            async with alocks.alock(name, wait=0):
                pytest.fail("entered a lock that is held")
        assert not isinstance(busy.value, CNOPLockTimeoutException)
        with pytest.raises(CNOPLockTimeoutException):
            async with alocks.alock(name, wait=0.2):
                pytest.fail("entered a lock that is held")
    assert first.held is False
    async with alocks.auser_lock(name, "buy") as second:
        assert second.ttl == 15
    async with alocks.alock(name) as third:
        assert third.fencing_token > first.fencing_token


async def test_async_waiter_enters_when_the_holder_releases(
    alocks: LockManager, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("async-handoff")
    holding = asyncio.Event()

    async def holder() -> int:
        async with alocks.alock(name, ttl=60) as lock:
            holding.set()
            await asyncio.sleep(0.3)
            return lock.fencing_token

    task = asyncio.create_task(holder())
    await holding.wait()
    async with alocks.alock(name, ttl=5, wait=10) as lock:
        assert lock.fencing_token > await task


async def test_async_tasks_never_overlap(
    alocks: LockManager, backend_kind: str, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("tasks")
    workers, rounds = (3, 6) if backend_kind == "dynamodb" else (5, 20)
    state = {"value": 0, "inside": 0, "overlaps": 0}

    async def work() -> None:
        for _ in range(rounds):
            async with alocks.alock(name, ttl=5, wait=30):
                state["inside"] += 1
                state["overlaps"] += state["inside"] > 1
                value = state["value"]
                await asyncio.sleep(0.001)
                state["value"] = value + 1
                state["inside"] -= 1

    await asyncio.gather(*(work() for _ in range(workers)))
    assert state == {"value": workers * rounds, "inside": 0, "overlaps": 0}


async def test_async_expired_lease_is_reported_at_exit(
    alocks: LockManager, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("async-expiry")
    with pytest.raises(CNOPLockLostException):  # noqa: PT012 - raised by the block's exit
        async with alocks.alock(name, ttl=0.3) as stale:
            await asyncio.sleep(0.4)
            async with alocks.alock(name, ttl=5, wait=5) as fresh:
                assert fresh.fencing_token > stale.fencing_token
    assert stale.lost


async def test_async_auto_extend_renews_and_reports_a_loss(
    alocks: LockManager, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("async-renew")
    async with alocks.alock(name, ttl=0.6, auto_extend=True) as lock:
        await asyncio.sleep(2.0)  # more than three leases
        assert lock.held
        await lock.extend(0.9)
        assert lock.ttl == 0.9
    assert not lock.lost

    told = asyncio.Event()
    with pytest.raises(CNOPLockLostException):  # noqa: PT012 - raised by the block's exit
        async with alocks.alock(
            name, ttl=0.3, auto_extend=True, on_lost=lambda _lock: told.set()
        ) as lock:
            assert await alocks.aforce_release(name)
            async with alocks.alock(name, ttl=10, wait=5):
                await asyncio.wait_for(told.wait(), 5)
                assert (lock.lost, lock.held) == (True, False)


async def test_cancelling_a_release_that_stops_the_renewer_stays_cancelled(
    alocks: LockManager, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("cancel-release")
    lock = await alocks.alock(name, ttl=5, auto_extend=True).__aenter__()
    releasing = asyncio.create_task(lock.release())
    await asyncio.sleep(0)  # the release is now waiting for its renewer to stop
    releasing.cancel()
    # The caller's cancellation must not be taken for the renewer's and swallowed.
    with pytest.raises(asyncio.CancelledError):
        await releasing
    await lock.release()
    assert not lock.held


async def test_sync_and_async_holders_of_one_manager_exclude_each_other(
    alocks: LockManager, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("mixed")
    with alocks.lock(name, ttl=5), pytest.raises(CNOPLockAcquisitionException):
        async with alocks.alock(name, wait=0):
            pytest.fail("async holder entered a lock held through the sync face")
    async with alocks.alock(name, ttl=5):
        with pytest.raises(CNOPLockAcquisitionException), alocks.lock(name, wait=0):
            pytest.fail("sync holder entered a lock held through the async face")


def test_extend_after_release_is_refused_without_reporting_a_loss(
    locks: LockManager, unique_name: Callable[[str], str]
) -> None:
    with locks.lock(unique_name("released"), ttl=5) as lock:
        pass
    with pytest.raises(CNOPLockLostException, match="already released"):
        lock.extend()
    assert lock.lost is False
    lock.release()  # idempotent
