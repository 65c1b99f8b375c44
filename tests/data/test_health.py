from __future__ import annotations

from typing import Any

import redis

from cnop.data import (
    DataSettings,
    TableNames,
    async_check_health,
    check_health,
    dynamodb_client,
)


def test_healthy_tables_and_redis(data_settings: DataSettings, redis_url: str) -> None:
    report = check_health(
        dynamodb_client(data_settings), data_settings.tables, redis=redis.Redis.from_url(redis_url)
    )
    assert report.healthy
    assert set(report.checks) == {f"dynamodb:{n}" for n in data_settings.tables.all()} | {"redis"}
    assert report.to_dict()["healthy"] is True


def test_missing_table_and_dead_redis_are_reported_not_raised(data_settings: DataSettings) -> None:
    tables = TableNames(
        users="absent-users",
        orders=data_settings.tables.orders,
        inventory=data_settings.tables.inventory,
    )
    dead = redis.Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.3)
    report = check_health(dynamodb_client(data_settings), tables, redis=dead)
    assert not report.healthy
    assert not report.checks["dynamodb:absent-users"].ok
    assert "'absent-users' does not exist" in report.checks["dynamodb:absent-users"].detail
    assert report.checks[f"dynamodb:{tables.orders}"].ok
    assert report.checks["redis"].detail.startswith("Redis did not answer")


async def test_async_health(data_settings: DataSettings, async_client: Any) -> None:
    report = await async_check_health(async_client, data_settings.tables)
    assert report.healthy
    assert len(report.checks) == 3
