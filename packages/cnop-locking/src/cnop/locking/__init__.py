"""User-level and named locks for CNOP services: Redis, in-memory, DynamoDB leases.

>>> from cnop.locking import LockManager
>>> locks = LockManager.in_memory()
>>> with locks.user_lock("alice", "deposit") as lock:
...     lock.held
True

Redis and DynamoDB backends load their client libraries only when used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cnop.locking.__about__ import __version__
from cnop.locking.acquisition import MAX_SINGLE_WAIT
from cnop.locking.backend import AsyncLockBackend, Attempt, LockBackend
from cnop.locking.config import redis_url_from_env
from cnop.locking.held import AsyncHeldLock, HeldLock
from cnop.locking.manager import DEFAULT_OPERATION_TTLS, LockManager
from cnop.locking.memory import AsyncInMemoryLockBackend, InMemoryLockBackend

if TYPE_CHECKING:
    from cnop.locking.dynamodb_backend import DynamoDBLockBackend
    from cnop.locking.redis_backend import AsyncRedisLockBackend, RedisLockBackend
    from cnop.locking.threaded import ThreadedAsyncBackend

_LAZY = {
    "RedisLockBackend": "cnop.locking.redis_backend",
    "AsyncRedisLockBackend": "cnop.locking.redis_backend",
    "DynamoDBLockBackend": "cnop.locking.dynamodb_backend",
    "ThreadedAsyncBackend": "cnop.locking.threaded",
}

__all__ = [
    "DEFAULT_OPERATION_TTLS",
    "MAX_SINGLE_WAIT",
    "AsyncHeldLock",
    "AsyncInMemoryLockBackend",
    "AsyncLockBackend",
    "AsyncRedisLockBackend",
    "Attempt",
    "DynamoDBLockBackend",
    "HeldLock",
    "InMemoryLockBackend",
    "LockBackend",
    "LockManager",
    "RedisLockBackend",
    "ThreadedAsyncBackend",
    "__version__",
    "redis_url_from_env",
]


def __getattr__(name: str) -> Any:
    # Backends whose client libraries (redis, boto3) load only when first asked for.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cnop.locking' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
