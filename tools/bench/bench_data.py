"""cnop.data against what a team would otherwise write with boto3, in the same run.

1. Item mapping, model -> DynamoDB item -> model, for an Order and an Asset:
   cnop.data's per-entity mappers against boto3's ``TypeSerializer`` /
   ``TypeDeserializer`` over ``model_dump()`` plus pydantic ``model_validate``
   (goal: >= 2x faster).
2. DAO ``get_asset`` / ``create_asset`` against the raw boto3 client calls they make
   (``get_item``, conditional ``put_item``), on the same DynamoDB Local, interleaved,
   median of at least 5 rounds (goal: <= 1.10x the time); then the DAO's own work per
   call, timed against a client that answers instantly.
3. 5,000 new ledger records: ``create_transactions`` (TransactWriteItems of 100
   conditional puts, a window of ``--concurrency`` in flight) against single conditional
   puts, rates compared, rounds alternating (goal: >= 10x faster). It runs through a
   small proxy that delays each request by ``--latency-ms`` (default 3), which makes a
   round trip about what a same-region AWS call takes: on loopback DynamoDB Local answers
   in about 2 ms and the comparison says little about a service in AWS.
4. Gets: the async DAO with 16 in flight against sequential sync DAO gets
   (goal: >= 3x the throughput), on loopback and through the proxy.

Waiting on the network is what batching and concurrency save.

A DynamoDB Local is started for the run unless ``AWS_ENDPOINT_URL_DYNAMODB`` is set.
Options: ``--records N`` (default 5000, the batch), ``--singles N`` (default 500, single
puts timed per round), ``--batch-rounds N`` (default 3), ``--concurrency N`` (default 4),
``--gets N`` (default 600), ``--rounds N`` (default 3, for the mapping and DAO
comparisons: the median is reported), ``--latency-ms MS`` (default 3; 0 runs the batch
comparison on loopback instead).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the type checker sees tools/ as a package; a run has tools/bench on sys.path
    from tools.bench import summary
else:
    import summary

MAPPING_LOOPS = 20_000


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>10,.0f}/s"


def _line(name: str, ours: float, peer: float, unit: str, goal: str) -> None:
    print(f"  {name}: cnop {ours:,.1f} {unit} | peer {peer:,.1f} {unit} | {goal}")


# 1. mapping ---------------------------------------------------------------------------


def _peer_plain(model: Any) -> dict[str, Any]:
    plain: dict[str, Any] = {}
    for name, value in model.model_dump().items():
        if value is None:
            continue
        if isinstance(value, Enum):
            plain[name] = value.value
        elif isinstance(value, (datetime, date)):
            plain[name] = value.isoformat()
        else:
            plain[name] = value
    return plain


def bench_mapping(rounds: int) -> None:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    from cnop.data import Asset, Order, OrderCreate, OrderType
    from cnop.data.layout import ASSET_MAPPER, ORDER_MAPPER

    order = Order.new(
        "alice_01",
        OrderCreate(
            order_type=OrderType.LIMIT_BUY,
            asset_id="BTC",
            quantity=Decimal("0.125"),
            limit_price=Decimal("64000.5"),
        ),
    )
    asset = Asset(
        asset_id="BTC",
        name="Bitcoin",
        description="The first one",
        category="major",
        price_usd=Decimal("64123.12345678"),
    )
    serializer, deserializer = TypeSerializer(), TypeDeserializer()
    cases: list[tuple[str, Any, Any]] = [
        ("Order", order, ORDER_MAPPER),
        ("Asset", asset, ASSET_MAPPER),
    ]
    print(
        f"1. item mapping, model -> item -> model, {MAPPING_LOOPS:,} round trips "
        f"(median of {rounds})"
    )
    for label, model, mapper in cases:
        keys = {k: v["S"] for k, v in mapper.to_item(model).items() if k.endswith(("pk", "sk"))}
        cls = type(model)

        def ours(model: Any = model, mapper: Any = mapper) -> None:
            for _ in range(MAPPING_LOOPS):
                mapper.from_item(mapper.to_item(model))

        def peer(model: Any = model, keys: dict[str, str] = keys, cls: Any = cls) -> None:
            for _ in range(MAPPING_LOOPS):
                plain = {**keys, **_peer_plain(model)}
                item = {k: serializer.serialize(v) for k, v in plain.items()}
                back = {k: deserializer.deserialize(v) for k, v in item.items() if k not in keys}
                cls.model_validate(back)

        if mapper.from_item(mapper.to_item(model)) != model:
            raise SystemExit(f"{label}: the mapping does not round-trip")
        ours_s, peer_s = _alternate(ours, peer, rounds)
        print(
            f"  {label}: cnop {_rate(MAPPING_LOOPS, ours_s)} | boto3 TypeSerializer+pydantic "
            f"{_rate(MAPPING_LOOPS, peer_s)} | cnop is {peer_s / ours_s:.2f}x faster (goal >= 2x)"
        )


def _alternate(
    ours: Callable[[], Any], peer: Callable[[], Any], rounds: int
) -> tuple[float, float]:
    """Median seconds of each, with the two alternating so drift hits both alike."""
    ours_t: list[float] = []
    peer_t: list[float] = []
    for _ in range(rounds):
        for fn, into in ((ours, ours_t), (peer, peer_t)):
            started = time.perf_counter()
            fn()
            into.append(time.perf_counter() - started)
    return statistics.median(ours_t), statistics.median(peer_t)


# 2-4. against DynamoDB Local ----------------------------------------------------------


def _asset_input(i: int) -> Any:
    from cnop.data import AssetCreate

    return AssetCreate(
        asset_id=f"B{uuid.uuid4().hex[:10]}{i}"[:20],
        name="Bench coin",
        category="bench",
        price_usd=Decimal("1.25"),
    )


def _paired(
    ours: Callable[[int, int], Any], peer: Callable[[int, int], Any], count: int, rounds: int
) -> tuple[float, float]:
    """Median seconds per round of each; the two alternate call by call (first one, then
    the other, swapping who goes first every round) so load on the machine hits both."""
    ours_t: list[float] = []
    peer_t: list[float] = []
    clock = time.perf_counter
    for r in range(rounds):
        first, second = (ours, peer) if r % 2 == 0 else (peer, ours)
        a = b = 0.0
        for i in range(count):
            t0 = clock()
            first(r, i)
            t1 = clock()
            second(r, i)
            t2 = clock()
            a += t1 - t0
            b += t2 - t1
        ours_t.append(a if r % 2 == 0 else b)
        peer_t.append(b if r % 2 == 0 else a)
    return statistics.median(ours_t), statistics.median(peer_t)


def bench_dao_vs_raw(settings: Any, count: int, rounds: int) -> None:
    from cnop.data import Asset, AssetDAO, dynamodb_client
    from cnop.data.layout import ASSET_MAPPER, asset_key

    dao = AssetDAO(settings=settings)
    client = dynamodb_client(settings)
    table = settings.tables.inventory
    created = [dao.create_asset(_asset_input(i)) for i in range(count)]
    ids = [a.asset_id for a in created]
    for _ in range(50):  # warm the connection pool and the server's JIT
        client.get_item(TableName=table, Key=asset_key(ids[0]))
        dao.get_asset(ids[0])

    def dao_get(_: int, i: int) -> None:
        dao.get_asset(ids[i])

    def raw_get(_: int, i: int) -> None:
        client.get_item(TableName=table, Key=asset_key(ids[i]), ConsistentRead=True)

    ours_s, peer_s = _paired(dao_get, raw_get, count, rounds)
    print(
        f"2. DAO against raw boto3 client calls on DynamoDB Local, {count} calls each, "
        f"alternating (median of {rounds} rounds)"
    )
    print(
        f"  get: AssetDAO.get_asset {ours_s / count * 1000:.2f} ms | client.get_item "
        f"{peer_s / count * 1000:.2f} ms | ratio {ours_s / peer_s:.3f}x (goal <= 1.10x)"
    )

    # Both sides get their input ready-made, as a caller would have it.
    dao_inputs = [[_asset_input(i) for i in range(count)] for _ in range(rounds)]
    raw_items = [
        [ASSET_MAPPER.to_item(Asset.new(_asset_input(i))) for i in range(count)]
        for _ in range(rounds)
    ]

    def dao_put(r: int, i: int) -> None:
        dao.create_asset(dao_inputs[r][i])

    def raw_put(r: int, i: int) -> None:
        client.put_item(
            TableName=table, Item=raw_items[r][i], ConditionExpression="attribute_not_exists(pk)"
        )

    ours_s, peer_s = _paired(dao_put, raw_put, count, rounds)
    print(
        f"  put: AssetDAO.create_asset {ours_s / count * 1000:.2f} ms | client.put_item "
        f"{peer_s / count * 1000:.2f} ms | ratio {ours_s / peer_s:.3f}x (goal <= 1.10x)"
    )
    _dao_own_cost(settings, created[0])


class _CannedClient:
    """Answers instantly, so what is timed is the DAO's own work around a call."""

    def __init__(self, reply: dict[str, Any]) -> None:
        self._reply = reply

    def get_item(self, **_: Any) -> dict[str, Any]:
        return self._reply

    def put_item(self, **_: Any) -> dict[str, Any]:
        return {}


