"""One worker process of the concurrency test: random flows, some retried under their key.

Run as ``python flow_worker.py '<json config>'``; prints one JSON line per request made.
"""

from __future__ import annotations

import json
import random
import sys
from decimal import Decimal
from typing import Any

from cnop.data import DataSettings, FlowResult, TableNames, TransactionManager
from cnop.exceptions import CNOPException


def outcome(key: str, user: str, flow: str, result: FlowResult) -> dict[str, Any]:
    return {
        "key": key,
        "user": user,
        "flow": flow,
        "ok": True,
        "replayed": result.replayed,
        "records": sorted(
            getattr(r, "transaction_id", None) or getattr(r, "order_id", "") for r in result.records
        ),
        "balance": str(result.balance),
    }


def main(config: dict[str, Any]) -> None:
    settings = DataSettings.from_env(
        endpoint_url=config["endpoint"], tables=TableNames(**config["tables"]), region="us-east-1"
    )
    flows = TransactionManager(settings=settings)
    rng = random.Random(config["seed"])
    users, assets = config["users"], config["assets"]
    sent: list[tuple[str, str, str, tuple[Any, ...]]] = []
    for i in range(config["count"]):
        if sent and rng.random() < 0.15:
            key, user, flow, args = rng.choice(sent)  # a client retrying an earlier request
        else:
            user, flow = rng.choice(users), rng.choice(["deposit", "withdraw", "buy", "sell"])
            if flow in ("deposit", "withdraw"):
                args: tuple[Any, ...] = (str(Decimal(rng.randint(1, 5000)) / 100),)
            else:
                args = (rng.choice(assets), str(Decimal(rng.randint(1, 300)) / 100))
            key = f"w{config['seed']}-{i}"
            sent.append((key, user, flow, args))
        try:
            result = getattr(flows, flow)(user, *args, idempotency_key=key)
        except CNOPException as exc:
            line = {"key": key, "user": user, "flow": flow, "ok": False, "error": exc.code}
        else:
            line = outcome(key, user, flow, result)
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
