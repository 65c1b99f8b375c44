"""FastAPI wiring: one set of DynamoDB clients per process, DAO dependencies, health routes.

Needs the ``fastapi`` extra (``pip install 'cnop-data[fastapi]'``: FastAPI and aioboto3);
nothing else in ``cnop.data`` imports FastAPI.

>>> from fastapi import Depends, FastAPI
>>> from cnop.data import User, UserDAO
>>> from cnop.data.fastapi import cnop_lifespan, get_user_dao, health_router
>>> app = FastAPI(lifespan=cnop_lifespan())        # settings from the environment
>>> app.include_router(health_router(service="user_service"))
>>> @app.get("/users/{username}")
... def read_user(username: str, users: UserDAO = Depends(get_user_dao)) -> User:
...     return users.get_user_by_username(username)

The lifespan opens the boto3 client and the aiobotocore client at start-up, builds every
DAO and both transaction managers once, keeps them in ``app.state.cnop_data`` (a
:class:`DataState`) and closes the clients at shut-down. An app with a lifespan of its own
passes it as ``cnop_lifespan(lifespan=...)``: it runs inside, with the clients open.
"""

# No `from __future__ import annotations`: FastAPI reads the dependencies' annotations
# at runtime.

import inspect
import os
import re
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

try:
    from fastapi import APIRouter, FastAPI, Request
    from fastapi.responses import JSONResponse
except ImportError as exc:  # the fastapi extra is not installed
    raise ImportError("cnop.data.fastapi needs FastAPI: pip install 'cnop-data[fastapi]'") from exc

from cnop.data.aio import (
    AsyncAssetBalanceDAO,
    AsyncAssetDAO,
    AsyncAssetTransactionDAO,
    AsyncBalanceDAO,
    AsyncOrderDAO,
    AsyncUserDAO,
    open_async_client,
)
from cnop.data.config import DataSettings
from cnop.data.dao import (
    AssetBalanceDAO,
    AssetDAO,
    AssetTransactionDAO,
    BalanceDAO,
    OrderDAO,
    UserDAO,
)
from cnop.data.health import DEFAULT_DEADLINE, HealthReport, async_check_health, checked_deadline
from cnop.data.transactions import (
    AsyncTransactionManager,
    AsyncUserLocks,
    TransactionManager,
    UserLocks,
)
from cnop.exceptions import CNOPConfigurationException

__all__ = [
    "STATE_KEY",
    "DataState",
    "cnop_lifespan",
    "get_asset_balance_dao",
    "get_asset_dao",
    "get_asset_transaction_dao",
    "get_async_asset_balance_dao",
    "get_async_asset_dao",
    "get_async_asset_transaction_dao",
    "get_async_balance_dao",
    "get_async_order_dao",
    "get_async_transaction_manager",
    "get_async_user_dao",
    "get_balance_dao",
    "get_data_state",
    "get_order_dao",
    "get_transaction_manager",
    "get_user_dao",
    "health_router",
]

#: The attribute of ``app.state`` that holds the :class:`DataState`.
STATE_KEY = "cnop_data"

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[Any]]


@dataclass(frozen=True)
class DataState:
    """What the lifespan opened for this process: clients, DAOs and transaction managers."""

    settings: DataSettings
    client: Any
    async_client: Any
    redis: Any
    users: UserDAO
    balances: BalanceDAO
    orders: OrderDAO
    assets: AssetDAO
    asset_balances: AssetBalanceDAO
    asset_transactions: AssetTransactionDAO
    async_users: AsyncUserDAO
    async_balances: AsyncBalanceDAO
    async_orders: AsyncOrderDAO
    async_assets: AsyncAssetDAO
    async_asset_balances: AsyncAssetBalanceDAO
    async_asset_transactions: AsyncAssetTransactionDAO
    transactions: TransactionManager
    async_transactions: AsyncTransactionManager


def _open_sync_client(settings: DataSettings) -> Any:
    # A client of the app's own, not the process-wide cached one of dynamodb_client():
    # closing that one at shut-down would break whoever else holds it.
    import boto3.session  # noqa: PLC0415 - loaded with the app, not with cnop.data

    return boto3.session.Session().client("dynamodb", **settings.client_kwargs())


def _check_redis(redis: Any) -> None:
    if redis is None:
        return
    if isinstance(redis, str):
        if not redis.startswith(("redis://", "rediss://", "unix://")):
            raise CNOPConfigurationException(
                "redis must be a redis://, rediss:// or unix:// URL, or a redis.asyncio client"
            )
    elif not inspect.iscoroutinefunction(getattr(redis, "ping", None)):
        raise CNOPConfigurationException(
            "redis must be a URL or an asyncio client (redis.asyncio.Redis): its ping is awaited"
        )