def _dao_own_cost(settings: Any, asset: Any) -> None:
    from cnop.data import AssetDAO
    from cnop.data.layout import ASSET_MAPPER

    dao = AssetDAO(settings=settings, client=_CannedClient({"Item": ASSET_MAPPER.to_item(asset)}))
    new_asset = _asset_input(0)
    loops = 20_000
    started = time.perf_counter()
    for _ in range(loops):
        dao.get_asset(asset.asset_id)
    get_us = (time.perf_counter() - started) / loops * 1e6
    started = time.perf_counter()
    for _ in range(loops):
        dao.create_asset(new_asset)
    put_us = (time.perf_counter() - started) / loops * 1e6
    print(
        f"  the DAO's own work per call (validation, request, mapping, metrics; no I/O): "
        f"get {get_us:.0f} us, put {put_us:.0f} us"
    )


def bench_batch(
    settings: Any, records: int, singles: int, rounds: int, concurrency: int
) -> tuple[float, float]:
    """Batch write of ``records`` new records against single conditional puts, interleaved.

    Each round writes a fresh batch of ``records`` and ``singles`` single puts (who goes
    first alternates); single puts are sequential, so their rate does not depend on how
    many are timed, and the ratio is of the median rates.
    """
    from cnop.data import AssetTransaction, AssetTransactionDAO, AssetTransactionType

    dao = AssetTransactionDAO(settings=settings)

    def make(count: int) -> list[Any]:
        user = f"bench_{uuid.uuid4().hex[:12]}"
        return [
            AssetTransaction(
                username=user,
                asset_id="BTC",
                transaction_type=AssetTransactionType.BUY,
                quantity=Decimal("0.001"),
                price_usd=Decimal(100),
            )
            for _ in range(count)
        ]

    def batch() -> float:
        todo = make(records)
        started = time.perf_counter()
        written = dao.create_transactions(todo, concurrency=concurrency)
        elapsed = time.perf_counter() - started
        if written != records:
            raise SystemExit(f"batch wrote {written} of {records} records")
        return records / elapsed

    def single() -> float:
        todo = make(singles)
        started = time.perf_counter()
        for record in todo:
            dao.create_transaction(record)
        return singles / (time.perf_counter() - started)

    dao.create_transactions(make(200), concurrency=concurrency)  # warm connections
    batch_rates: list[float] = []
    single_rates: list[float] = []
    for r in range(rounds):
        order = [(batch, batch_rates), (single, single_rates)]
        for fn, into in order if r % 2 == 0 else reversed(order):
            into.append(fn())
    batch_rate = statistics.median(batch_rates)
    single_rate = statistics.median(single_rates)
    ratio = batch_rate / single_rate
    print(
        f"3. {records:,} new records in one batch ({concurrency} chunks of 100 in flight) "
        f"against {singles:,} single conditional puts, alternating (median of {rounds})"
    )
    print(
        f"  batch write {_rate(records, records / batch_rate)} "
        f"({records / batch_rate:.2f} s; rounds {', '.join(f'{x:,.0f}' for x in batch_rates)}) "
        f"| single puts {_rate(singles, singles / single_rate)} | batch is {ratio:.1f}x "
        "faster (goal >= 10x)"
    )
    return batch_rate, single_rate


