"""Health checks that answer within a deadline: which tables (and Redis) are fine, and why not.

``check_health(client, tables, deadline=2.0)`` describes the three tables in parallel
(threads; the async form uses tasks) and returns by the deadline whatever happens to
DynamoDB: a table that has not answered by then is reported ``timeout``. The calls go
through a companion client made for health checks: same region, endpoint, credentials
and options as ``client``, but no retries and connect/read timeouts that fit within the
deadline, so a probe never waits out the retries of the process-wide client (whose
settings are left alone) and its threads end soon after the deadline.

Each check reports ``ok``, a ``status`` (``ok``, ``timeout``, ``unreachable``,
``missing``, ``wrong_schema``, ``not_active``, ``error``), its latency and, on failure,
a short reason without secrets. They never raise for a failing dependency, only for
bad arguments — ready for a service's ``/health`` route.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Future, wait
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from cnop.data.config import TableNames
from cnop.data.errors import map_error
from cnop.data.tables import checked_tables, schema_problems, table_definitions
from cnop.exceptions import CNOPValidationException

__all__ = ["DEFAULT_DEADLINE", "CheckResult", "HealthReport", "async_check_health", "check_health"]

#: Seconds a whole health check may take; well under a load balancer's probe timeout.
DEFAULT_DEADLINE = 2.0
_MAX_DEADLINE = 60.0
#: Statuses of tables that can serve requests (UPDATING: e.g. a billing-mode change).
_SERVING = ("ACTIVE", "UPDATING")


@dataclass(frozen=True)
class CheckResult:
    """One dependency's answer. ``status`` is ``"ok"`` when ``ok``, else what went wrong."""

    ok: bool
    latency_ms: float
    detail: str = ""
    status: str = ""

    def __post_init__(self) -> None:
        if not self.status:
            object.__setattr__(self, "status", "ok" if self.ok else "error")


@dataclass(frozen=True)
class HealthReport:
    checks: dict[str, CheckResult] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return all(c.ok for c in self.checks.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "checks": {
                name: {
                    "ok": c.ok,
                    "status": c.status,
                    "latency_ms": round(c.latency_ms, 2),
                    "detail": c.detail,
                }
                for name, c in self.checks.items()
            },
        }


# the shared core: arguments, the probe client's options, and reading each outcome -------


def checked_deadline(deadline: object) -> float:
    """``deadline`` as float seconds; CNOPValidationException unless a number in (0, 60]."""
    if (
        isinstance(deadline, bool)
        or not isinstance(deadline, (int, float))
        or not math.isfinite(deadline)
        or not 0 < deadline <= _MAX_DEADLINE
    ):
        shown = repr(deadline) if isinstance(deadline, (int, float)) else type(deadline).__name__
        raise CNOPValidationException.for_field(
            "deadline",
            f"must be a number of seconds above 0 and at most {_MAX_DEADLINE:g} (got {shown})",
        )
    return float(deadline)


def checked_dependencies(client: Any, redis: Any, *, asynchronous: bool) -> None:
    """Refuse a ``client`` or ``redis`` that cannot be asked, or of the other flavour.

    A sync check given a ``redis.asyncio`` client would report a PING it never awaited as
    fine; an async one given a sync client would report every answer as an error. Both
    are wiring mistakes, refused with CNOPValidationException rather than reported as the
    health of a dependency.
    """
    flavour = "an async (aiobotocore)" if asynchronous else "a boto3"
    if not callable(getattr(client, "describe_table", None)):
        raise CNOPValidationException.for_field(
            "client", f"must be {flavour} DynamoDB client, not {type(client).__name__}"
        )
    module = type(client).__module__
    if (module == "botocore.client") if asynchronous else module.startswith("aiobotocore"):
        raise CNOPValidationException.for_field(
            "client", f"must be {flavour} DynamoDB client, not {module}.{type(client).__name__}"
        )
    if redis is None:
        return
    wanted = "a redis.asyncio client" if asynchronous else "a redis.Redis (or RedisCluster) client"
    if not callable(getattr(redis, "ping", None)):
        raise CNOPValidationException.for_field(
            "redis", f"must be {wanted} or None, not {type(redis).__name__}"
        )
    if type(redis).__module__.startswith("redis.asyncio") != asynchronous:
        raise CNOPValidationException.for_field(
            "redis", f"must be {wanted} or None, not {type(redis).__name__}"
        )