def _async_redis(redis: Any, stack: AsyncExitStack) -> Any:
    """An asyncio Redis client for the readiness check; one we made is closed with ``stack``."""
    if isinstance(redis, str):
        try:
            import redis.asyncio as aioredis  # noqa: PLC0415 - the cache extra
        except ImportError:
            raise CNOPConfigurationException(
                "A Redis readiness check needs redis: pip install 'cnop-data[cache]'"
            ) from None
        # Short socket timeouts: a readiness probe must not hang on a dead Redis.
        client = aioredis.from_url(redis, socket_timeout=2.0, socket_connect_timeout=2.0)
        stack.push_async_callback(client.aclose)
        return client
    return redis  # None, or the app's own client: the app closes it


def _checked_locks(locks: object, method: str, what: str) -> Any:
    if locks is not None and not callable(getattr(locks, method, None)):
        raise CNOPConfigurationException(f"{what} must have a {method}(username, operation) method")
    return locks


def cnop_lifespan(
    settings: DataSettings | None = None,
    *,
    redis: Any = None,
    locks: UserLocks | None = None,
    async_locks: AsyncUserLocks | None = None,
    lifespan: Lifespan | None = None,
) -> Lifespan:
    """A lifespan for ``FastAPI(lifespan=...)`` that opens the data layer once per process.

    ``settings`` default to :meth:`DataSettings.from_env` (read at start-up). ``redis``
    (a URL, or a ``redis.asyncio`` client the app owns) is checked by ``/health/ready``.
    ``locks`` / ``async_locks`` (e.g. a ``cnop.locking.LockManager``, which is both) are
    handed to the transaction managers. ``lifespan`` is the app's own lifespan: it runs
    once the clients are open, and they close after it ends. Bad arguments raise
    ``CNOPConfigurationException`` here, not at start-up.
    """
    if settings is not None and not isinstance(settings, DataSettings):
        raise CNOPConfigurationException("settings must be a DataSettings (or None: environment)")
    if lifespan is not None and not callable(lifespan):
        raise CNOPConfigurationException("lifespan must be a callable app -> async context manager")
    _check_redis(redis)
    _checked_locks(locks, "user_lock", "locks")
    _checked_locks(async_locks, "auser_lock", "async_locks")

    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[Any]:
        chosen = settings if settings is not None else DataSettings.from_env()
        async with AsyncExitStack() as stack:
            client = _open_sync_client(chosen)
            stack.callback(client.close)
            async_client = await stack.enter_async_context(open_async_client(chosen))
            state = DataState(
                settings=chosen,
                client=client,
                async_client=async_client,
                redis=_async_redis(redis, stack),
                users=UserDAO(settings=chosen, client=client),
                balances=BalanceDAO(settings=chosen, client=client),
                orders=OrderDAO(settings=chosen, client=client),
                assets=AssetDAO(settings=chosen, client=client),
                asset_balances=AssetBalanceDAO(settings=chosen, client=client),
                asset_transactions=AssetTransactionDAO(settings=chosen, client=client),
                async_users=AsyncUserDAO(async_client, settings=chosen),
                async_balances=AsyncBalanceDAO(async_client, settings=chosen),
                async_orders=AsyncOrderDAO(async_client, settings=chosen),
                async_assets=AsyncAssetDAO(async_client, settings=chosen),
                async_asset_balances=AsyncAssetBalanceDAO(async_client, settings=chosen),
                async_asset_transactions=AsyncAssetTransactionDAO(async_client, settings=chosen),
                transactions=TransactionManager(settings=chosen, client=client, locks=locks),
                async_transactions=AsyncTransactionManager(
                    async_client, settings=chosen, locks=async_locks
                ),
            )
            setattr(app.state, STATE_KEY, state)
            try:
                if lifespan is None:
                    yield None
                else:
                    async with lifespan(app) as inner:
                        yield inner
            finally:
                # Requests after shut-down get a clear error, not a closed client.
                if getattr(app.state, STATE_KEY, None) is state:
                    delattr(app.state, STATE_KEY)

    return run


# dependencies ----------------------------------------------------------------------------


def get_data_state(request: Request) -> DataState:
    """The :class:`DataState` the lifespan put on ``app.state``."""
    state = getattr(request.app.state, STATE_KEY, None)
    if not isinstance(state, DataState):
        raise CNOPConfigurationException(
            "cnop.data is not open in this app: create it with FastAPI(lifespan=cnop_lifespan())"
        )
    return state


def get_user_dao(request: Request) -> UserDAO:
    return get_data_state(request).users


