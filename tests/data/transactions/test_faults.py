"""DynamoDB Local stopped in the middle of a run, then restarted on the same disk."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cnop.data import (
    AssetCreate,
    AssetDAO,
    DataSettings,
    TableNames,
    TransactionManager,
    UserCreate,
    UserDAO,
    create_tables,
    dynamodb_client,
)
from cnop.exceptions import (
    CNOPClientException,
    CNOPDatabaseConnectionException,
    CNOPException,
    CNOPInternalException,
)

from .flow_worker import outcome
from .invariants import check_invariants


def _settings(endpoint: str) -> DataSettings:
    # Short timeouts and no botocore retries: a dead server is reported in about a second.
    return DataSettings.from_env(
        endpoint_url=endpoint,
        tables=TableNames.from_env("fault-", {}),
        region="us-east-1",
        connect_timeout=0.5,
        read_timeout=2.0,
        max_attempts=1,
    )


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_stopped_database_gives_typed_errors_and_the_ledgers_survive_a_restart(
    private_servers: Callable[..., Any], tmp_path: Path
) -> None:
    db = tmp_path / "dynamodb"
    server = private_servers("dynamodb", db_path=db)
    settings = _settings(server.url)
    create_tables(dynamodb_client(settings), settings.tables)
    users = [
        UserDAO(settings=settings)
        .create_user(
            UserCreate(
                username=f"f_{uuid.uuid4().hex[:12]}",
                email=f"{uuid.uuid4().hex[:12]}@example.com",
                first_name="Fault",
                last_name="Tolerant",
            ),
            "not-a-real-hash",
        )
        .username
        for _ in range(2)
    ]
    AssetDAO(settings=settings).create_asset(
        AssetCreate(asset_id="FLT", name="Fault asset", category="test", price_usd=Decimal(2))
    )
    flows = TransactionManager(settings=settings)
    outcomes: list[dict[str, Any]] = []
    unknown: list[tuple[str, str, str, tuple[Any, ...]]] = []
    errors: list[CNOPException] = []
    foreign: list[Exception] = []
    stop = threading.Event()

    def run(worker: int) -> None:
        i = 0
        while not stop.is_set():
            user = users[worker]
            flow, args = [("deposit", ("3",)), ("buy", ("FLT", "1")), ("sell", ("FLT", "1"))][i % 3]
            key = f"f{worker}-{i}"
            i += 1
            try:
                result = getattr(flows, flow)(user, *args, idempotency_key=key)
            except CNOPClientException as exc:
                outcomes.append({"key": key, "ok": False, "error": exc.code})
            except CNOPException as exc:
                errors.append(exc)
                unknown.append((key, user, flow, args))  # applied or not: only a retry can tell
                time.sleep(0.2)
            except Exception as exc:
                foreign.append(exc)
                return
            else:
                outcomes.append(outcome(key, user, flow, result))

    threads = [threading.Thread(target=run, args=(w,)) for w in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    server.stop()
    time.sleep(2.5)
    stop.set()
    for thread in threads:
        thread.join(30)

    assert not foreign, f"untyped errors escaped: {foreign!r}"
    assert errors, "no request failed while the database was down"
    # Server-side failures (5xx), never a client error; mostly "could not connect".
    assert all(isinstance(e, CNOPInternalException) for e in errors), errors
    connection = [e for e in errors if isinstance(e, CNOPDatabaseConnectionException)]
    assert connection
    assert all(e.retryable for e in connection)

    restarted = private_servers("dynamodb", port=server.ports[0], db_path=db)
    assert restarted.url == server.url
    # The client retries each request whose outcome it did not learn, under its key.
    for key, user, flow, args in unknown:
        try:
            result = getattr(flows, flow)(user, *args, idempotency_key=key)
        except CNOPClientException as exc:
            outcomes.append({"key": key, "ok": False, "error": exc.code})
        else:
            outcomes.append(outcome(key, user, flow, result))
    assert sum(1 for o in outcomes if o["ok"]) > 3
    check_invariants(settings, users, outcomes)