def bench_async_gets(settings: Any, gets: int) -> None:
    from cnop.data import AssetDAO, AsyncAssetDAO, open_async_client

    dao = AssetDAO(settings=settings)
    ids = [dao.create_asset(_asset_input(i)).asset_id for i in range(50)]
    wanted = [ids[i % len(ids)] for i in range(gets)]

    started = time.perf_counter()
    for asset_id in wanted:
        dao.get_asset(asset_id)
    sync_s = time.perf_counter() - started

    async def run() -> float:
        async with open_async_client(settings) as client:
            adao = AsyncAssetDAO(client, settings=settings)
            await adao.get_asset(ids[0])  # open the connection pool
            limit = asyncio.Semaphore(16)

            async def one(asset_id: str) -> None:
                async with limit:
                    await adao.get_asset(asset_id)

            begun = time.perf_counter()
            await asyncio.gather(*(one(a) for a in wanted))
            return time.perf_counter() - begun

    async_s = asyncio.run(run())
    print(f"4. {gets} gets")
    print(
        f"  async, 16 in flight {_rate(gets, async_s)} | sync, sequential {_rate(gets, sync_s)} "
        f"| async is {sync_s / async_s:.2f}x the throughput (goal >= 3x)"
    )


def _testservers() -> Any:
    # tools/ is put on sys.path by tools/bench/run.py.
    return importlib.import_module("testservers")


