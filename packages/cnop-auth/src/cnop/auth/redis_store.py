"""A :class:`~cnop.auth.RevocationStore` in Redis, shared by every instance of a service.

Needs the ``redis`` extra (``pip install 'cnop-auth[redis]'``). Single node or Cluster:
a token's key and its session's key share a hash tag, so one ``EXISTS`` checks both.
Revocations are ``SET NX PX``: atomic, and gone when the tokens they stop have expired.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

try:
    import redis
    import redis.asyncio
    import redis.asyncio.cluster
    import redis.cluster
    from redis import exceptions as redis_errors
except ImportError as exc:  # the redis extra is not installed
    raise ImportError(
        "RedisRevocationStore needs redis-py: pip install 'cnop-auth[redis]'"
    ) from exc

from cnop.auth import store_core
from cnop.auth.arguments import require_callable
from cnop.exceptions import (
    CNOPConfigurationException,
    CNOPDatabaseOperationException,
    CNOPException,
    CNOPServiceUnavailableException,
)

SyncClient = redis.Redis | redis.cluster.RedisCluster
AsyncClient = redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster
T = TypeVar("T")
_S = TypeVar("_S", bound="_RedisStore")

DEFAULT_PREFIX = "cnop-auth:revoked"
DEFAULT_NONCE_PREFIX = "cnop-auth:nonce"
_SCHEMES = {
    "redis": ("redis", False),
    "rediss": ("rediss", False),
    "redis+cluster": ("redis", True),
    "rediss+cluster": ("rediss", True),
}
# SET NX PX, atomic; refused, it still answers 1 when the entry carries our own mark (our
# first attempt landed but its reply was lost), so a re-send is not mistaken for a rival.
_CLAIM_SCRIPT = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0
"""
# Errors after which a write may or may not have been applied.
_UNCERTAIN = (redis_errors.ConnectionError, redis_errors.TimeoutError)


