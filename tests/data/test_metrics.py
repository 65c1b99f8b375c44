"""DAO calls record latency and errors through cnop-logging's metrics facade."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from cnop.data import DataSettings, UserCreate, UserDAO
from cnop.exceptions import CNOPEntityAlreadyExistsException
from cnop.logging import install_meter_provider, prometheus_text

# Reading the metrics back needs cnop-logging's `otel` extra (the workspace env has it).
pytest.importorskip("opentelemetry.exporter.prometheus")


def _value(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_latency_and_errors_are_recorded(
    data_settings: DataSettings, user_input: Callable[..., UserCreate]
) -> None:
    install_meter_provider("cnop-data-tests")
    users = UserDAO(settings=data_settings)
    table = data_settings.tables.users
    before = prometheus_text().decode()
    data = user_input()
    users.create_user(data, "h")
    users.get_user_by_username(data.username)
    with pytest.raises(CNOPEntityAlreadyExistsException):
        users.create_user(data, "h")
    after = prometheus_text().decode()
    latency = "cnop_dao_latency_seconds_count"
    assert (
        _value(after, latency, table=table, operation="get_item", outcome="ok")
        - _value(before, latency, table=table, operation="get_item", outcome="ok")
        == 1
    )
    rejected = {"table": table, "operation": "transact_write_items", "outcome": "rejected"}
    assert _value(after, latency, **rejected) - _value(before, latency, **rejected) == 1
    errors = "cnop_dao_errors_total"
    labels = {
        "table": table,
        "operation": "transact_write_items",
        "error": "transaction_cancelled",
    }
    assert _value(after, errors, **labels) - _value(before, errors, **labels) == 1
