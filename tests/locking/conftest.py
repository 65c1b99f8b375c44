"""Lock managers over every backend, on the real servers of ``tests/conftest.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from cnop.locking import LockManager

BACKENDS = ["memory", "redis", "redis-cluster", "dynamodb"]


@pytest.fixture(scope="session")
def dynamodb_lock_table(dynamodb_endpoint: str) -> str:
    """A lock table in the session's DynamoDB Local."""
    manager = LockManager.dynamodb(
        "cnop-locks-tests", endpoint_url=dynamodb_endpoint, create_table=True
    )
    manager.close()
    return "cnop-locks-tests"


@pytest.fixture(params=BACKENDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def make_locks(
    request: pytest.FixtureRequest, backend_kind: str
) -> Iterator[Callable[..., LockManager]]:
    """Build managers on ``backend_kind``; managers made by one test share their locks."""
    made: list[LockManager] = []
    memory: list[LockManager] = []

    def make(**options: Any) -> LockManager:
        manager: LockManager
        if backend_kind == "memory":
            # One in-memory table per test, like one Redis per test session.
            if not memory:
                memory.append(LockManager.in_memory(**options))
            manager = memory[0]
        elif backend_kind == "redis":
            url = request.getfixturevalue("redis_url")
            manager = LockManager.from_url(url, **options)
        elif backend_kind == "redis-cluster":
            url = request.getfixturevalue("redis_cluster_url")
            manager = LockManager.from_url(url, **options)
        else:
            table = request.getfixturevalue("dynamodb_lock_table")
            endpoint = request.getfixturevalue("dynamodb_endpoint")
            manager = LockManager.dynamodb(
                table, endpoint_url=endpoint, poll_interval=0.05, **options
            )
        made.append(manager)
        return manager

    yield make
    for manager in made:
        manager.close()


@pytest.fixture
def locks(make_locks: Callable[..., LockManager]) -> LockManager:
    """A manager on each backend in turn."""
    return make_locks()


@pytest.fixture
async def alocks(locks: LockManager) -> AsyncIterator[LockManager]:
    """The same manager, closed in the test's event loop (its asyncio clients live there)."""
    yield locks
    await locks.aclose()