class _RedisStore:
    """The clients, the error mapping and the one atomic write of both Redis stores."""

    default_prefix = DEFAULT_PREFIX

    def __init__(
        self,
        client: SyncClient | None = None,
        *,
        async_client: AsyncClient | None = None,
        prefix: str | None = None,
        target: str = "redis",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if client is None and async_client is None:
            raise CNOPConfigurationException(
                f"{type(self).__name__} needs a client or async_client"
            )
        if client is not None and not isinstance(client, (redis.Redis, redis.cluster.RedisCluster)):
            raise CNOPConfigurationException("client must be a redis.Redis or RedisCluster")
        if async_client is not None and not isinstance(
            async_client, (redis.asyncio.Redis, redis.asyncio.cluster.RedisCluster)
        ):
            raise CNOPConfigurationException(
                "async_client must be a redis.asyncio.Redis or RedisCluster"
            )
        self._client = client
        self._async_client = async_client
        self._prefix = store_core.require_prefix(self.default_prefix if prefix is None else prefix)
        self._target = target
        self._clock = require_callable(clock, "clock", "() -> epoch seconds")

    @classmethod
    def from_url(cls: type[_S], url: str, *, prefix: str | None = None) -> _S:
        """``redis://``, ``rediss://`` (TLS), ``redis+cluster://``, ``rediss+cluster://``.

        Both a blocking and an asyncio client are made (they connect on first use).
        """
        client_url, cluster, display = _parse_url(url)
        try:
            if cluster:
                return cls(
                    redis.cluster.RedisCluster.from_url(client_url),
                    async_client=redis.asyncio.cluster.RedisCluster.from_url(client_url),
                    prefix=prefix,
                    target=display,
                )
            return cls(
                redis.Redis.from_url(client_url),
                async_client=redis.asyncio.Redis.from_url(client_url),
                prefix=prefix,
                target=display,
            )
        except (ValueError, redis_errors.RedisError, redis_errors.RedisClusterException) as exc:
            raise CNOPConfigurationException(
                f"Redis URL for {display} is not usable ({type(exc).__name__})"
            ) from None

    def close(self) -> None:
        """Close the blocking client's connections."""
        if self._client is not None:
            self._client.close()

    async def aclose(self) -> None:
        """Close the asyncio client's connections."""
        if self._async_client is not None:
            await self._async_client.aclose()

    # -- the one write: SET NX PX, or (if refused) is the entry our own? -------------------

    def _claim(self, key: str, expires_at: datetime) -> bool:
        args = self._claim_args(key, expires_at)
        client = self._sync()
        return bool(self._run(lambda: client.eval(*args)))

    async def _claim_async(self, key: str, expires_at: datetime) -> bool:
        args = self._claim_args(key, expires_at)
        client = self._async()
        return bool(await self._run_async(lambda: client.eval(*args)))

    def _claim_args(self, key: str, expires_at: datetime) -> tuple[Any, ...]:
        ttl = store_core.ttl_ms(store_core.require_expiry(expires_at), self._clock())
        # One owner mark per call, the same on a re-send after a lost reply.
        return (_CLAIM_SCRIPT, 1, key, store_core.new_owner(), ttl)

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _ids(jti: str, sid: str | None) -> tuple[str, str | None]:
        return (
            store_core.require_id(jti, "jti"),
            None if sid is None else store_core.require_id(sid, "sid"),
        )

    def _check_keys(self, jti: str, sid: str | None) -> list[str]:
        token_key, session_key = store_core.redis_keys(self._prefix, *self._ids(jti, sid))
        return [token_key] if session_key is None else [token_key, session_key]

    def _sync(self) -> SyncClient:
        if self._client is None:
            raise CNOPConfigurationException(
                "This RedisRevocationStore has only an async client: use the *_async methods"
            )
        return self._client

    def _async(self) -> AsyncClient:
        if self._async_client is None:
            raise CNOPConfigurationException(
                "This RedisRevocationStore has no async client: pass async_client="
            )
        return self._async_client

    def _run(self, command: Callable[[], Any]) -> Any:
        # Safe to send twice: reads, and the claim script (it recognises its own write).
        for attempt in range(store_core.WRITE_ATTEMPTS):
            try:
                return command()
            except _UNCERTAIN as exc:
                if attempt + 1 == store_core.WRITE_ATTEMPTS:
                    raise self._map(exc) from None
            except (redis_errors.RedisError, redis_errors.RedisClusterException) as exc:
                raise self._map(exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _run_async(self, command: Callable[[], Awaitable[T]]) -> T:
        for attempt in range(store_core.WRITE_ATTEMPTS):
            try:
                return await command()
            except _UNCERTAIN as exc:
                if attempt + 1 == store_core.WRITE_ATTEMPTS:
                    raise self._map(exc) from None
            except (redis_errors.RedisError, redis_errors.RedisClusterException) as exc:
                raise self._map(exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _map(self, exc: Exception) -> CNOPException:
        unreachable = (*_UNCERTAIN, redis_errors.ClusterError, redis_errors.RedisClusterException)
        if isinstance(exc, unreachable):
            return CNOPServiceUnavailableException(
                f"Revocation store {self._target} is unreachable ({type(exc).__name__})",
                details={"backend": "redis", "target": self._target},
            )
        return CNOPDatabaseOperationException(
            f"Revocation store {self._target} refused a command ({type(exc).__name__})",
            details={"backend": "redis", "target": self._target},
        )


class RedisRevocationStore(_RedisStore):
    """Revoked tokens and sessions in Redis.

    >>> store = RedisRevocationStore.from_url("redis://localhost:6379/0")
    >>> tokens = TokenManager(settings, revocation=store)

    ``client`` serves the blocking methods, ``async_client`` the ``*_async`` ones (either
    may be omitted if that form is never used). ``prefix`` namespaces the keys.
    """

    # -- blocking --------------------------------------------------------------------------

    def is_revoked(self, jti: str, sid: str | None = None) -> bool:
        keys = self._check_keys(jti, sid)
        client = self._sync()
        return bool(self._run(lambda: client.exists(*keys)))

    def revoke(self, jti: str, expires_at: datetime, sid: str | None = None) -> bool:
        key, _ = store_core.redis_keys(self._prefix, *self._ids(jti, sid))
        return self._claim(key, expires_at)

    def revoke_session(self, sid: str, expires_at: datetime) -> bool:
        key = store_core.session_key(self._prefix, store_core.require_id(sid, "sid"))
        return self._claim(key, expires_at)

    # -- asyncio ---------------------------------------------------------------------------

    async def is_revoked_async(self, jti: str, sid: str | None = None) -> bool:
        keys = self._check_keys(jti, sid)
        client = self._async()
        return bool(await self._run_async(lambda: client.exists(*keys)))

    async def revoke_async(self, jti: str, expires_at: datetime, sid: str | None = None) -> bool:
        key, _ = store_core.redis_keys(self._prefix, *self._ids(jti, sid))
        return await self._claim_async(key, expires_at)

    async def revoke_session_async(self, sid: str, expires_at: datetime) -> bool:
        key = store_core.session_key(self._prefix, store_core.require_id(sid, "sid"))
        return await self._claim_async(key, expires_at)


class RedisNonceStore(_RedisStore):
    """Used gateway nonces in Redis (``SET NX EX``), shared by every instance.

    >>> signer = GatewaySigner.from_env(nonces=RedisNonceStore.from_url(url))
    """

    default_prefix = DEFAULT_NONCE_PREFIX

    def use_once(self, nonce: str, ttl_seconds: int) -> bool:
        return self._claim(self._nonce_key(nonce), self._expiry(ttl_seconds))

    async def use_once_async(self, nonce: str, ttl_seconds: int) -> bool:
        return await self._claim_async(self._nonce_key(nonce), self._expiry(ttl_seconds))

    def _nonce_key(self, nonce: str) -> str:
        return f"{self._prefix}:{store_core.require_id(nonce, 'nonce')}"

    def _expiry(self, ttl_seconds: int) -> datetime:
        ttl = store_core.require_ttl_seconds(ttl_seconds)
        return datetime.fromtimestamp(self._clock() + ttl, tz=timezone.utc)


def _parse_url(url: str) -> tuple[str, bool, str]:
    """(client URL, is a cluster, a display form without credentials)."""
    if not isinstance(url, str) or not url.strip():
        raise CNOPConfigurationException("The Redis URL must be a non-empty string")
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise CNOPConfigurationException(
            f"The Redis URL scheme must be one of {', '.join(sorted(_SCHEMES))}"
        )
    try:
        port = parts.port
    except ValueError:
        raise CNOPConfigurationException("The Redis URL has an invalid port") from None
    if not parts.hostname:
        raise CNOPConfigurationException("The Redis URL must name a host: redis://host:6379/0")
    client_scheme, cluster = _SCHEMES[scheme]
    display = f"{scheme}://{parts.hostname}:{port or 6379}"
    return urlunsplit((client_scheme, *parts[1:])), cluster, display
