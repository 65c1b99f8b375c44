"""``LockManager``: named and per-user locks with a blocking and an asyncio face."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from cnop.exceptions import CNOPConfigurationException, CNOPValidationException
from cnop.locking import _validate
from cnop.locking.backend import AsyncLockBackend, LockBackend
from cnop.locking.config import redis_url_from_env
from cnop.locking.context import AsyncLockContext, LockContext, LockRequest
from cnop.locking.held import AsyncHeldLock, HeldLock
from cnop.locking.memory import AsyncInMemoryLockBackend, InMemoryLockBackend

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager, AbstractContextManager

#: Lease lengths (seconds) of ``user_lock`` per operation; others get ``default_ttl``.
DEFAULT_OPERATION_TTLS: Mapping[str, float] = MappingProxyType(
    {"deposit": 10.0, "withdraw": 10.0, "buy": 15.0, "sell": 15.0}
)
DEFAULT_TTL = 10.0
DEFAULT_WAIT = 5.0


class LockManager:
    """Locks over one store, used with ``with`` (threads) or ``async with`` (asyncio).

    >>> locks = LockManager.in_memory()
    >>> with locks.user_lock("alice", "deposit") as lock:
    ...     lock.fencing_token > 0
    True

    Acquisition raises ``CNOPLockAcquisitionException`` when ``wait=0`` and the lock is
    held, ``CNOPLockTimeoutException`` when ``wait`` runs out (both retryable), and
    ``CNOPServiceUnavailableException`` when the store cannot be reached. Leaving the
    block raises ``CNOPLockLostException`` if the lock was lost while held.
    """

    def __init__(
        self,
        backend: LockBackend,
        async_backend: AsyncLockBackend | None = None,
        *,
        default_ttl: float = DEFAULT_TTL,
        default_wait: float = DEFAULT_WAIT,
        operation_ttls: Mapping[str, float] | None = None,
    ) -> None:
        _validate.lock_backend(backend)
        if async_backend is not None:
            _validate.async_lock_backend(async_backend)
        self._backend = backend
        self._async_backend = async_backend
        self.default_ttl = _validate.ttl(default_ttl, "default_ttl")
        self.default_wait = _validate.wait(default_wait, "default_wait")
        if operation_ttls is not None and not isinstance(operation_ttls, Mapping):
            raise CNOPValidationException.for_field(
                "operation_ttls", "must be a mapping of operation names to seconds"
            )
        ttls = dict(DEFAULT_OPERATION_TTLS)
        for operation, ttl in (operation_ttls or {}).items():
            ttls[_validate.operation(operation)] = _validate.ttl(
                ttl, f"operation_ttls[{operation}]"
            )
        self.operation_ttls: Mapping[str, float] = MappingProxyType(ttls)

    # --- construction -------------------------------------------------------------

    @classmethod
    def in_memory(
        cls,
        *,
        default_ttl: float = DEFAULT_TTL,
        default_wait: float = DEFAULT_WAIT,
        operation_ttls: Mapping[str, float] | None = None,
    ) -> LockManager:
        """Locks inside this process (threads and asyncio tasks share them)."""
        table = InMemoryLockBackend()
        return cls(
            table,
            AsyncInMemoryLockBackend(table),
            default_ttl=default_ttl,
            default_wait=default_wait,
            operation_ttls=operation_ttls,
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        default_ttl: float = DEFAULT_TTL,
        default_wait: float = DEFAULT_WAIT,
        operation_ttls: Mapping[str, float] | None = None,
    ) -> LockManager:
        """Locks in Redis: ``redis://``, ``rediss://`` (TLS), ``redis+cluster://host:port``.

        A password in the URL is used to connect and never appears in errors or logs.
        """
        from cnop.locking.redis_backend import (  # noqa: PLC0415 - redis loads when used
            AsyncRedisLockBackend,
            RedisLockBackend,
            async_client,
            sync_client,
        )

        return cls(
            RedisLockBackend(sync_client(url)),
            AsyncRedisLockBackend(async_client(url)),
            default_ttl=default_ttl,
            default_wait=default_wait,
            operation_ttls=operation_ttls,
        )

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        default_ttl: float = DEFAULT_TTL,
        default_wait: float = DEFAULT_WAIT,
        operation_ttls: Mapping[str, float] | None = None,
    ) -> LockManager:
        """Locks in the Redis named by ``REDIS_URL``, or by ``REDIS_HOST``, ``REDIS_PORT``,
        ``REDIS_PASSWORD``, ``REDIS_SSL`` and ``REDIS_CLUSTER``."""

        return cls.from_url(
            redis_url_from_env(environ),
            default_ttl=default_ttl,
            default_wait=default_wait,
            operation_ttls=operation_ttls,
        )

    @classmethod
    def dynamodb(
        cls,
        table: str,
        *,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        create_table: bool = False,
        poll_interval: float = 0.1,
        clock_skew_margin: float = 2.0,
        default_ttl: float = DEFAULT_TTL,
        default_wait: float = DEFAULT_WAIT,
        operation_ttls: Mapping[str, float] | None = None,
    ) -> LockManager:
        """Lease locks in the DynamoDB table ``table`` (needs the ``dynamodb`` extra).

        ``create_table=True`` creates the table if it is missing (hash key ``lock_name``).
        A holder that died without releasing leaves its lock to others once its lease
        has passed by ``clock_skew_margin`` seconds on their clocks (instances' wall
        clocks must agree that closely; see ``DynamoDBLockBackend``).
        The region and endpoint default to ``AWS_REGION`` / ``AWS_DEFAULT_REGION`` and
        ``AWS_ENDPOINT_URL_DYNAMODB`` / ``AWS_ENDPOINT_URL`` (see
        ``DynamoDBLockBackend.connect``).
        """
        # boto3 loads only when a DynamoDB manager is made.
        from cnop.locking.dynamodb_backend import DynamoDBLockBackend  # noqa: PLC0415
        from cnop.locking.threaded import ThreadedAsyncBackend  # noqa: PLC0415

        backend = DynamoDBLockBackend.connect(
            table,
            endpoint_url=endpoint_url,
            region_name=region_name,
            poll_interval=poll_interval,
            clock_skew_margin=clock_skew_margin,
        )
        if create_table:
            backend.create_table()
        return cls(
            backend,
            ThreadedAsyncBackend(backend, backend.poll_interval),
            default_ttl=default_ttl,
            default_wait=default_wait,
            operation_ttls=operation_ttls,
        )

    # --- locks --------------------------------------------------------------------

    def ttl_for(self, operation: str) -> float:
        """The lease length ``user_lock`` uses for ``operation``."""
        return self.operation_ttls.get(_validate.operation(operation), self.default_ttl)

    def lock(
        self,
        name: str,
        *,
        ttl: float | None = None,
        wait: float | None = None,
        auto_extend: bool = False,
        on_lost: Callable[[HeldLock], None] | None = None,
    ) -> AbstractContextManager[HeldLock]:
        """Hold lock ``name`` for the ``with`` block.

        ``ttl``: lease in seconds (default ``default_ttl``); ``wait``: how long to wait for
        it (default ``default_wait``; 0 = fail at once); ``auto_extend``: renew the lease
        every ``ttl/3`` while the block runs; ``on_lost``: called (from the renewer thread)
        if the lock is found lost.
        """
        return LockContext(self._backend, self._check(name, ttl, wait, auto_extend), on_lost)

    def user_lock(
        self,
        username: str,
        operation: str,
        *,
        ttl: float | None = None,
        wait: float | None = None,
        auto_extend: bool = False,
        on_lost: Callable[[HeldLock], None] | None = None,
    ) -> AbstractContextManager[HeldLock]:
        """Hold the lock of user ``username`` (``user:<username>``) for ``operation``.

        One lock per user, whatever the operation: a deposit and a withdrawal of the same
        user exclude each other. The lease defaults to ``ttl_for(operation)``.
        """
        request = self._user_request(username, operation, ttl, wait, auto_extend)
        return LockContext(self._backend, request, on_lost)

    def alock(
        self,
        name: str,
        *,
        ttl: float | None = None,
        wait: float | None = None,
        auto_extend: bool = False,
        on_lost: Callable[[AsyncHeldLock], None] | None = None,
    ) -> AbstractAsyncContextManager[AsyncHeldLock]:
        """``lock()`` for ``async with``; renewal runs as a task of the current loop."""
        return AsyncLockContext(self._async(), self._check(name, ttl, wait, auto_extend), on_lost)

    def auser_lock(
        self,
        username: str,
        operation: str,
        *,
        ttl: float | None = None,
        wait: float | None = None,
        auto_extend: bool = False,
        on_lost: Callable[[AsyncHeldLock], None] | None = None,
    ) -> AbstractAsyncContextManager[AsyncHeldLock]:
        """``user_lock()`` for ``async with``."""
        request = self._user_request(username, operation, ttl, wait, auto_extend)
        return AsyncLockContext(self._async(), request, on_lost)

    def force_release(self, name: str) -> bool:
        """Free ``name`` whoever holds it (an operator's tool); True if it was held.

        The evicted holder finds out at its next renewal, extend or release.
        """
        return self._backend.force_release(_validate.lock_name(name))

    async def aforce_release(self, name: str) -> bool:
        """``force_release()`` through the asyncio backend."""
        return await self._async().force_release(_validate.lock_name(name))

    def close(self) -> None:
        """Close the blocking backend's connections."""
        self._backend.close()

    async def aclose(self) -> None:
        """Close the asyncio backend's connections (and the blocking ones)."""
        if self._async_backend is not None:
            await self._async_backend.aclose()
        self._backend.close()

    # --- internals ----------------------------------------------------------------

    def _user_request(
        self,
        username: str,
        operation: str,
        ttl: float | None,
        wait: float | None,
        auto_extend: bool,
    ) -> LockRequest:
        """The request of ``user_lock``/``auser_lock``: one lock per user, lease per operation."""
        user = _validate.username(username)
        lease = self.ttl_for(operation) if ttl is None else ttl
        return self._check(f"user:{user}", lease, wait, auto_extend, user=user)

    def _check(
        self,
        name: str,
        ttl: float | None,
        wait: float | None,
        auto_extend: bool,
        *,
        user: str | None = None,
    ) -> LockRequest:
        return LockRequest(
            name=_validate.lock_name(name),
            ttl=self.default_ttl if ttl is None else _validate.ttl(ttl),
            wait=self.default_wait if wait is None else _validate.wait(wait),
            user=user,
            auto_extend=bool(auto_extend),
        )

    def _async(self) -> AsyncLockBackend:
        if self._async_backend is None:
            raise CNOPConfigurationException(
                "This LockManager was built without an asyncio backend; "
                "pass async_backend= or use LockManager.from_url()/in_memory()/dynamodb()"
            )
        return self._async_backend
