"""4 processes x 200 random flows on 3 users and 2 assets, with retries under the same key.

Two processes use the sync TransactionManager, two the async one from four tasks each.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cnop.data import DataSettings, TransactionManager

from .flow_worker import outcome
from .invariants import check_invariants

WORKER = Path(__file__).with_name("flow_worker.py")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_random_concurrent_flows_keep_every_ledger_exact(
    data_settings: DataSettings,
    make_user: Callable[[], str],
    make_asset: Callable[..., str],
) -> None:
    users = [make_user() for _ in range(3)]
    assets = [make_asset("7.25"), make_asset("0.5")]
    seed_flows = TransactionManager(settings=data_settings)
    outcomes = [
        outcome(f"seed-{u}", u, "deposit", seed_flows.deposit(u, "500", idempotency_key=f"s-{u}"))
        for u in users
    ]
    config: dict[str, Any] = {
        "endpoint": data_settings.endpoint_url,
        "tables": {
            "users": data_settings.tables.users,
            "orders": data_settings.tables.orders,
            "inventory": data_settings.tables.inventory,
        },
        "users": users,
        "assets": assets,
        "count": 200,
    }
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), json.dumps({**config, "seed": seed, "mode": mode})],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for seed, mode in enumerate(["sync", "sync", "async", "async"])
    ]
    for worker in workers:
        out, _ = worker.communicate(timeout=110)
        assert worker.returncode == 0
        outcomes += [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert len(outcomes) == 3 + 800

    successes = [o for o in outcomes if o["ok"]]
    replays = [o for o in successes if o["replayed"]]
    refusals = {o["error"] for o in outcomes if not o["ok"]}
    # The mix really exercised success, refusal and replay.
    assert len(successes) > 300
    assert replays
    assert refusals <= {
        "INSUFFICIENT_BALANCE",
        "INSUFFICIENT_ASSET_BALANCE",
        "VERSION_CONFLICT",
        "IDEMPOTENCY_CONFLICT",
        "LIMIT_EXCEEDED",  # a sale worth less than a cent
    }
    check_invariants(data_settings, users, outcomes)


def test_the_invariant_check_catches_unexplained_and_double_applied_records(
    data_settings: DataSettings, make_user: Callable[[], str]
) -> None:
    user = make_user()
    flows = TransactionManager(settings=data_settings)
    done = outcome("k1", user, "deposit", flows.deposit(user, "5", idempotency_key="k1-" + user))
    with pytest.raises(AssertionError, match="unexplained"):
        check_invariants(data_settings, [user], [])
    with pytest.raises(AssertionError, match="applied 2 times"):
        check_invariants(data_settings, [user], [done, done])
    assert check_invariants(data_settings, [user], [done]) == {"keys": 1, "records": 1}
