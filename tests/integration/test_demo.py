"""The README's first command: the demo tells its whole story and writes JSON logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEMO = Path(__file__).resolve().parents[2] / "tools" / "demo.py"
STEPS = [
    "1. Create the tables",
    "2. Register two users",
    "3. Log in",
    "4. The gateway forwards signed headers",
    "5. Deposit 10,000.00 USD",
    "6. Buy 0.05 BTC",
    "7. Sell 0.02 BTC",
    "8. Try to sell 1 BTC",
    "9. A limit buy of 0.01 BTC at 62,000 waits",
    "10. A limit sell of 0.01 BTC at 90,000 expires",
    "11. 20 concurrent deposits",
    "12. History of",
    "13. Final balances",
]


def _run_demo(tmp_path: Path, *args: str) -> tuple[str, list[dict[str, object]]]:
    log_file = tmp_path / "logs" / "demo.log"
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL_DYNAMODB"}
    done = subprocess.run(
        [sys.executable, str(DEMO), "--log-file", str(log_file), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    entries = [json.loads(line) for line in log_file.read_text().splitlines()]
    return done.stdout, entries


def _check_story(out: str, entries: list[dict[str, object]]) -> None:
    positions = [out.index(step) for step in STEPS]
    assert positions == sorted(positions), "the steps are out of order"
    assert "credited 10000.00 USD; the repeat was replayed=True, balance 10000.00 USD" in out
    assert "paid 3200.00 USD at 64000; balance 6800.00 USD, holding 0.05 BTC" in out
    assert "received 1280.00 USD; balance 8080.00 USD, holding 0.03 BTC" in out
    assert (
        "refused (INSUFFICIENT_ASSET_BALANCE, HTTP 422): Insufficient BTC: 1 needed, 0.03 held"
        in out
    )
    assert "held 620.00 USD; balance 7460.00 USD" in out
    assert (
        "filled at 61000: paid 610.00 USD, the unused 10.00 USD of the hold came back; "
        "balance 7470.00 USD, holding 0.04 BTC" in out
    )
    assert "0.01 BTC held; balance 7470.00 USD, holding 0.03 BTC" in out
    assert "expired: 0.01 BTC returned; balance 7470.00 USD, holding 0.04 BTC" in out
    assert "20 deposits committed, none lost: balance 100.00 USD" in out
    history = out[out.index("12. History") : out.index("13. Final")].splitlines()[1:]
    kinds = [line.split()[0] for line in history if line.strip()]
    assert kinds == [
        "system_adjustment",  # the expired sell's 0.01 BTC back
        "sell",  # held by the limit sell
        "buy",  # the limit buy's fill
        "system_adjustment",  # its unused hold back
        "order_payment",  # held by the limit buy
        "sell",
        "order_sale",
        "buy",
        "order_payment",
        "deposit",
    ]
    assert "7470.00 USD; 0.04 BTC" in out
    assert "100.00 USD; no assets" in out

    commits = [e for e in entries if e["action"] == "transaction_commit"]
    # 2 deposits (one replayed), buy, sell, limit buy and its fill, limit sell and its
    # expiry, 20 deposits
    assert len(commits) == 28
    assert sum(1 for e in commits if e["replayed"]) == 1
    refused = [e for e in entries if e["action"] == "transaction_rollback"]
    assert [e["error"] for e in refused] == ["INSUFFICIENT_ASSET_BALANCE"]
    assert all(e["service"] == "cnop-demo" for e in entries)
    text = json.dumps(entries)
    assert "eyJ" not in text, "a JWT reached the logs"
    assert "$2b$" not in text, "a password hash reached the logs"


def test_the_embedded_demo_tells_the_story(tmp_path: Path) -> None:
    out, entries = _run_demo(tmp_path)
    assert "moto's in-process DynamoDB (embedded)" in out
    assert "locks: in-memory" in out
    _check_story(out, entries)


def test_the_demo_runs_against_real_servers(
    tmp_path: Path, dynamodb_endpoint: str, redis_url: str
) -> None:
    out, entries = _run_demo(
        tmp_path, "--dynamodb-endpoint", dynamodb_endpoint, "--redis-url", redis_url
    )
    assert f"DynamoDB at {dynamodb_endpoint}" in out
    assert f"Redis at {redis_url}" in out
    _check_story(out, entries)


def test_the_demo_never_shows_the_redis_password(
    tmp_path: Path, private_servers: Callable[..., Any]
) -> None:
    secret = "demo-secret-" + uuid.uuid4().hex
    server = private_servers("redis", password=secret)
    url = f"redis://:{secret}@127.0.0.1:{server.ports[0]}/0"
    out, entries = _run_demo(tmp_path, "--redis-url", url)
    assert f"Redis at redis://:***@127.0.0.1:{server.ports[0]}/0" in out
    assert secret not in out
    assert secret not in json.dumps(entries)
    _check_story(out, entries)