def get_balance_dao(request: Request) -> BalanceDAO:
    return get_data_state(request).balances


def get_order_dao(request: Request) -> OrderDAO:
    return get_data_state(request).orders


def get_asset_dao(request: Request) -> AssetDAO:
    return get_data_state(request).assets


def get_asset_balance_dao(request: Request) -> AssetBalanceDAO:
    return get_data_state(request).asset_balances


def get_asset_transaction_dao(request: Request) -> AssetTransactionDAO:
    return get_data_state(request).asset_transactions


def get_async_user_dao(request: Request) -> AsyncUserDAO:
    return get_data_state(request).async_users


def get_async_balance_dao(request: Request) -> AsyncBalanceDAO:
    return get_data_state(request).async_balances


def get_async_order_dao(request: Request) -> AsyncOrderDAO:
    return get_data_state(request).async_orders


def get_async_asset_dao(request: Request) -> AsyncAssetDAO:
    return get_data_state(request).async_assets


def get_async_asset_balance_dao(request: Request) -> AsyncAssetBalanceDAO:
    return get_data_state(request).async_asset_balances


def get_async_asset_transaction_dao(request: Request) -> AsyncAssetTransactionDAO:
    return get_data_state(request).async_asset_transactions


def get_transaction_manager(request: Request) -> TransactionManager:
    return get_data_state(request).transactions


def get_async_transaction_manager(request: Request) -> AsyncTransactionManager:
    return get_data_state(request).async_transactions


# health ----------------------------------------------------------------------------------

# A label shown in every health body: visible ASCII, no spaces at either end.
_LABEL = re.compile(r"[\x21-\x7e]([\x20-\x7e]{0,126}[\x21-\x7e])?")


def _label(value: object, what: str) -> str:
    if not isinstance(value, str) or not _LABEL.fullmatch(value):
        raise CNOPConfigurationException(
            f"{what} must be 1-128 visible ASCII characters without surrounding spaces"
        )
    return value


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _body(
    base: Mapping[str, str], status: str, checks: Mapping[str, str], **extra: Any
) -> dict[str, Any]:
    """The original services' health body: status, service, version, timestamp, environment
    and a ``checks`` object of strings."""
    return {"status": status, **base, "timestamp": _now(), "checks": dict(checks), **extra}


def _readiness(base: Mapping[str, str], report: HealthReport) -> JSONResponse:
    checks = {"api": "ok", "service": "ready" if report.healthy else "not_ready"}
    checks.update({name: result.status for name, result in report.checks.items()})
    body = _body(
        base,
        "healthy" if report.healthy else "unhealthy",
        checks,
        dependencies=report.to_dict()["checks"],
    )
    return JSONResponse(body, status_code=200 if report.healthy else 503)


def health_router(
    *,
    service: str,
    version: str = "1.0.0",
    environment: str | None = None,
    deadline: float = DEFAULT_DEADLINE,
    prefix: str = "/health",
) -> APIRouter:
    """``/health`` and ``/health/live`` (always 200) and ``/health/ready`` (200 or 503).

    The bodies keep the shape of the original CNOP services' ``/health``: ``status``
    (``healthy``/``unhealthy``), ``service``, ``version``, ``timestamp``, ``environment``
    (default: the ``ENVIRONMENT`` variable, else ``development``) and ``checks``. Liveness
    touches no dependency (a slow database must not get the process restarted);
    readiness describes the tables (and pings Redis, when the lifespan got one) within
    ``deadline`` seconds and adds each dependency's status to ``checks`` and its
    details under ``dependencies``.
    """
    base = {
        "service": _label(service, "service"),
        "version": _label(version, "version"),
        "environment": _label(
            environment
            if environment is not None
            else (os.environ.get("ENVIRONMENT", "").strip() or "development"),
            "environment",
        ),
    }
    seconds = checked_deadline(deadline)
    if not isinstance(prefix, str) or not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", prefix):
        raise CNOPConfigurationException("prefix must be a path such as /health")
    router = APIRouter(tags=["health"])

    async def live() -> dict[str, Any]:
        return _body(base, "healthy", {"api": "ok", "service": "running"})

    async def ready(request: Request) -> JSONResponse:
        state = get_data_state(request)
        report = await async_check_health(
            state.async_client, state.settings.tables, redis=state.redis, deadline=seconds
        )
        return _readiness(base, report)

    router.add_api_route(prefix, live, methods=["GET"], summary="Liveness (original shape)")
    router.add_api_route(f"{prefix}/live", live, methods=["GET"], summary="Liveness")
    router.add_api_route(f"{prefix}/ready", ready, methods=["GET"], summary="Readiness")
    return router