def _probe_options(deadline: float) -> dict[str, Any]:
    """Config options of the probe client: one attempt whose connect + read fit the deadline."""
    half = max(deadline / 2, 0.01)
    return {
        "connect_timeout": half,
        "read_timeout": half,
        "retries": {"mode": "standard", "total_max_attempts": 1},
        "max_pool_connections": 4,
    }


@dataclass(frozen=True)
class _Outcome:
    value: Any = None
    error: BaseException | None = None
    elapsed_ms: float = 0.0


def _is_timeout(error: BaseException) -> bool:
    if isinstance(error, (ReadTimeoutError, ConnectTimeoutError, TimeoutError)):
        return True
    return any(cls.__name__ == "TimeoutError" for cls in type(error).__mro__)  # redis's own


def _is_unreachable(error: BaseException) -> bool:
    if isinstance(error, (EndpointConnectionError, ConnectionClosedError, OSError)):
        return True
    return any(cls.__name__ == "ConnectionError" for cls in type(error).__mro__)


def _table_result(
    name: str, definition: Mapping[str, Any], outcome: _Outcome | None, deadline: float
) -> CheckResult:
    if outcome is None:  # still waiting at the deadline
        return CheckResult(
            False,
            deadline * 1000,
            f"DynamoDB did not answer for table '{name}' within {deadline:g} s",
            "timeout",
        )
    if outcome.error is not None:
        return _failed_call(name, outcome.error, outcome.elapsed_ms)
    status, detail = _table_state(name, definition, outcome.value.get("Table", {}))
    return CheckResult(status == "ok", outcome.elapsed_ms, detail, status)


