"""One worker process of the concurrency tests: random flows, some retried under their key.

``mode`` ``sync`` sends them one by one through a TransactionManager; ``async`` from four
asyncio tasks sharing an AsyncTransactionManager. With ``keyless`` (a share, 0-1) that many
new requests are sent without a key (their line's ``key`` is only a label). Like a careful
client, a worker told CNOPOutcomeUnknownException retries under the key it names.

Run as ``python flow_worker.py '<json config>'``; prints one JSON line per request made.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from decimal import Decimal
from typing import Any

from cnop.data import (
    AsyncTransactionManager,
    DataSettings,
    FlowResult,
    TableNames,
    TransactionManager,
    open_async_client,
)
from cnop.exceptions import CNOPException, CNOPOutcomeUnknownException

#: Labels of requests sent without an idempotency key start with this.
NO_KEY = "nokey-"


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
        "amount": str(result.amount),
    }


def plan_requests(config: dict[str, Any]) -> list[tuple[str, str, str, tuple[Any, ...]]]:
    """The worker's requests in order: new ones, and some earlier ones sent again."""
    rng = random.Random(config["seed"])
    users, assets = config["users"], config["assets"]
    sent: list[tuple[str, str, str, tuple[Any, ...]]] = []
    requests = []
    for i in range(config["count"]):
        if sent and rng.random() < 0.15:
            requests.append(rng.choice(sent))  # a client retrying an earlier request
            continue
        user, flow = rng.choice(users), rng.choice(["deposit", "withdraw", "buy", "sell"])
        if flow in ("deposit", "withdraw"):
            args: tuple[Any, ...] = (str(Decimal(rng.randint(1, 5000)) / 100),)
        else:
            args = (rng.choice(assets), str(Decimal(rng.randint(1, 300)) / 100))
        if rng.random() < config.get("keyless", 0):
            requests.append((f"{NO_KEY}w{config['seed']}-{i}", user, flow, args))
            continue  # sent once: sending it again would be a new request
        sent.append((f"w{config['seed']}-{i}", user, flow, args))
        requests.append(sent[-1])
    return requests


def _key(label: str) -> str | None:
    return None if label.startswith(NO_KEY) else label


def _line(key: str, user: str, flow: str, result: FlowResult | CNOPException) -> str:
    if isinstance(result, CNOPException):
        return json.dumps(
            {"key": key, "user": user, "flow": flow, "ok": False, "error": result.code}
        )
    return json.dumps(outcome(key, user, flow, result))


def run_sync(settings: DataSettings, config: dict[str, Any]) -> None:
    flows = TransactionManager(settings=settings)
    for label, user, flow, args in plan_requests(config):
        key = _key(label)
        for _ in range(5):
            try:
                result: FlowResult | CNOPException = getattr(flows, flow)(
                    user, *args, idempotency_key=key
                )
            except CNOPOutcomeUnknownException as exc:
                result, key = exc, exc.details["idempotency_key"]
                continue
            except CNOPException as exc:
                result = exc
            break
        print(_line(label, user, flow, result), flush=True)


async def run_async(settings: DataSettings, config: dict[str, Any]) -> None:
    """The same requests from 4 asyncio tasks sharing one AsyncTransactionManager."""
    queue = plan_requests(config)

    async def task(flows: AsyncTransactionManager) -> None:
        while queue:
            label, user, flow, args = queue.pop(0)
            key = _key(label)
            for _ in range(5):
                try:
                    result: FlowResult | CNOPException = await getattr(flows, flow)(
                        user, *args, idempotency_key=key
                    )
                except CNOPOutcomeUnknownException as exc:
                    result, key = exc, exc.details["idempotency_key"]
                    continue
                except CNOPException as exc:
                    result = exc
                break
            print(_line(label, user, flow, result), flush=True)

    async with open_async_client(settings) as client:
        flows = AsyncTransactionManager(client, settings=settings)
        await asyncio.gather(*(task(flows) for _ in range(4)))


def main(config: dict[str, Any]) -> None:
    settings = DataSettings.from_env(
        endpoint_url=config["endpoint"], tables=TableNames(**config["tables"]), region="us-east-1"
    )
    if config.get("mode") == "async":
        asyncio.run(run_async(settings, config))
    else:
        run_sync(settings, config)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
