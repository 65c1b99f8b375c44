"""Redis specifics: waiters are woken by the release itself, and one lock's keys share a
cluster slot whatever its name."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import math
import threading
import time
from collections.abc import Callable

import pytest
import redis
from redis.crc import key_slot

from cnop.exceptions import CNOPInternalException
from cnop.locking import (
    AsyncInMemoryLockBackend,
    AsyncLockBackend,
    AsyncRedisLockBackend,
    Attempt,
    InMemoryLockBackend,
    LockBackend,
    LockManager,
    RedisLockBackend,
)
from cnop.locking.redis_core import keys_for

ODD_NAMES = ["plain", "a}b", "{x}", "}{", "{", "}", "user:alice{1}", "é{ü}"]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_the_keys_of_one_lock_share_a_cluster_slot(name: str) -> None:
    keys = keys_for(name)
    slots = {key_slot(k.encode()) for k in dataclasses.astuple(keys)}
    assert len(dataclasses.astuple(keys)) == 5
    assert len(slots) == 1


@pytest.mark.integration
@pytest.mark.parametrize("name", ODD_NAMES)
def test_locks_with_braces_in_their_names_work_on_a_cluster(
    redis_cluster_url: str, name: str
) -> None:
    locks = LockManager.from_url(redis_cluster_url)
    with locks.lock(f"{name}-{time.monotonic_ns()}", ttl=5, wait=0) as lock:
        assert lock.held
    locks.close()


class SpyBackend:
    """Passes calls through and records how each wait for a release ended."""

    def __init__(self, inner: LockBackend) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.waits: list[bool] = []

    def try_acquire(self, name: str, token: str, ttl: float, previous: Attempt | None) -> Attempt:
        return self.inner.try_acquire(name, token, ttl, previous)

    def wait_for_release(self, name: str, timeout: float) -> bool:
        woken = self.inner.wait_for_release(name, timeout)
        self.waits.append(woken)
        return woken

    def release(self, name: str, token: str) -> bool:
        return self.inner.release(name, token)

    def extend(self, name: str, token: str, ttl: float) -> bool:
        return self.inner.extend(name, token, ttl)

    def force_release(self, name: str) -> bool:
        return self.inner.force_release(name)

    def close(self) -> None:
        self.inner.close()


class AsyncSpyBackend:
    def __init__(self, inner: AsyncLockBackend) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.waits: list[bool] = []

    async def try_acquire(
        self, name: str, token: str, ttl: float, previous: Attempt | None
    ) -> Attempt:
        return await self.inner.try_acquire(name, token, ttl, previous)

    async def wait_for_release(self, name: str, timeout: float) -> bool:
        woken = await self.inner.wait_for_release(name, timeout)
        self.waits.append(woken)
        return woken

    async def release(self, name: str, token: str) -> bool:
        return await self.inner.release(name, token)

    async def extend(self, name: str, token: str, ttl: float) -> bool:
        return await self.inner.extend(name, token, ttl)

    async def force_release(self, name: str) -> bool:
        return await self.inner.force_release(name)

    async def aclose(self) -> None:
        await self.inner.aclose()


SIGNALLING = ["memory", "redis", "redis-cluster"]


def _backends(kind: str, request: pytest.FixtureRequest) -> tuple[LockBackend, AsyncLockBackend]:
    if kind == "memory":
        table = InMemoryLockBackend()
        return table, AsyncInMemoryLockBackend(table)
    url = request.getfixturevalue("redis_url" if kind == "redis" else "redis_cluster_url")
    return RedisLockBackend.from_url(url), AsyncRedisLockBackend.from_url(url)


@pytest.mark.integration
@pytest.mark.parametrize("kind", SIGNALLING)
def test_a_release_wakes_the_waiter_instead_of_a_poll(
    kind: str, request: pytest.FixtureRequest, unique_name: Callable[[str], str]
) -> None:
    sync_backend, _ = _backends(kind, request)
    spy = SpyBackend(sync_backend)
    locks = LockManager(spy)
    name = unique_name("wake")
    holding = threading.Event()

    def holder() -> None:
        with locks.lock(name, ttl=60):
            holding.set()
            time.sleep(0.3)

    thread = threading.Thread(target=holder)
    thread.start()
    assert holding.wait(10)
    with locks.lock(name, ttl=5, wait=10):
        pass
    thread.join()
    assert spy.waits, "the waiter never waited"
    assert spy.waits[-1] is True  # its last wait was ended by the release signal
    locks.close()


@pytest.mark.integration
@pytest.mark.parametrize("kind", SIGNALLING)
async def test_a_release_wakes_the_async_waiter_instead_of_a_poll(
    kind: str, request: pytest.FixtureRequest, unique_name: Callable[[str], str]
) -> None:
    sync_backend, async_backend = _backends(kind, request)
    spy = AsyncSpyBackend(async_backend)
    locks = LockManager(sync_backend, spy)
    name = unique_name("async-wake")
    holding = asyncio.Event()

    async def holder() -> None:
        async with locks.alock(name, ttl=60):
            holding.set()
            await asyncio.sleep(0.3)

    task = asyncio.create_task(holder())
    await holding.wait()
    async with locks.alock(name, ttl=5, wait=10):
        pass
    await task
    assert spy.waits
    assert spy.waits[-1] is True
    await locks.aclose()


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["redis", "redis-cluster"])
def test_scripts_repeated_by_a_client_retry_keep_their_first_answer(
    kind: str, request: pytest.FixtureRequest, unique_name: Callable[[str], str]
) -> None:
    # redis-py re-sends a command whose connection broke before the reply: the second
    # run must not turn a grant into "busy" or a release into "lost".
    backend, _ = _backends(kind, request)
    name = unique_name("retry")
    first = backend.try_acquire(name, "token-a", 5.0, None)
    again = backend.try_acquire(name, "token-a", 5.0, None)
    assert first.acquired
    assert again == first
    assert not backend.try_acquire(name, "token-b", 5.0, None).acquired
    assert backend.release(name, "token-a") is True
    assert backend.release(name, "token-a") is True  # the retried release
    assert backend.release(name, "token-b") is False
    # A lease that lapsed is not "released" by its former owner: that is a loss.
    second = backend.try_acquire(name, "token-c", 0.05, None)
    assert second.fencing_token > first.fencing_token
    time.sleep(0.1)
    assert backend.release(name, "token-c") is False  # its lease had lapsed
    backend.close()


@pytest.mark.integration
def test_a_lost_fence_counter_restarts_above_every_earlier_token(
    redis_url: str, unique_name: Callable[[str], str]
) -> None:
    import redis

    locks = LockManager.from_url(redis_url)
    name = unique_name("fence-restart")
    fences = []
    for _ in range(3):
        with locks.lock(name, ttl=5) as lock:
            fences.append(lock.fencing_token)
    # The counter expired or Redis lost it: the next token starts from the server clock.
    redis.Redis.from_url(redis_url).delete(keys_for(name).fence)
    with locks.lock(name, ttl=5) as lock:
        fences.append(lock.fencing_token)
    assert all(a < b for a, b in itertools.pairwise(fences))
    locks.close()


class _LateReplies:
    """An asyncio backend whose acquire replies arrive late: the store has granted the lock
    by the time the caller stops waiting for the answer."""

    def __init__(self, backend: AsyncRedisLockBackend) -> None:
        self._backend = backend
        self.kind = backend.kind
        self.granted = asyncio.Event()

    async def try_acquire(
        self, name: str, token: str, ttl: float, previous: Attempt | None
    ) -> Attempt:
        attempt = await self._backend.try_acquire(name, token, ttl, previous)
        self.granted.set()
        await asyncio.sleep(30)
        return attempt

    async def wait_for_release(self, name: str, timeout: float) -> bool:
        return await self._backend.wait_for_release(name, timeout)

    async def release(self, name: str, token: str) -> bool:
        return await self._backend.release(name, token)

    async def extend(self, name: str, token: str, ttl: float) -> bool:
        return await self._backend.extend(name, token, ttl)

    async def force_release(self, name: str) -> bool:
        return await self._backend.force_release(name)

    async def aclose(self) -> None:
        await self._backend.aclose()


@pytest.mark.integration
async def test_an_acquisition_cancelled_after_the_grant_does_not_leave_the_lock_taken(
    redis_url: str, unique_name: Callable[[str], str]
) -> None:
    # A timeout around `async with`, or a client that hung up, cancels the acquisition; if
    # Redis had already granted it, nobody would release it before its lease ran out.
    late = _LateReplies(AsyncRedisLockBackend.from_url(redis_url))
    locks = LockManager(RedisLockBackend.from_url(redis_url), late)
    name = unique_name("cancelled")

    async def enter() -> None:
        async with locks.alock(name, ttl=30):
            pytest.fail("entered although cancelled")

    task = asyncio.create_task(enter())
    await asyncio.wait_for(late.granted.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with locks.lock(name, wait=0) as lock:
        assert lock.held
    await locks.aclose()


@pytest.mark.integration
def test_every_reply_of_the_acquire_script_maps_to_its_outcome(redis_url: str) -> None:
    """Granted (the fence), re-sent while held (the same fence), refused (the holder's lease
    left), a key set by someone else without expiry (no idea when it goes), and a try
    whose token already released the lock (never granted again); on a client that decodes
    replies to text, too."""
    for decode in (False, True):
        client = redis.Redis.from_url(redis_url, decode_responses=decode)
        backend = RedisLockBackend(client)
        name = f"replies-{decode}-{time.monotonic_ns()}"
        granted = backend.try_acquire(name, "first", 5.0, None)
        assert granted.acquired
        assert granted.fencing_token > 0
        again = backend.try_acquire(name, "first", 5.0, None)
        assert again == Attempt(True, fencing_token=granted.fencing_token)
        refused = backend.try_acquire(name, "second", 5.0, None)
        assert not refused.acquired
        assert 0 < refused.retry_after <= 5.0
        assert backend.release(name, "first")
        with pytest.raises(CNOPInternalException, match="already released"):
            backend.try_acquire(name, "first", 5.0, None)
        client.set(keys_for(name).owner, "not-ours")  # no expiry
        forever = backend.try_acquire(name, "third", 5.0, None)
        assert not forever.acquired
        assert forever.retry_after == math.inf
        client.delete(keys_for(name).owner)
        client.close()