# a delaying TCP proxy, run in its own process -----------------------------------------


async def _serve_delayed(listen_port: int, target_port: int, delay: float) -> None:
    loop = asyncio.get_running_loop()

    async def pipe_delayed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    writer.close()
                    return
                await asyncio.sleep(max(0.0, due - loop.time()))
                writer.write(data)
                await writer.drain()

        sender = asyncio.create_task(deliver())
        while data := await reader.read(65536):
            queue.put_nowait((loop.time() + delay, data))
        queue.put_nowait((0.0, b""))
        await sender

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(
            pipe_delayed(client_r, server_w), pipe(server_r, client_w), return_exceptions=True
        )

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    print("ready", flush=True)
    await server.serve_forever()


def _start_proxy(target_url: str, latency_ms: float) -> tuple[subprocess.Popen[str], str]:
    port = _testservers().free_port()
    target_port = int(target_url.rsplit(":", 1)[1].rstrip("/"))
    proxy = subprocess.Popen(
        [sys.executable, __file__, "--proxy", str(port), str(target_port), str(latency_ms)],
        stdout=subprocess.PIPE,
        text=True,
    )
    if proxy.stdout is None or proxy.stdout.readline().strip() != "ready":
        proxy.kill()
        raise SystemExit("the latency proxy did not start")
    return proxy, f"http://127.0.0.1:{port}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench data")
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--singles", type=int, default=500)
    parser.add_argument("--batch-rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--gets", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=3.0)
    args = parser.parse_args(argv)

    bench_mapping(args.rounds)

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ.setdefault("AWS_REGION", "us-east-1")
    server = None
    endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
    if not endpoint:
        server = _testservers().start("dynamodb")
        endpoint = server.url
    try:
        from cnop.data import DataSettings, TableNames, create_tables, dynamodb_client

        settings = DataSettings.from_env(
            endpoint_url=endpoint, tables=TableNames.from_env(f"bench{uuid.uuid4().hex[:6]}-", {})
        )
        create_tables(dynamodb_client(settings), settings.tables)
        bench_dao_vs_raw(settings, 300, max(args.rounds, 5))
        print("--- on loopback ---")
        bench_async_gets(settings, args.gets)
        batch_args = (args.records, args.singles, args.batch_rounds, args.concurrency)
        if args.latency_ms > 0:
            proxy, proxy_url = _start_proxy(endpoint, args.latency_ms)
            try:
                print(f"--- through a proxy adding {args.latency_ms:g} ms per request ---")
                delayed = replace(settings, endpoint_url=proxy_url)
                batch_rate, single_rate = bench_batch(delayed, *batch_args)
                bench_async_gets(delayed, args.gets)
            finally:
                proxy.terminate()
                proxy.wait(10)
            where = f"{args.latency_ms:g} ms proxy"
        else:
            batch_rate, single_rate = bench_batch(settings, *batch_args)
            where = "loopback"
        ratio = batch_rate / single_rate
        summary.add(
            "cnop-data",
            f"batch write of {args.records:,} new records vs single conditional puts ({where})",
            cnop=f"{batch_rate:,.0f}/s",
            peer=f"{single_rate:,.0f}/s (single conditional puts)",
            ratio=ratio,
            target=">= 10x",
            met=ratio >= 10,
        )
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--proxy"]:
        listen, target, latency = sys.argv[2:5]
        asyncio.run(_serve_delayed(int(listen), int(target), float(latency) / 1000))