def _failed_call(name: str, error: BaseException, elapsed: float) -> CheckResult:
    message = map_error(error, table=name, operation="describe_table").message
    response = getattr(error, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    if code == "ResourceNotFoundException":
        status = "missing"
    elif _is_timeout(error):
        status, message = "timeout", f"DynamoDB did not answer for table '{name}' in time"
    elif _is_unreachable(error):
        status = "unreachable"
    else:
        status = "error"
    return CheckResult(False, elapsed, message, status)


def _table_state(
    name: str, definition: Mapping[str, Any], table: Mapping[str, Any]
) -> tuple[str, str]:
    """(status, detail) of a described table: serving, keyed as needed, indexes built."""
    status = table.get("TableStatus", "UNKNOWN")
    if status not in _SERVING:
        return "not_active", f"table '{name}' is {status}"
    problems = schema_problems(definition, table)
    if problems:
        return "wrong_schema", f"table '{name}': {'; '.join(problems)}"
    building = [
        str(i.get("IndexName"))
        for i in table.get("GlobalSecondaryIndexes") or []
        if i.get("IndexStatus", "ACTIVE") not in _SERVING
    ]
    if building:
        return "not_active", f"table '{name}': index {', '.join(building)} not active yet"
    return "ok", ""


def _redis_result(outcome: _Outcome | None, deadline: float) -> CheckResult:
    if outcome is None:
        return CheckResult(
            False, deadline * 1000, f"Redis did not answer within {deadline:g} s", "timeout"
        )
    if outcome.error is None:
        return CheckResult(True, outcome.elapsed_ms, "", "ok")
    error = outcome.error
    status = (
        "timeout" if _is_timeout(error) else "unreachable" if _is_unreachable(error) else "error"
    )
    return CheckResult(
        False, outcome.elapsed_ms, f"Redis did not answer ({type(error).__name__})", status
    )


def _report(
    tables: TableNames,
    outcomes: Mapping[str, _Outcome | None],
    deadline: float,
    with_redis: bool,
) -> HealthReport:
    checks = {
        f"dynamodb:{d['TableName']}": _table_result(
            d["TableName"], d, outcomes[f"dynamodb:{d['TableName']}"], deadline
        )
        for d in table_definitions(tables)
    }
    if with_redis:
        checks["redis"] = _redis_result(outcomes["redis"], deadline)
    return HealthReport(checks)


class _SameCredentials:
    """A credential resolver that hands the probe client the source client's credentials.

    The same object, so refreshable credentials (roles, web identity) stay refreshable.
    """

    def __init__(self, credentials: Any) -> None:
        self._credentials = credentials

    def load_credentials(self) -> Any:
        return self._credentials


class _AsyncSameCredentials(_SameCredentials):
    async def load_credentials(self) -> Any:
        return self._credentials


def _client_parts(client: Any) -> tuple[Any, dict[str, Any]] | None:
    """The source client's credentials and create_client arguments (None: not botocore)."""
    try:
        meta = client.meta
        credentials = client._get_credentials()
        kwargs = {"region_name": meta.region_name, "endpoint_url": meta.endpoint_url}
        return credentials, {**kwargs, "config": meta.config}
    except Exception:
        return None


_loader: Any = None


def _shared_loader() -> Any:
    """One botocore data loader for every probe session: the service model loads once."""
    global _loader  # noqa: PLW0603 - a process-wide cache, like botocore's own
    if _loader is None:
        from botocore.loaders import create_loader  # noqa: PLC0415

        _loader = create_loader()
    return _loader


# sync ------------------------------------------------------------------------------------

_sync_probes: weakref.WeakKeyDictionary[Any, dict[float, Any]] = weakref.WeakKeyDictionary()
_sync_probes_lock = threading.Lock()


def _sync_probe_client(client: Any, deadline: float) -> Any:
    """The (cached) probe client for ``client``; ``client`` itself when it is no botocore one."""
    with _sync_probes_lock:
        try:
            cached = _sync_probes.get(client, {})
        except TypeError:  # neither hashable nor weakly referenceable
            return client
        if deadline in cached:
            return cached[deadline]
        parts = _client_parts(client)
        if parts is None:
            return client
        import botocore.session  # noqa: PLC0415 - loaded with the client anyway
        from botocore.config import Config  # noqa: PLC0415

        credentials, kwargs = parts
        try:
            session = botocore.session.Session()
            session.register_component("data_loader", _shared_loader())
            session.register_component("credential_provider", _SameCredentials(credentials))
            config = kwargs.pop("config").merge(Config(**_probe_options(deadline)))
            probe = session.create_client("dynamodb", config=config, **kwargs)
        except Exception:  # a client we cannot mirror is asked directly
            return client
        if len(cached) >= 4:  # a caller varying its deadline must not grow this forever
            cached.clear()
        cached[deadline] = probe
        _sync_probes[client] = cached
        return probe


def _in_thread(call: Callable[[], Any]) -> Future[_Outcome]:
    """Run ``call`` in a daemon thread (a hung one never holds up interpreter exit)."""
    future: Future[_Outcome] = Future()

    def run() -> None:
        started = time.perf_counter()
        try:
            value = call()
        except BaseException as exc:  # reported, never raised
            future.set_result(_Outcome(error=exc, elapsed_ms=_since(started)))
        else:
            future.set_result(_Outcome(value=value, elapsed_ms=_since(started)))

    threading.Thread(target=run, name="cnop-health", daemon=True).start()
    return future


# Calls still running from an earlier check, per target and call: a dependency that hangs
# (e.g. a Redis client without socket timeouts) must not gain one more stuck thread per
# check; a later check waits on the call already in flight instead.
_in_flight: weakref.WeakKeyDictionary[Any, dict[str, Future[_Outcome]]] = (
    weakref.WeakKeyDictionary()
)
_in_flight_lock = threading.Lock()


def _single_flight(target: Any, key: str, call: Callable[[], Any]) -> Future[_Outcome]:
    with _in_flight_lock:
        try:
            running = _in_flight.setdefault(target, {})
        except TypeError:  # not weakly referenceable: no sharing
            return _in_thread(call)
        future = running.get(key)
        if future is None or future.done():
            future = running[key] = _in_thread(call)
        return future


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def check_health(
    client: Any,
    tables: TableNames,
    *,
    redis: Any = None,
    deadline: float = DEFAULT_DEADLINE,
) -> HealthReport:
    """DescribeTable for each table in parallel (and PING Redis if given), by ``deadline``.

    ``client`` is a boto3 DynamoDB client; the calls use a companion client without
    retries whose timeouts fit ``deadline`` (seconds, default 2). A table is unhealthy
    when it is missing, not active, keyed differently from what cnop.data needs
    (``wrong_schema``), unreachable or slower than the deadline (``timeout``). Raises
    only for bad arguments (CNOPValidationException / CNOPConfigurationException),
    among them a ``client`` without ``describe_table``, a ``redis`` without ``ping`` and
    an async client of either kind.
    """
    seconds = checked_deadline(deadline)
    tables = checked_tables(tables)
    checked_dependencies(client, redis, asynchronous=False)
    end = time.monotonic() + seconds
    probe = _sync_probe_client(client, seconds)
    futures: dict[str, Future[_Outcome]] = {
        f"dynamodb:{name}": _single_flight(
            probe, name, partial(probe.describe_table, TableName=name)
        )
        for name in tables.all()
    }
    if redis is not None:
        futures["redis"] = _single_flight(redis, "ping", redis.ping)
    wait(futures.values(), timeout=max(0.0, end - time.monotonic()))
    outcomes = {key: f.result() if f.done() else None for key, f in futures.items()}
    return _report(tables, outcomes, seconds, redis is not None)


# async -----------------------------------------------------------------------------------

_async_sessions: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


async def _timed(call: Callable[[], Awaitable[Any]]) -> _Outcome:
    started = time.perf_counter()
    try:
        value = await call()
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # reported, never raised
        return _Outcome(error=exc, elapsed_ms=_since(started))
    return _Outcome(value=value, elapsed_ms=_since(started))


async def _open_async_probe(stack: AsyncExitStack, client: Any, deadline: float) -> Any:
    """An aiobotocore probe client for ``client`` (closed with ``stack``), or ``client``."""
    parts = _client_parts(client)
    if parts is None:
        return client
    from aiobotocore.config import AioConfig  # noqa: PLC0415 - the async extra
    from aiobotocore.session import AioSession  # noqa: PLC0415

    credentials, kwargs = parts
    try:
        session = _async_sessions.get(client)
    except TypeError:
        return client
    if session is None:
        # One session per source client: its credential resolver is that client's.
        session = AioSession()
        session.register_component("data_loader", _shared_loader())
        session.register_component("credential_provider", _AsyncSameCredentials(credentials))
        _async_sessions[client] = session
    try:
        config = kwargs.pop("config").merge(AioConfig(**_probe_options(deadline)))
        return await stack.enter_async_context(
            session.create_client("dynamodb", config=config, **kwargs)
        )
    except Exception:  # a client we cannot mirror is asked directly (cancelled at the deadline)
        return client


async def async_check_health(
    client: Any,
    tables: TableNames,
    *,
    redis: Any = None,
    deadline: float = DEFAULT_DEADLINE,
) -> HealthReport:
    """The same checks with an aiobotocore client (and ``redis.asyncio``), as parallel tasks.

    Calls still running at ``deadline`` are cancelled and reported ``timeout``. Bad
    arguments raise as for :func:`check_health` (here a sync client of either kind is one).
    """
    seconds = checked_deadline(deadline)
    tables = checked_tables(tables)
    checked_dependencies(client, redis, asynchronous=True)
    end = time.monotonic() + seconds
    outcomes: dict[str, _Outcome | None] = dict.fromkeys(
        [f"dynamodb:{n}" for n in tables.all()] + ["redis"]
    )
    async with AsyncExitStack() as stack:
        try:
            probe = await asyncio.wait_for(
                _open_async_probe(stack, client, seconds), timeout=seconds
            )
        except asyncio.TimeoutError:
            probe = None  # every table is reported as not answering in time
        tasks: dict[str, asyncio.Task[_Outcome]] = {}
        if probe is not None:
            for name in tables.all():
                tasks[f"dynamodb:{name}"] = asyncio.ensure_future(
                    _timed(partial(probe.describe_table, TableName=name))
                )
        if redis is not None:
            tasks["redis"] = asyncio.ensure_future(_timed(redis.ping))
        if tasks:
            await asyncio.wait(tasks.values(), timeout=max(0.0, end - time.monotonic()))
        for key, task in tasks.items():
            if task.done():
                outcomes[key] = task.result()
            else:
                task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    return _report(tables, outcomes, seconds, redis is not None)
