"""Health checks: are the tables there and active, and (when caching) does Redis answer?

They never raise: each check reports ``ok``, its latency and, on failure, a short
reason without secrets — ready for a service's ``/health`` route.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from cnop.data.config import TableNames
from cnop.data.errors import map_error

__all__ = ["CheckResult", "HealthReport", "async_check_health", "check_health"]


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    latency_ms: float
    detail: str = ""


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
                name: {"ok": c.ok, "latency_ms": round(c.latency_ms, 2), "detail": c.detail}
                for name, c in self.checks.items()
            },
        }


def _table_result(
    name: str, reply: Any, error: BaseException | None, started: float
) -> CheckResult:
    elapsed = (time.perf_counter() - started) * 1000
    if error is not None:
        return CheckResult(
            False, elapsed, map_error(error, table=name, operation="describe_table").message
        )
    status = reply["Table"].get("TableStatus", "UNKNOWN")
    return CheckResult(
        status == "ACTIVE", elapsed, "" if status == "ACTIVE" else f"status {status}"
    )


def _redis_result(error: BaseException | None, started: float) -> CheckResult:
    elapsed = (time.perf_counter() - started) * 1000
    if error is None:
        return CheckResult(True, elapsed)
    return CheckResult(False, elapsed, f"Redis did not answer ({type(error).__name__})")


def check_health(client: Any, tables: TableNames, *, redis: Any = None) -> HealthReport:
    """DescribeTable for each table (and PING Redis if given), with a boto3 client."""
    checks: dict[str, CheckResult] = {}
    for name in tables.all():
        started = time.perf_counter()
        try:
            reply = client.describe_table(TableName=name)
        except Exception as exc:
            checks[f"dynamodb:{name}"] = _table_result(name, None, exc, started)
        else:
            checks[f"dynamodb:{name}"] = _table_result(name, reply, None, started)
    if redis is not None:
        started = time.perf_counter()
        try:
            redis.ping()
        except Exception as exc:
            checks["redis"] = _redis_result(exc, started)
        else:
            checks["redis"] = _redis_result(None, started)
    return HealthReport(checks)


async def async_check_health(client: Any, tables: TableNames, *, redis: Any = None) -> HealthReport:
    """The same checks with an aiobotocore client (and ``redis.asyncio``)."""
    checks: dict[str, CheckResult] = {}
    for name in tables.all():
        started = time.perf_counter()
        try:
            reply = await client.describe_table(TableName=name)
        except Exception as exc:
            checks[f"dynamodb:{name}"] = _table_result(name, None, exc, started)
        else:
            checks[f"dynamodb:{name}"] = _table_result(name, reply, None, started)
    if redis is not None:
        started = time.perf_counter()
        try:
            await redis.ping()
        except Exception as exc:
            checks["redis"] = _redis_result(exc, started)
        else:
            checks["redis"] = _redis_result(None, started)
    return HealthReport(checks)
