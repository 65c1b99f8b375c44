"""cnop.locking against redis-py's ``Lock`` and python-redis-lock, on the same Redis.

1. Uncontended acquire + release cycles per second, one thread, one lock name per
   contender: ``with locks.lock(...)`` (fencing token included), ``with client.lock(...)``
   (redis-py) and ``with redis_lock.Lock(...)`` (python-redis-lock). Rounds alternate
   between the contenders (rotating who goes first); the median cycles/s of each is
   printed, and the ratio cnop / faster peer (the peer with the higher median) taken
   within each round, so load that drifts between rounds of a shared machine cancels out;
   median over the rounds (goal: >= 0.9).
2. Hand-off latency under contention: a holder thread keeps the lock while a waiter
   thread blocks on it, then releases; the latency is from just before the release call
   to the waiter's entry. Median and p99 per contender, and the ratio peer / cnop of
   the medians (goal: cnop median <= 5 ms). redis-py's waiter sleeps between polls
   (its default 0.1 s); the other two wake on a release signal.

cnop logs through cnop.logging configured at INFO into a temporary file, as a service
would run it. A Redis is started for the run unless ``REDIS_URL`` is set.
Options: ``--cycles N`` (default 1500), ``--rounds N`` (default 7), ``--handoffs N``
(default 150).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import redis
import redis_lock

from cnop.locking import LockManager

TTL = 10.0


def _name(prefix: str) -> str:
    return f"bench-{prefix}-{uuid.uuid4().hex[:8]}"


# --- 1. uncontended cycles ------------------------------------------------------------


def cycles_cnop(locks: LockManager, cycles: int) -> float:
    name = _name("cnop")
    started = time.perf_counter()
    for _ in range(cycles):
        with locks.lock(name, ttl=TTL, wait=0):
            pass
    return cycles / (time.perf_counter() - started)


def cycles_redis_py(client: redis.Redis, cycles: int) -> float:
    name = _name("redis-py")
    started = time.perf_counter()
    for _ in range(cycles):
        with client.lock(name, timeout=TTL, blocking=False):
            pass
    return cycles / (time.perf_counter() - started)


def cycles_redis_lock(client: redis.Redis, cycles: int) -> float:
    name = _name("redis-lock")
    started = time.perf_counter()
    for _ in range(cycles):
        with redis_lock.Lock(client, name, expire=int(TTL)):
            pass
    return cycles / (time.perf_counter() - started)


# --- 2. hand-off latency ----------------------------------------------------------------

#: A contender in the hand-off test: ``hold(name)`` waits for the lock and holds it.
Hold = Callable[[str], AbstractContextManager[Any]]


def handoffs(hold: Hold, count: int) -> list[float]:
    """Latencies (s) from the holder's release call to the waiter's entry."""
    name = _name("handoff")
    latencies: list[float] = []
    for _ in range(count):
        holding = threading.Event()
        released_at: list[float] = []
        thread = threading.Thread(
            target=_hold_then_release, args=(hold, name, holding, released_at)
        )
        thread.start()
        holding.wait()
        with hold(name):
            entered = time.perf_counter()
        thread.join()
        latencies.append(entered - released_at[0])
    return latencies


def _hold_then_release(
    hold: Hold, name: str, holding: threading.Event, released_at: list[float]
) -> None:
    with hold(name):
        holding.set()
        time.sleep(0.01)  # the waiter is blocked on the lock by now
        released_at.append(time.perf_counter())


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --- running ------------------------------------------------------------------------------


@contextmanager
def _redis() -> Iterator[str]:
    given = os.environ.get("REDIS_URL")
    if given:
        yield given
        return
    import testservers  # type: ignore[import-not-found]

    server = testservers.start("redis")
    try:
        yield server.url
    finally:
        server.stop()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench locking")
    parser.add_argument("--cycles", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--handoffs", type=int, default=150)
    args = parser.parse_args(argv)

    from cnop.logging import configure_logging, reset_logging

    with tempfile.TemporaryDirectory() as tmp, _redis() as url:
        configure_logging(
            service="bench", level="INFO", sink=Path(tmp) / "log.jsonl", intercept_stdlib=False
        )
        locks = LockManager.from_url(url, default_wait=10)
        client = redis.Redis.from_url(url)
        try:
            _cycles(locks, client, args.cycles, args.rounds)
            _handoff(locks, client, args.handoffs)
        finally:
            locks.close()
            client.close()
            reset_logging()
    return 0


def _cycles(locks: LockManager, client: redis.Redis, cycles: int, rounds: int) -> None:
    contenders: dict[str, Callable[[], float]] = {
        "cnop.locking (fenced)": lambda: cycles_cnop(locks, cycles),
        "redis-py Lock": lambda: cycles_redis_py(client, cycles),
        "python-redis-lock": lambda: cycles_redis_lock(client, cycles),
    }
    for run in contenders.values():  # warm up connections and script caches
        run()
    results: dict[str, list[float]] = {name: [] for name in contenders}
    order = list(contenders)
    for round_no in range(rounds):
        # Rotate who goes first, so no contender always runs right after the same one.
        shift = round_no % len(order)
        for name in order[shift:] + order[:shift]:
            results[name].append(contenders[name]())
    print(f"1. uncontended acquire+release, {cycles} cycles x {rounds} rounds (median)")
    for name, values in results.items():
        print(f"   {name:<24} {statistics.median(values):>9,.0f} cycles/s")
    ours = results["cnop.locking (fenced)"]
    peer = max(
        (name for name in results if not name.startswith("cnop")),
        key=lambda name: statistics.median(results[name]),
    )
    ratios = [a / b for a, b in zip(ours, results[peer], strict=True)]
    print(
        f"   ratio cnop / faster peer ({peer}), per round, median: "
        f"{statistics.median(ratios):.2f}x  [{min(ratios):.2f}-{max(ratios):.2f}]  (goal >= 0.90)"
    )


def _handoff(locks: LockManager, client: redis.Redis, count: int) -> None:
    def cnop_hold(name: str) -> AbstractContextManager[Any]:
        return locks.lock(name, ttl=TTL, wait=10)

    def redis_py_hold(name: str) -> AbstractContextManager[Any]:
        lock: AbstractContextManager[Any] = client.lock(name, timeout=TTL, blocking_timeout=10)
        return lock

    def redis_lock_hold(name: str) -> AbstractContextManager[Any]:
        lock: AbstractContextManager[Any] = redis_lock.Lock(client, name, expire=int(TTL))
        return lock

    contenders: dict[str, Hold] = {
        "cnop.locking": cnop_hold,
        "redis-py Lock": redis_py_hold,
        "python-redis-lock": redis_lock_hold,
    }
    medians: dict[str, float] = {}
    print(f"2. hand-off latency under contention, {count} hand-offs")
    for name, hold in contenders.items():
        latencies = handoffs(hold, count)
        medians[name] = statistics.median(latencies)
        print(
            f"   {name:<24} median {medians[name] * 1000:8.2f} ms"
            f"   p99 {_p(latencies, 0.99) * 1000:8.2f} ms"
        )
    ours = medians["cnop.locking"]
    for name, value in medians.items():
        if name != "cnop.locking":
            print(f"   ratio {name} / cnop (median): {value / ours:.1f}x")
    print(f"   cnop median {ours * 1000:.2f} ms (goal <= 5 ms)")
