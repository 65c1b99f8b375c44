"""A Redis that dies and comes back: clear errors within the wait bound, then recovery.

Each test runs its own password-protected redis-server, kills it and restarts it on the
same port; the password must never show up in an error.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from cnop.exceptions import (
    CNOPException,
    CNOPLockLostException,
    CNOPServiceUnavailableException,
)
from cnop.locking import LockManager

pytestmark = pytest.mark.integration

WAIT = 20.0


def _password() -> str:
    return f"pw-{uuid.uuid4().hex}"


def test_redis_stopped_while_held_and_while_waiting_then_restarted(
    private_servers: Callable[..., Any], unique_name: Callable[[str], str]
) -> None:
    password = _password()
    server = private_servers("redis", password=password)
    port = server.ports[0]
    locks = LockManager.from_url(server.url)
    name = unique_name("fault")
    holder_cm = locks.lock(name, ttl=60)
    held = holder_cm.__enter__()

    outcome: dict[str, Any] = {}

    def waiter() -> None:
        started = time.monotonic()
        try:
            with locks.lock(name, wait=WAIT):
                outcome["entered"] = True
        except CNOPException as exc:
            outcome["error"] = exc
        outcome["after"] = time.monotonic() - started

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.3)  # the waiter is now blocked on the release signal
    server.kill()
    thread.join(WAIT + 5)

    error = outcome.get("error")
    assert isinstance(error, CNOPServiceUnavailableException), outcome
    assert outcome["after"] < WAIT  # reported, not waited out
    assert error.retryable
    assert f"127.0.0.1:{port}" in str(error)
    assert password not in str(error)
    assert password not in repr(error.to_dict())

    # The holder leaves its block while Redis is down: a clear error, not a hang.
    with pytest.raises(CNOPServiceUnavailableException) as on_release:
        holder_cm.__exit__(None, None, None)
    assert password not in str(on_release.value)
    assert held.held is False

    # A new acquisition while Redis is down fails at once, whatever the wait.
    with pytest.raises(CNOPServiceUnavailableException), locks.lock(name, wait=WAIT):
        pytest.fail("acquired a lock with Redis down")

    # Restarted (empty) on the same port: the same manager works again, and the fencing
    # token still goes up although Redis lost its counter.
    private_servers("redis", port=port, password=password)
    with locks.lock(name, ttl=5, wait=0) as lock:
        assert lock.fencing_token > held.fencing_token
    locks.close()


def test_a_renewing_holder_learns_its_lock_is_lost_when_redis_stays_down(
    private_servers: Callable[..., Any], unique_name: Callable[[str], str]
) -> None:
    server = private_servers("redis", password=_password())
    locks = LockManager.from_url(server.url)
    name = unique_name("renew-down")
    told = threading.Event()
    cm = locks.lock(name, ttl=0.5, auto_extend=True, on_lost=lambda _lock: told.set())
    lock = cm.__enter__()
    server.kill()
    assert told.wait(5), "the holder was not told its lease ran out"
    assert lock.lost
    with pytest.raises(CNOPLockLostException) as caught:
        cm.__exit__(None, None, None)
    assert "unreachable" in str(caught.value)
    locks.close()


async def test_async_waiter_gets_a_clear_error_and_recovers_after_restart(
    private_servers: Callable[..., Any], unique_name: Callable[[str], str]
) -> None:
    password = _password()
    server = private_servers("redis", password=password)
    locks = LockManager.from_url(server.url)
    name = unique_name("async-fault")
    async with locks.alock(name, ttl=60) as held:
        waiter = asyncio.create_task(_enter(locks, name))
        await asyncio.sleep(0.3)
        server.kill()
        error, after = await asyncio.wait_for(waiter, WAIT + 5)
        assert isinstance(error, CNOPServiceUnavailableException)
        assert after < WAIT
        assert password not in str(error)
        with pytest.raises(CNOPServiceUnavailableException):
            await held.release()

    private_servers("redis", port=server.ports[0], password=password)
    async with locks.alock(name, ttl=5, wait=0) as lock:
        assert lock.fencing_token > held.fencing_token
    await locks.aclose()


async def _enter(locks: LockManager, name: str) -> tuple[CNOPException | None, float]:
    started = time.monotonic()
    try:
        async with locks.alock(name, wait=WAIT):
            return None, time.monotonic() - started
    except CNOPException as exc:
        return exc, time.monotonic() - started


def test_an_unreachable_cluster_is_a_clear_error_at_construction_and_in_async_use() -> None:
    url = "redis+cluster://:cluster-secret@127.0.0.1:1"
    with pytest.raises(CNOPServiceUnavailableException) as caught:
        LockManager.from_url(url)
    assert "127.0.0.1:1" in str(caught.value)
    assert "cluster-secret" not in str(caught.value)


async def test_an_unreachable_cluster_fails_async_acquisition_clearly() -> None:
    from cnop.locking import AsyncRedisLockBackend, InMemoryLockBackend

    locks = LockManager(
        InMemoryLockBackend(), AsyncRedisLockBackend.from_url("redis+cluster://127.0.0.1:1")
    )
    with pytest.raises(CNOPServiceUnavailableException, match="unreachable"):
        async with locks.alock("x", wait=WAIT):
            pytest.fail("locked without a store")
