"""Batch writes with several chunks in flight, against DynamoDB Local behind a fault proxy.

Every test runs with the sync DAO and the async DAO (``kind``). Writes go through the
proxy (one botocore attempt per call, so the batch's own resends are what is tested);
what was stored is read directly from the server.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from cnop.data import (
    AsyncBalanceDAO,
    BalanceDAO,
    BalanceTransaction,
    DataSettings,
    open_async_client,
)
from cnop.exceptions import (
    CNOPDatabaseOperationException,
    CNOPEntityAlreadyExistsException,
    CNOPValidationException,
)

fp = pytest.importorskip("cnop_faultproxy")

KINDS = pytest.mark.parametrize("kind", ["sync", "async"])
Write = Callable[..., int]


def _through(data_settings: DataSettings, proxy: Any) -> DataSettings:
    return DataSettings.from_env(
        region=data_settings.region,
        endpoint_url=proxy.url,
        tables=data_settings.tables,
        max_attempts=1,
    )


def _writer(kind: str, settings: DataSettings) -> Write:
    if kind == "sync":
        return BalanceDAO(settings=settings).create_transactions

    def write(records: Sequence[BalanceTransaction], **options: Any) -> int:
        async def run() -> int:
            async with open_async_client(settings) as client:
                dao = AsyncBalanceDAO(client, settings=settings)
                return await dao.create_transactions(records, **options)

        return asyncio.run(run())

    return write


def _records(name: str, count: int) -> list[BalanceTransaction]:
    return [
        BalanceTransaction(username=name, transaction_type="deposit", amount=f"{i + 1}.01")
        for i in range(count)
    ]


def _stored(direct: BalanceDAO, name: str) -> list[BalanceTransaction]:
    items: list[BalanceTransaction] = []
    cursor = None
    while True:
        page = direct.list_transactions(name, limit=100, cursor=cursor)
        items += page.items
        cursor = page.next_cursor
        if cursor is None:
            return items


def _body(request: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(request.raw.split(b"\r\n\r\n", 1)[1])
    return body


def _tokens(proxy: Any) -> list[str]:
    return [
        _body(r.request)["ClientRequestToken"]
        for r in proxy.records("TransactWriteItems")
        if r.request is not None
    ]


def _chunk_with(record: BalanceTransaction) -> Callable[[Any], bool]:
    """Matches the TransactWriteItems request of the chunk holding ``record``."""
    wanted = record.transaction_id.encode()
    return lambda request: request.operation == "TransactWriteItems" and wanted in request.raw


def _assert_stored_once(direct: BalanceDAO, name: str, records: list[BalanceTransaction]) -> None:
    stored = _stored(direct, name)
    assert sorted(r.transaction_id for r in stored) == sorted(r.transaction_id for r in records)
    assert sorted(stored, key=lambda r: r.transaction_id) == sorted(
        records, key=lambda r: r.transaction_id
    )


@KINDS
def test_chunks_in_flight_write_every_record_exactly_once(
    kind: str, data_settings: DataSettings, dynamodb_proxy: Any, new_username: Callable[[], str]
) -> None:
    name = new_username()
    records = _records(name, 1000)
    write = _writer(kind, _through(data_settings, dynamodb_proxy))
    # Hold every reply a little, so the window really has its chunks in flight together.
    dynamodb_proxy.every("TransactWriteItems", fp.delay(0.05), 1.0, seed=1)

    assert write(records, concurrency=4) == 1000

    _assert_stored_once(BalanceDAO(settings=data_settings), name, records)
    tokens = _tokens(dynamodb_proxy)
    assert len(tokens) == len(set(tokens)) == 10  # ten chunks, each sent once


@KINDS
def test_an_existing_record_refuses_its_chunk_and_the_outcome_of_the_others_is_exact(
    kind: str, data_settings: DataSettings, dynamodb_proxy: Any, new_username: Callable[[], str]
) -> None:
    direct = BalanceDAO(settings=data_settings)
    name = new_username()
    records = _records(name, 800)
    existing = direct.create_transaction(records[350])
    write = _writer(kind, _through(data_settings, dynamodb_proxy))

    with pytest.raises(CNOPEntityAlreadyExistsException) as info:
        write(records, concurrency=4)

    details = info.value.details
    assert details["ids"] == [existing.transaction_id]
    ids = [r.transaction_id for r in records]
    chunk_of_existing = ids[300:400]
    assert set(chunk_of_existing) <= set(details["not_written"])
    # Every record is accounted for once, and what is stored is exactly what was reported.
    assert sorted(details["written"] + details["not_written"]) == sorted(ids)
    assert details["unresolved"] == []
    stored = {r.transaction_id for r in _stored(direct, name)}
    assert stored == {*details["written"], existing.transaction_id}
    assert len(details["written"]) % 100 == 0
    assert len(details["written"]) >= 300  # the three chunks sent alongside it went through


@KINDS
def test_a_failing_chunk_leaves_the_others_exact(
    kind: str, data_settings: DataSettings, dynamodb_proxy: Any, new_username: Callable[[], str]
) -> None:
    direct = BalanceDAO(settings=data_settings)
    name = new_username()
    records = _records(name, 600)
    write = _writer(kind, _through(data_settings, dynamodb_proxy))
    invalid = fp.respond(
        400,
        '{"__type":"com.amazonaws.dynamodb.v20120810#ValidationException","message":"bad"}',
        {"x-amzn-ErrorType": "ValidationException"},
    )
    dynamodb_proxy.plan(_chunk_with(records[100]), [invalid])

    with pytest.raises(CNOPDatabaseOperationException) as info:
        write(records, concurrency=3)

    details = info.value.details
    ids = [r.transaction_id for r in records]
    assert sorted(details["written"] + details["not_written"]) == sorted(ids)
    assert {r.transaction_id for r in _stored(direct, name)} == set(details["written"])
    assert len(details["written"]) >= 200  # the chunks in flight with it


@KINDS
@pytest.mark.parametrize(
    "fault",
    [fp.DROP_REPLY, fp.internal_error(applied=True), fp.throttle()],
    ids=["lost-reply", "500-after-commit", "throttled"],
)
def test_a_chunk_applied_or_refused_without_a_reply_is_resent_and_written_once(
    kind: str,
    fault: Any,
    data_settings: DataSettings,
    dynamodb_proxy: Any,
    new_username: Callable[[], str],
) -> None:
    name = new_username()
    records = _records(name, 700)
    write = _writer(kind, _through(data_settings, dynamodb_proxy))
    # The second chunk's fault while the others (held a little) are in flight with it.
    dynamodb_proxy.plan(_chunk_with(records[100]), [fault])
    dynamodb_proxy.every("TransactWriteItems", fp.delay(0.1), 1.0, seed=1)

    assert write(records, concurrency=4) == 700

    _assert_stored_once(BalanceDAO(settings=data_settings), name, records)
    tokens = _tokens(dynamodb_proxy)
    assert len(set(tokens)) == 7
    assert len(tokens) == 8  # the faulted chunk went out twice, with the same token
    first, again = [r for r in dynamodb_proxy.records() if _chunk_with(records[100])(r.request)]
    assert first.fault == fault
    assert again.fault != fault
    assert first.applied == (fault != fp.throttle())


@KINDS
def test_a_lost_reply_while_another_chunk_is_refused_is_still_reported_written(
    kind: str, data_settings: DataSettings, dynamodb_proxy: Any, new_username: Callable[[], str]
) -> None:
    direct = BalanceDAO(settings=data_settings)
    name = new_username()
    records = _records(name, 300)
    existing = direct.create_transaction(records[250])
    write = _writer(kind, _through(data_settings, dynamodb_proxy))
    release = threading.Event()
    # Chunk 1's reply is lost; chunk 3 (holding the existing record) is refused while
    # chunk 2 is held back until after that refusal.
    dynamodb_proxy.plan(_chunk_with(records[0]), [fp.DROP_REPLY])
    dynamodb_proxy.plan(_chunk_with(records[100]), [fp.delay(5, until=release)])
    timer = threading.Timer(0.5, release.set)
    timer.start()
    try:
        with pytest.raises(CNOPEntityAlreadyExistsException) as info:
            write(records, concurrency=3)
    finally:
        timer.cancel()
        release.set()

    ids = [r.transaction_id for r in records]
    details = info.value.details
    assert details["ids"] == [existing.transaction_id]
    assert sorted(details["written"]) == sorted(ids[:200])  # the resent one counts as written
    assert sorted(details["not_written"]) == sorted(ids[200:])
    assert {r.transaction_id for r in _stored(direct, name)} == {
        *ids[:200],
        existing.transaction_id,
    }


@KINDS
@pytest.mark.parametrize("bad", [0, 33, True, 2.5, "4", "\uff14"])
def test_bad_concurrency_is_a_validation_error_and_nothing_is_sent(
    kind: str,
    bad: Any,
    data_settings: DataSettings,
    dynamodb_proxy: Any,
    new_username: Callable[[], str],
) -> None:
    write = _writer(kind, _through(data_settings, dynamodb_proxy))
    with pytest.raises(CNOPValidationException, match="concurrency"):
        write(_records(new_username(), 3), concurrency=bad)
    assert dynamodb_proxy.records("TransactWriteItems") == []


async def test_a_cancelled_async_batch_leaves_no_write_running_behind_it(
    data_settings: DataSettings, dynamodb_proxy: Any, new_username: Callable[[], str]
) -> None:
    settings = _through(data_settings, dynamodb_proxy)
    name = new_username()
    records = _records(name, 400)
    dynamodb_proxy.every("TransactWriteItems", fp.delay(0.3), 1.0, seed=1)
    async with open_async_client(settings) as client:
        dao = AsyncBalanceDAO(client, settings=settings)
        task = asyncio.ensure_future(dao.create_transactions(records, concurrency=2))
        await asyncio.sleep(0.15)  # two chunks are in flight
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        sent = dynamodb_proxy.records("TransactWriteItems")
        # Each chunk that went out was seen through to its reply before the task ended.
        assert sent
        assert all(r.delivered for r in sent)
    stored = _stored(BalanceDAO(settings=data_settings), name)
    assert len(stored) == 100 * len(sent)
