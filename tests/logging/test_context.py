"""Request context: correct across 50 concurrent asyncio tasks and across threads."""

from __future__ import annotations

import asyncio
import contextvars
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from cnop.exceptions import CNOPValidationException
from cnop.logging import (
    BaseLogger,
    LogAction,
    LoggerName,
    get_request_id,
    get_user,
    new_request_id,
    request_context,
    request_id_from_header,
)

from .conftest import CapturedLines

log = BaseLogger(LoggerName.ORDER)


async def test_request_ids_stay_correct_in_50_concurrent_tasks(captured: CapturedLines) -> None:
    rng = random.Random(7)
    delays = [[rng.random() / 200 for _ in range(3)] for _ in range(50)]

    async def handle(n: int) -> None:
        with request_context(f"req-{n}", user=f"user{n}"):
            for step, delay in enumerate(delays[n]):
                await asyncio.sleep(delay)  # interleave the tasks
                log.info(action=LogAction.ORDER_CREATED, message="step", task=n, step=step)

    await asyncio.gather(*(handle(n) for n in range(50)))
    lines = captured.of("order")
    assert len(lines) == 150
    for line in lines:
        assert line["request_id"] == f"req-{line['task']}"
        assert line["user"] == f"user{line['task']}"
    # They really interleaved: consecutive lines come from different tasks.
    assert len({line["task"] for line in lines[:50]}) > 10


async def test_decorator_gives_each_call_its_own_new_id(captured: CapturedLines) -> None:
    @request_context(user="bob")
    async def handle(n: int) -> str | None:
        await asyncio.sleep(0)
        log.info(action=LogAction.REQUEST_START, message="call", n=n)
        await asyncio.sleep(0)
        return get_request_id()

    seen = await asyncio.gather(*(handle(n) for n in range(50)))
    assert len(set(seen)) == 50
    assert get_request_id() is None
    by_n = {line["n"]: line for line in captured.of("order")}
    for n, request_id in enumerate(seen):
        assert by_n[n]["request_id"] == request_id
        assert by_n[n]["user"] == "bob"


def test_decorator_inside_a_request_keeps_its_id() -> None:
    @request_context()
    def step() -> str | None:
        return get_request_id()

    with request_context("the-request"):
        assert step() == "the-request"
    assert step() != step()  # outside any request: a new id per call


def test_sync_decorator_and_explicit_id() -> None:
    @request_context("fixed-id")
    def handle() -> tuple[str | None, str | None]:
        return get_request_id(), get_user()

    assert handle() == ("fixed-id", None)
    assert get_request_id() is None


def test_request_ids_stay_correct_in_threads(captured: CapturedLines) -> None:
    barrier = threading.Barrier(8)

    def handle(n: int) -> None:
        if n < 8:
            barrier.wait()  # the first eight start together
        with request_context(f"thread-req-{n}"):
            for step in range(5):
                log.info(action=LogAction.DB_OPERATION, message="work", job=n, step=step)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(handle, range(80)))
    lines = captured.of("order")
    assert len(lines) == 400
    assert all(line["request_id"] == f"thread-req-{line['job']}" for line in lines)


def test_a_new_thread_does_not_inherit_but_copy_context_does() -> None:
    seen: dict[str, str | None] = {}
    with request_context("outer-id"):
        plain = threading.Thread(target=lambda: seen.update(plain=get_request_id()))
        context = contextvars.copy_context()
        copied = threading.Thread(
            target=lambda: context.run(lambda: seen.update(copied=get_request_id()))
        )
        for thread in (plain, copied):
            thread.start()
            thread.join()
    assert seen == {"plain": None, "copied": "outer-id"}


async def test_to_thread_carries_the_context(captured: CapturedLines) -> None:
    def blocking() -> None:
        log.info(action=LogAction.DB_OPERATION, message="in worker thread")

    with request_context("async-outer", user="carol"):
        await asyncio.to_thread(blocking)
    line = captured.by_message("in worker thread")
    assert (line["request_id"], line["user"]) == ("async-outer", "carol")


def test_nesting_restores_the_outer_scope() -> None:
    with request_context("outer", user="alice") as outer:
        assert outer == "outer"
        with request_context(user="bob") as inner:
            assert inner == "outer"  # request_id=None keeps the bound id
            assert (get_request_id(), get_user()) == ("outer", "bob")
            with request_context("innermost") as innermost:
                assert innermost == "innermost"
                assert (get_request_id(), get_user()) == ("innermost", "bob")
            assert (get_request_id(), get_user()) == ("outer", "bob")
        assert (get_request_id(), get_user()) == ("outer", "alice")
    assert (get_request_id(), get_user()) == (None, None)


def test_scope_is_left_even_when_the_block_raises() -> None:
    with pytest.raises(KeyError), request_context("failing"):
        raise KeyError("x")
    assert get_request_id() is None


async def test_one_object_entered_by_concurrent_tasks() -> None:
    shared = request_context()
    results: list[tuple[str, str | None]] = []

    async def handle() -> None:
        with shared as request_id:
            await asyncio.sleep(0.001)
            results.append((request_id, get_request_id()))
        assert get_request_id() is None

    await asyncio.gather(*(handle() for _ in range(20)))
    assert all(mine == seen for mine, seen in results)
    assert len({mine for mine, _ in results}) == 20


@pytest.mark.parametrize("bad", ["", "has space", "new\nline", "x" * 129, "-leading-dash"])
def test_invalid_request_id_is_refused(bad: str) -> None:
    with pytest.raises(CNOPValidationException, match="request_id"):
        request_context(bad)


@pytest.mark.parametrize("bad", ["", "x" * 257, 5])
def test_invalid_user_is_refused(bad: object) -> None:
    with pytest.raises(CNOPValidationException, match="user"):
        request_context(user=bad)  # type: ignore[arg-type]


def test_incoming_header_is_kept_when_acceptable() -> None:
    assert request_id_from_header("abc-123") == "abc-123"
    assert request_id_from_header(b"Root=1-67891233-abcdef012345678912345678") == (
        "Root=1-67891233-abcdef012345678912345678"
    )
    assert request_id_from_header("  padded  ") == "padded"


@pytest.mark.parametrize(
    "bad", [None, "", "two words", 'quote"d', "x" * 200, b"\xff\xfe", "line\nbreak"]
)
def test_unacceptable_incoming_header_gets_a_new_id(bad: str | bytes | None) -> None:
    made = request_id_from_header(bad)
    assert made != bad
    assert len(made) == 32
    int(made, 16)


def test_new_request_ids_are_unique() -> None:
    assert len({new_request_id() for _ in range(1000)}) == 1000
