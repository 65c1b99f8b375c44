"""A repeated request is a replay, not a fault: no error log, no failed call in the metrics."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from cnop.data import BalanceDAO, DataSettings, TransactionManager
from cnop.data.core.steps import Call, Operation
from cnop.data.transactions import operations as ops
from cnop.data.transactions.results import FlowResult
from cnop.exceptions import CNOPException
from cnop.logging import configure_logging, install_meter_provider, prometheus_text, reset_logging

pytest.importorskip("opentelemetry.exporter.prometheus")


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    buffer = io.StringIO()
    configure_logging(service="replay-test", level="DEBUG", sink=buffer)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    finally:
        reset_logging()


def _total(name: str, **labels: str) -> float:
    total = 0.0
    for line in prometheus_text().decode().splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _drive(manager: TransactionManager, op: Operation[FlowResult], step: Any) -> Any:
    """Finish ``op`` from its pending ``step`` (not sent yet), as the executor does."""
    try:
        while True:
            assert isinstance(step, Call)
            try:
                reply = manager.executor.call(step)
            except CNOPException as exc:
                step = op.throw(exc)
            else:
                step = op.send(reply)
    except StopIteration as stop:
        return stop.value


def test_a_keyed_resend_after_the_commit_is_counted_as_a_replay(
    data_settings: DataSettings,
    make_user: Callable[[], str],
    unique_name: Callable[[str], str],
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    install_meter_provider("cnop-data-replays")
    manager = TransactionManager(settings=data_settings)
    name, key = make_user(), unique_name("k")
    table = data_settings.tables.users
    errors_before = _total("cnop_dao_errors_total", table=table)
    manager.deposit(name, "5", idempotency_key=key)
    again = manager.deposit(name, "5", idempotency_key=key)
    # A deposit reads nothing first: the repeat is refused by the record's condition at the
    # write, then answered from the record; neither is an error.
    assert again.replayed
    assert _total("cnop_dao_errors_total", table=table) == errors_before
    assert _total("cnop_flows_total", flow="deposit", outcome="replayed") >= 1
    assert not [line for line in log_lines() if line["level"] in ("WARNING", "ERROR")]


def test_a_replay_that_meets_the_record_at_the_write_is_not_a_failed_call(
    data_settings: DataSettings,
    make_user: Callable[[], str],
    unique_name: Callable[[str], str],
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    install_meter_provider("cnop-data-replays")
    manager = TransactionManager(settings=data_settings)
    name, key = make_user(), unique_name("k")
    table = data_settings.tables.users
    # The client's retry was built before the first call committed (both in flight at once).
    late = ops.deposit(manager.context, name, "5", key)
    write = next(late)
    first = manager.deposit(name, "5", idempotency_key=key)
    errors_before = _total("cnop_dao_errors_total", table=table)
    replays_before = _total("cnop_dao_latency_seconds_count", table=table, outcome="replayed")
    result = _drive(manager, late, write)
    assert result.replayed
    assert result.balance_transaction == first.balance_transaction
    assert result.amount == Decimal(5)
    assert BalanceDAO(settings=data_settings).get_balance(name).balance == Decimal(5)
    assert _total("cnop_dao_errors_total", table=table) == errors_before
    replays = _total("cnop_dao_latency_seconds_count", table=table, outcome="replayed")
    assert replays == replays_before + 1
    assert not [line for line in log_lines() if line["level"] in ("WARNING", "ERROR")]
