"""Redis lock stores (single node or cluster), blocking and asyncio, over redis-py.

Both classes only execute what ``redis_core`` builds; neither holds any lock logic.
Clients made from a URL get short connect/read timeouts and one immediate retry, so an
unreachable Redis is reported within the caller's wait bound and a restarted Redis is
picked up by the next call.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError
from redis.retry import Retry

from cnop.exceptions import CNOPConfigurationException, CNOPValidationException
from cnop.locking import _validate, redis_core
from cnop.locking.backend import Attempt

CONNECT_TIMEOUT = 2.0
#: Must exceed the longest BLPOP a waiter sends (``acquisition.MAX_SINGLE_WAIT``).
READ_TIMEOUT = 5.0

SyncClient = redis.Redis | redis.cluster.RedisCluster
AsyncClient = redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster


def _client_options(target: redis_core.RedisTarget, *, asyncio: bool) -> dict[str, Any]:
    options: dict[str, Any] = {
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "socket_timeout": READ_TIMEOUT,
    }
    if not target.cluster:
        # Each face needs its own Retry class: redis.asyncio.Redis given the blocking one
        # never re-sends a command whose reply was lost.
        options["retry"] = AsyncRetry(NoBackoff(), 1) if asyncio else Retry(NoBackoff(), 1)
    return options


def sync_client(url: str) -> SyncClient:
    """A blocking redis-py client for ``url`` (any scheme ``redis_core.parse_url`` accepts)."""
    target = redis_core.parse_url(url)
    try:
        if target.cluster:  # a cluster client asks the nodes for the slot map at once
            return redis.cluster.RedisCluster.from_url(
                target.url, **_client_options(target, asyncio=False)
            )
        return redis.Redis.from_url(target.url, **_client_options(target, asyncio=False))
    except ValueError as exc:
        raise _bad_option(exc) from None
    except redis_core.REDIS_ERRORS as exc:
        raise redis_core.map_error(exc, f"Redis Cluster at {target.display}") from None


def async_client(url: str) -> AsyncClient:
    """An asyncio redis-py client for ``url``."""
    target = redis_core.parse_url(url)
    try:
        if target.cluster:
            return redis.asyncio.cluster.RedisCluster.from_url(
                target.url, **_client_options(target, asyncio=True)
            )
        return redis.asyncio.Redis.from_url(target.url, **_client_options(target, asyncio=True))
    except ValueError as exc:
        raise _bad_option(exc) from None


def _bad_option(exc: ValueError) -> CNOPConfigurationException:
    # redis-py names the bad query option (never the password): "Invalid value for 'x' ..."
    return CNOPConfigurationException(f"Redis URL has an invalid option: {exc}")


def _describe(client: SyncClient | AsyncClient) -> tuple[str, str]:
    """(kind, where) of a client, for messages and metrics; never the password."""
    if isinstance(client, (redis.cluster.RedisCluster, redis.asyncio.cluster.RedisCluster)):
        node = getattr(client.nodes_manager, "default_node", None)
        startup = list(getattr(client.nodes_manager, "startup_nodes", {}))
        where = f"{node.host}:{node.port}" if node is not None else ",".join(startup) or "?"
        return "redis-cluster", f"Redis Cluster at {where}"
    kwargs = client.connection_pool.connection_kwargs
    return "redis", f"Redis at {kwargs.get('host', '?')}:{kwargs.get('port', '?')}"


def _client_of(client: Any, *, asyncio: bool) -> Any:
    """``client`` if it is a redis-py client of the right face, else a typed error."""
    wanted: tuple[type, ...] = (
        (redis.asyncio.Redis, redis.asyncio.cluster.RedisCluster)
        if asyncio
        else (redis.Redis, redis.cluster.RedisCluster)
    )
    if isinstance(client, wanted):
        return client
    if asyncio:
        expected = "an asyncio redis-py client (redis.asyncio.Redis or its RedisCluster)"
    else:
        expected = "a blocking redis-py client (redis.Redis or redis.cluster.RedisCluster)"
    raise CNOPValidationException.for_field(
        "client", f"must be {expected}, got {type(client).__module__}.{type(client).__name__}"
    )


class RedisLockBackend:
    """Locks in Redis through a blocking client (``redis.Redis`` or ``RedisCluster``)."""

    def __init__(self, client: SyncClient) -> None:
        self._client = _client_of(client, asyncio=False)
        self.kind, self._target = _describe(client)
        self._acquire = client.register_script(redis_core.ACQUIRE)
        self._release = client.register_script(redis_core.RELEASE)
        self._extend = client.register_script(redis_core.EXTEND)
        self._force_release = client.register_script(redis_core.FORCE_RELEASE)

    @classmethod
    def from_url(cls, url: str) -> RedisLockBackend:
        return cls(sync_client(url))

    def try_acquire(self, name: str, token: str, ttl: float, previous: Attempt | None) -> Attempt:
        name, token, ttl, previous = _validate.acquire_args(name, token, ttl, previous)
        keys, args = redis_core.acquire_args(redis_core.keys_for(name), token, ttl)
        return redis_core.parse_acquire(self._call(self._acquire, keys, args))

    def release(self, name: str, token: str) -> bool:
        name, token = _validate.owner_args(name, token)
        keys, args = redis_core.release_args(redis_core.keys_for(name), token)
        return bool(self._call(self._release, keys, args) == 1)

    def extend(self, name: str, token: str, ttl: float) -> bool:
        name, token, ttl = _validate.extend_args(name, token, ttl)
        keys, args = redis_core.extend_args(redis_core.keys_for(name), token, ttl)
        return bool(self._call(self._extend, keys, args) == 1)

    def force_release(self, name: str) -> bool:
        keys, args = redis_core.force_release_args(redis_core.keys_for(_validate.lock_name(name)))
        return bool(self._call(self._force_release, keys, args) == 1)

    def wait_for_release(self, name: str, timeout: float) -> bool:
        name, timeout = _validate.wait_args(name, timeout)
        signal = redis_core.keys_for(name).signal
        try:
            return self._client.blpop([signal], redis_core.blocking_timeout(timeout)) is not None
        except redis_core.REDIS_ERRORS as exc:
            raise redis_core.map_error(exc, self._target) from None

    def close(self) -> None:
        self._client.close()

    def _call(self, script: Any, keys: list[str], args: list[str | int]) -> Any:
        try:
            try:  # EVALSHA directly: redis-py's Script wrapper costs more than the call
                return self._client.evalsha(script.sha, len(keys), *keys, *args)
            except NoScriptError:  # a new or flushed server: load it, then run it
                return script(keys=keys, args=args)
        except redis_core.REDIS_ERRORS as exc:
            raise redis_core.map_error(exc, self._target) from None


class AsyncRedisLockBackend:
    """Locks in Redis through an asyncio client; use it from one event loop."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = _client_of(client, asyncio=True)
        self.kind, self._target = _describe(client)
        # An asyncio cluster client loads its slot map on first use; concurrent first
        # commands then go to arbitrary nodes, and the MOVED replies make redis-py reset
        # connections that other tasks are using. Load it once, before anything else.
        self._unloaded_cluster = (
            client if isinstance(client, redis.asyncio.cluster.RedisCluster) else None
        )
        self._cluster_loading: asyncio.Lock | None = None
        self._acquire = client.register_script(redis_core.ACQUIRE)
        self._release = client.register_script(redis_core.RELEASE)
        self._extend = client.register_script(redis_core.EXTEND)
        self._force_release = client.register_script(redis_core.FORCE_RELEASE)

    @classmethod
    def from_url(cls, url: str) -> AsyncRedisLockBackend:
        return cls(async_client(url))

    async def try_acquire(
        self, name: str, token: str, ttl: float, previous: Attempt | None
    ) -> Attempt:
        name, token, ttl, previous = _validate.acquire_args(name, token, ttl, previous)
        keys, args = redis_core.acquire_args(redis_core.keys_for(name), token, ttl)
        return redis_core.parse_acquire(await self._call(self._acquire, keys, args))

    async def release(self, name: str, token: str) -> bool:
        name, token = _validate.owner_args(name, token)
        keys, args = redis_core.release_args(redis_core.keys_for(name), token)
        return bool(await self._call(self._release, keys, args) == 1)

    async def extend(self, name: str, token: str, ttl: float) -> bool:
        name, token, ttl = _validate.extend_args(name, token, ttl)
        keys, args = redis_core.extend_args(redis_core.keys_for(name), token, ttl)
        return bool(await self._call(self._extend, keys, args) == 1)

    async def force_release(self, name: str) -> bool:
        keys, args = redis_core.force_release_args(redis_core.keys_for(_validate.lock_name(name)))
        return bool(await self._call(self._force_release, keys, args) == 1)

    async def wait_for_release(self, name: str, timeout: float) -> bool:
        name, timeout = _validate.wait_args(name, timeout)
        signal = redis_core.keys_for(name).signal
        try:
            await self._ready()
            popped = await self._client.blpop([signal], redis_core.blocking_timeout(timeout))
            return popped is not None
        except redis_core.REDIS_ERRORS as exc:
            raise redis_core.map_error(exc, self._target) from None

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _call(self, script: Any, keys: list[str], args: list[str | int]) -> Any:
        try:
            await self._ready()
            try:
                return await self._client.evalsha(script.sha, len(keys), *keys, *args)
            except NoScriptError:
                return await script(keys=keys, args=args)
        except redis_core.REDIS_ERRORS as exc:
            raise redis_core.map_error(exc, self._target) from None

    async def _ready(self) -> None:
        if self._unloaded_cluster is None:
            return
        if self._cluster_loading is None:
            self._cluster_loading = asyncio.Lock()
        async with self._cluster_loading:
            if self._unloaded_cluster is not None:
                await self._unloaded_cluster.initialize()
                self._unloaded_cluster = None
