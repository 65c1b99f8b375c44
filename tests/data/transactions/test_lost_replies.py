"""6 processes of random flows, keyed and keyless, with lost replies on 5% of requests.

Every request goes through a fault-injecting proxy that forwards it to DynamoDB Local and,
for one in twenty, resets the connection once the server has answered (the request was
applied, its reply never arrives). Afterwards: balance = sum of the ledger, holding = sum
of the asset ledger, nothing negative, no key applied twice, and the stored records are
exactly those of the requests that were told they succeeded (keyless ones included).

The suite sends a few hundred flows; a soak run sets more per process:

    CNOP_SOAK_FLOWS=400 hatch test tests/data/transactions/test_lost_replies.py -s
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cnop.data import DataSettings, TransactionManager

from .flow_worker import outcome
from .invariants import check_invariants

fp = pytest.importorskip("cnop_faultproxy")
WORKER = Path(__file__).with_name("flow_worker.py")
FLOWS_PER_PROCESS = int(os.environ.get("CNOP_SOAK_FLOWS", "60"))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_lost_replies_on_5_percent_of_requests_apply_nothing_twice(
    data_settings: DataSettings,
    dynamodb_proxy: Any,
    make_user: Callable[[], str],
    make_asset: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    users = [make_user() for _ in range(4)]
    assets = [make_asset("7.25"), make_asset("0.5")]
    seed_flows = TransactionManager(settings=data_settings)
    outcomes = [
        outcome(f"seed-{u}", u, "deposit", seed_flows.deposit(u, "900", idempotency_key=f"s-{u}"))
        for u in users
    ]
    dynamodb_proxy.every(None, fp.DROP_REPLY, 0.05, seed=13)
    config: dict[str, Any] = {
        "endpoint": dynamodb_proxy.url,
        "tables": {
            "users": data_settings.tables.users,
            "orders": data_settings.tables.orders,
            "inventory": data_settings.tables.inventory,
        },
        "users": users,
        "assets": assets,
        "count": FLOWS_PER_PROCESS,
        "keyless": 0.5,
    }
    started = time.monotonic()
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), json.dumps({**config, "seed": seed, "mode": mode})],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for seed, mode in enumerate(["sync", "sync", "sync", "async", "async", "async"])
    ]
    for worker in workers:
        out, _ = worker.communicate(timeout=560)
        assert worker.returncode == 0
        outcomes += [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    elapsed = time.monotonic() - started
    assert len(outcomes) == len(users) + 6 * FLOWS_PER_PROCESS

    faults = Counter(r.fault.kind for r in dynamodb_proxy.records())
    successes = [o for o in outcomes if o["ok"]]
    errors = Counter(o["error"] for o in outcomes if not o["ok"])
    # Refusals are business answers; nothing is left unknown after the careful retry.
    assert set(errors) <= {
        "INSUFFICIENT_BALANCE",
        "INSUFFICIENT_ASSET_BALANCE",
        "VERSION_CONFLICT",
        "IDEMPOTENCY_CONFLICT",
        "LIMIT_EXCEEDED",
        "DATABASE_CONNECTION_ERROR",  # a read's reply lost: nothing was written
        "SERVICE_UNAVAILABLE",
    }, errors
    assert faults["drop_reply"] > 0
    checked = check_invariants(data_settings, users, outcomes)
    with capsys.disabled():
        print(
            f"\nlost replies: {6 * FLOWS_PER_PROCESS} flows from 6 processes in {elapsed:.1f} s, "
            f"{sum(faults.values())} requests, {faults['drop_reply']} replies dropped; "
            f"{len(successes)} succeeded "
            f"({sum(1 for o in successes if o['key'].startswith('nokey-'))} keyless), "
            f"errors {dict(errors)}; {checked['records']} records checked"
        )
