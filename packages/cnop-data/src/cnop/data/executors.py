"""Run core operations: with a boto3 client (sync) or an aiobotocore client (async).

The executors are the only code that does I/O. They map every client error to a
CNOP exception (thrown back into the operation), time each request for the
metrics, sleep for backoff, and run :class:`Concurrently` steps in parallel (a thread
pool for sync, ``asyncio.gather`` for async).
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from cnop.data.core.steps import Call, Concurrently, Operation, Pause, Step
from cnop.data.errors import map_error
from cnop.data.observability import record_call
from cnop.exceptions import CNOPException

__all__ = ["AsyncExecutor", "SyncExecutor"]

T = TypeVar("T")


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

    def _concurrently(self, calls: tuple[Call, ...]) -> list[dict[str, Any] | CNOPException]:
        if len(calls) == 1:
            return [self._call_or_error(calls[0])]
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._max_workers, "cnop-data")
        return list(self._pool.map(self._call_or_error, calls))

    def _step(self, step: Step) -> Any:
        if isinstance(step, Call):
            return self.call(step)
        if isinstance(step, Pause):
            time.sleep(step.seconds)
            return None
        return self._concurrently(step.calls)

    def run(self, operation: Operation[T]) -> T:
        """Drive ``operation`` to its result."""
        try:
            step = next(operation)
            while True:
                try:
                    reply = self._step(step)
                except CNOPException as exc:
                    step = operation.throw(exc)
                else:
                    step = operation.send(reply)
        except StopIteration as stop:
            result: T = stop.value
            return result


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

    async def _step(self, step: Step) -> Any:
        if isinstance(step, Call):
            return await self.call(step)
        if isinstance(step, Pause):
            await asyncio.sleep(step.seconds)
            return None
        if not isinstance(step, Concurrently):
            raise TypeError(f"unknown step {step!r}")
        return list(await asyncio.gather(*(self._call_or_error(c) for c in step.calls)))

    async def run(self, operation: Operation[T]) -> T:
        try:
            step = next(operation)
            while True:
                try:
                    reply = await self._step(step)
                except CNOPException as exc:
                    step = operation.throw(exc)
                else:
                    step = operation.send(reply)
        except StopIteration as stop:
            result: T = stop.value
            return result
