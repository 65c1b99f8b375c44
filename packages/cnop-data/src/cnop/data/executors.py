"""Run core operations: with a boto3 client (sync) or an aiobotocore client (async).

The executors are the only code that does I/O. They map every client error to a
CNOP exception (thrown back into the operation), time each request for the
metrics, sleep for backoff, and run :class:`Concurrently` steps in parallel (a thread
pool for sync, ``asyncio.gather`` for async). :class:`Start` sends a call in the
background (a pool thread, an asyncio task) and :class:`NextDone` hands back whichever
finished first, so an operation can keep a bounded window of calls in flight. When an
operation ends, the executor waits for anything it started and did not collect: no
request of an operation is still running after ``run`` returned or raised.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from cnop.data.core.steps import Call, Concurrently, NextDone, Operation, Pause, Start, Step
from cnop.data.errors import map_error
from cnop.data.observability import record_call
from cnop.exceptions import CNOPException

__all__ = ["AsyncExecutor", "SyncExecutor"]

T = TypeVar("T")
Outcome = dict[str, Any] | CNOPException


def _first_done(done: set[Any], started: dict[int, Any]) -> int:
    """The lowest ticket among ``done`` (a stable order when several finished together)."""
    return min(ticket for ticket, job in started.items() if job in done)


def _nothing_started(step: NextDone) -> TypeError:
    return TypeError(f"{step!r} with no started call left to collect")


def _fail(call: Call, exc: BaseException, started: float) -> CNOPException:
    mapped = map_error(
        exc,
        table=call.table,
        operation=call.operation,
        on_condition_failed=call.on_condition_failed,
        on_cancelled=call.on_cancelled,
    )
    record_call(call.table, call.operation, time.perf_counter() - started, mapped)
    return mapped


class SyncExecutor:
    """Runs operations with a (thread-safe) boto3 DynamoDB client."""

    def __init__(self, client: Any, *, max_workers: int = 8) -> None:
        self.client = client
        self._max_workers = max_workers
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def call(self, call: Call) -> dict[str, Any]:
        """One request; a failure is raised as its CNOP exception."""
        started = time.perf_counter()
        try:
            reply: dict[str, Any] = getattr(self.client, call.operation)(**call.params)
        except Exception as exc:
            raise _fail(call, exc, started) from None
        record_call(call.table, call.operation, time.perf_counter() - started)
        return reply

    def _call_or_error(self, call: Call) -> dict[str, Any] | CNOPException:
        try:
            return self.call(call)
        except CNOPException as exc:
            return exc

    def _workers(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._max_workers, "cnop-data")
            return self._pool

    def _concurrently(self, calls: tuple[Call, ...]) -> list[Outcome]:
        if len(calls) == 1:
            return [self._call_or_error(calls[0])]
        return list(self._workers().map(self._call_or_error, calls))

    def _later(self, start: Start) -> Outcome:
        if start.delay > 0:
            time.sleep(start.delay)
        return self._call_or_error(start.call)

    def _step(self, step: Step, started: dict[int, Future[Outcome]], tickets: Iterator[int]) -> Any:
        if isinstance(step, Call):
            return self.call(step)
        if isinstance(step, Pause):
            time.sleep(step.seconds)
            return None
        if isinstance(step, Start):
            ticket = next(tickets)
            started[ticket] = self._workers().submit(self._later, step)
            return ticket
        if isinstance(step, NextDone):
            if not started:
                raise _nothing_started(step)
            done, _ = wait(started.values(), return_when=FIRST_COMPLETED)
            ticket = _first_done(done, started)
            return ticket, started.pop(ticket).result()
        return self._concurrently(step.calls)

    def run(self, operation: Operation[T]) -> T:
        """Drive ``operation`` to its result."""
        started: dict[int, Future[Outcome]] = {}
        tickets = itertools.count()
        try:
            step = next(operation)
            while True:
                try:
                    reply = self._step(step, started, tickets)
                except CNOPException as exc:
                    step = operation.throw(exc)
                else:
                    step = operation.send(reply)
        except StopIteration as stop:
            result: T = stop.value
            return result
        finally:
            # An operation that ended early still must not leave writes running behind it.
            wait(started.values())


class AsyncExecutor:
    """Runs operations with an open aiobotocore DynamoDB client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def call(self, call: Call) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            reply: dict[str, Any] = await getattr(self.client, call.operation)(**call.params)
        except Exception as exc:
            raise _fail(call, exc, started) from None
        record_call(call.table, call.operation, time.perf_counter() - started)
        return reply

    async def _call_or_error(self, call: Call) -> dict[str, Any] | CNOPException:
        try:
            return await self.call(call)
        except CNOPException as exc:
            return exc

    async def _later(self, start: Start) -> Outcome:
        if start.delay > 0:
            await asyncio.sleep(start.delay)
        return await self._call_or_error(start.call)

    async def _step(
        self, step: Step, started: dict[int, asyncio.Task[Outcome]], tickets: Iterator[int]
    ) -> Any:
        if isinstance(step, Call):
            return await self.call(step)
        if isinstance(step, Pause):
            await asyncio.sleep(step.seconds)
            return None
        if isinstance(step, Start):
            ticket = next(tickets)
            started[ticket] = asyncio.ensure_future(self._later(step))
            return ticket
        if isinstance(step, NextDone):
            if not started:
                raise _nothing_started(step)
            done, _ = await asyncio.wait(started.values(), return_when=asyncio.FIRST_COMPLETED)
            ticket = _first_done(done, started)
            return ticket, started.pop(ticket).result()
        if not isinstance(step, Concurrently):
            raise TypeError(f"unknown step {step!r}")
        return list(await asyncio.gather(*(self._call_or_error(c) for c in step.calls)))

    async def run(self, operation: Operation[T]) -> T:
        started: dict[int, asyncio.Task[Outcome]] = {}
        tickets = itertools.count()
        try:
            step = next(operation)
            while True:
                try:
                    reply = await self._step(step, started, tickets)
                except CNOPException as exc:
                    step = operation.throw(exc)
                else:
                    step = operation.send(reply)
        except StopIteration as stop:
            result: T = stop.value
            return result
        finally:
            if started:
                # Even when cancelled: a write in flight finishes rather than being cut off
                # with an unknown outcome behind the caller's back.
                await asyncio.gather(*started.values(), return_exceptions=True)
