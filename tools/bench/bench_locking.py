"""cnop.locking against redis-py's ``Lock`` and python-redis-lock, on the same Redis.

Three targets, each measured for every contender in one run, in interleaved rounds
(rotating who goes first) so load that drifts on a shared machine cancels out:

1. Uncontended acquire + release cycles per second, one thread, one lock name per
   contender: ``with locks.lock(...)`` (fencing token included), ``with client.lock(...)``
   (redis-py) and ``with redis_lock.Lock(...)`` (python-redis-lock). The ratio cnop /
   redis-py is taken within each round; the median over the rounds is the figure
   (target >= 0.95x).
2. Redis server time per cycle: ``CONFIG RESETSTAT``, N cycles of one contender, then the
   ``usec`` that ``INFO commandstats`` reports for the commands that contender sends (its
   scripts' own commands are inside its ``EVALSHA`` time, so they are not added again),
   divided by N. On a Redis of the benchmark's own, so nobody else's commands count.
   Ratio cnop / redis-py, median over rounds (target <= 2x).
3. Hand-off latency: a holder thread keeps the lock while a waiter thread blocks on it,
   then releases; the latency is from just before the release call to the waiter's
   entry. Median and p99 per contender over all rounds (targets: cnop median <=
   python-redis-lock's, cnop p99 <= 2 ms). redis-py's waiter sleeps between polls (its
   default 0.1 s), so it gets a fifth of the hand-offs; the other two wake on a release
   signal.

cnop logs through cnop.logging configured at INFO into a temporary file, as a service
would run it. Cycles and hand-offs use ``REDIS_URL`` when set, else a Redis started for
the run; the server-time measure always starts its own.
Options: ``--cycles N`` (default 1500), ``--rounds N`` (default 7), ``--handoffs N``
(default 300, over all rounds), ``--stat-cycles N`` (default 1000).
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
from typing import TYPE_CHECKING, Any

import redis
import redis_lock

from cnop.locking import LockManager

if TYPE_CHECKING:
    from tools.bench import summary
else:
    import summary

TTL = 10.0
PACKAGE = "cnop-locking"
CNOP, REDIS_PY, REDIS_LOCK = "cnop.locking (fenced)", "redis-py Lock", "python-redis-lock"

#: The commands each contender sends itself (``INFO commandstats`` names). A script's own
#: commands are counted inside its EVALSHA; none of the peers' scripts sends SET, so their
#: top-level SET count is their own.
SENT = {
    CNOP: ("evalsha", "eval", "script|load"),
    REDIS_PY: ("set", "evalsha", "eval", "script|load"),
    REDIS_LOCK: ("set", "evalsha", "eval", "script|load"),
}


def _name(prefix: str) -> str:
    return f"bench-{prefix}-{uuid.uuid4().hex[:8]}"


def _rotated(names: list[str], round_no: int) -> list[str]:
    shift = round_no % len(names)
    return names[shift:] + names[:shift]


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


def _contenders(locks: LockManager, client: redis.Redis) -> dict[str, Callable[[int], float]]:
    return {
        CNOP: lambda n: cycles_cnop(locks, n),
        REDIS_PY: lambda n: cycles_redis_py(client, n),
        REDIS_LOCK: lambda n: cycles_redis_lock(client, n),
    }


def _cycles(locks: LockManager, client: redis.Redis, cycles: int, rounds: int) -> None:
    contenders = _contenders(locks, client)
    for run in contenders.values():  # warm up connections and script caches
        run(200)
    results: dict[str, list[float]] = {name: [] for name in contenders}
    for round_no in range(rounds):
        for name in _rotated(list(contenders), round_no):
            results[name].append(contenders[name](cycles))
    print(f"1. uncontended acquire+release, {cycles} cycles x {rounds} rounds (median)")
    for name, values in results.items():
        print(f"   {name:<24} {statistics.median(values):>9,.0f} cycles/s")
    ratios = [a / b for a, b in zip(results[CNOP], results[REDIS_PY], strict=True)]
    ratio = statistics.median(ratios)
    print(
        f"   ratio cnop / redis-py, per round, median: {ratio:.2f}x"
        f"  [{min(ratios):.2f}-{max(ratios):.2f}]  (target >= 0.95x)"
    )
    summary.add(
        PACKAGE,
        "uncontended acquire+release (fenced)",
        cnop=f"{statistics.median(results[CNOP]):,.0f}/s",
        peer=f"{statistics.median(results[REDIS_PY]):,.0f}/s (redis-py Lock)",
        ratio=ratio,
        target=">= 0.95x",
        met=ratio >= 0.95,
    )


# --- 2. server time per cycle ---------------------------------------------------------------


def _server_usec(admin: redis.Redis, commands: tuple[str, ...]) -> int:
    stats = admin.info("commandstats")
    return sum(int(stats[f"cmdstat_{c}"]["usec"]) for c in commands if f"cmdstat_{c}" in stats)


def _server_time(url: str, cycles: int, rounds: int) -> None:
    locks = LockManager.from_url(url)
    client = redis.Redis.from_url(url)
    admin = redis.Redis.from_url(url)
    try:
        contenders = _contenders(locks, client)
        for run in contenders.values():
            run(200)
        results: dict[str, list[float]] = {name: [] for name in contenders}
        for round_no in range(rounds):
            for name in _rotated(list(contenders), round_no):
                admin.config_resetstat()
                contenders[name](cycles)
                results[name].append(_server_usec(admin, SENT[name]) / cycles)
    finally:
        locks.close()
        client.close()
        admin.close()
    print(f"2. Redis server time per cycle (INFO commandstats), {cycles} cycles x {rounds} rounds")
    for name, values in results.items():
        print(f"   {name:<24} {statistics.median(values):7.1f} us/cycle  ({', '.join(SENT[name])})")
    ratios = [a / b for a, b in zip(results[CNOP], results[REDIS_PY], strict=True)]
    ratio = statistics.median(ratios)
    print(
        f"   ratio cnop / redis-py, per round, median: {ratio:.2f}x"
        f"  [{min(ratios):.2f}-{max(ratios):.2f}]  (target <= 2x)"
    )
    summary.add(
        PACKAGE,
        "Redis server time per acquire+release",
        cnop=f"{statistics.median(results[CNOP]):.1f} us",
        peer=f"{statistics.median(results[REDIS_PY]):.1f} us (redis-py Lock)",
        ratio=ratio,
        target="<= 2x",
        met=ratio <= 2.0,
    )


# --- 3. hand-off latency ----------------------------------------------------------------

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


def _handoff(locks: LockManager, client: redis.Redis, count: int, rounds: int) -> None:
    def cnop_hold(name: str) -> AbstractContextManager[Any]:
        return locks.lock(name, ttl=TTL, wait=10)

    def redis_py_hold(name: str) -> AbstractContextManager[Any]:
        lock: AbstractContextManager[Any] = client.lock(name, timeout=TTL, blocking_timeout=10)
        return lock

    def redis_lock_hold(name: str) -> AbstractContextManager[Any]:
        lock: AbstractContextManager[Any] = redis_lock.Lock(client, name, expire=int(TTL))
        return lock

    contenders: dict[str, Hold] = {
        CNOP: cnop_hold,
        REDIS_PY: redis_py_hold,
        REDIS_LOCK: redis_lock_hold,
    }
    per_round = max(1, count // rounds)
    share = {CNOP: per_round, REDIS_LOCK: per_round, REDIS_PY: max(1, per_round // 5)}
    latencies: dict[str, list[float]] = {name: [] for name in contenders}
    for hold in contenders.values():
        handoffs(hold, 2)  # warm up
    for round_no in range(rounds):
        for name in _rotated(list(contenders), round_no):
            latencies[name] += handoffs(contenders[name], share[name])
    print(f"3. hand-off latency under contention, {per_round} hand-offs x {rounds} rounds")
    for name, values in latencies.items():
        print(
            f"   {name:<24} median {statistics.median(values) * 1000:8.2f} ms"
            f"   p99 {_p(values, 0.99) * 1000:8.2f} ms   ({len(values)} hand-offs)"
        )
    ours, theirs = latencies[CNOP], latencies[REDIS_LOCK]
    ratio = statistics.median(ours) / statistics.median(theirs)
    p99 = _p(ours, 0.99)
    print(f"   ratio cnop / python-redis-lock (median): {ratio:.2f}x  (target <= 1x)")
    print(f"   cnop p99 {p99 * 1000:.2f} ms  (target <= 2 ms)")
    summary.add(
        PACKAGE,
        "hand-off latency, median",
        cnop=f"{statistics.median(ours) * 1000:.2f} ms",
        peer=f"{statistics.median(theirs) * 1000:.2f} ms (python-redis-lock)",
        ratio=ratio,
        target="<= 1x",
        met=ratio <= 1.0,
    )
    summary.add(
        PACKAGE,
        "hand-off latency, p99",
        cnop=f"{p99 * 1000:.2f} ms",
        peer=f"{_p(theirs, 0.99) * 1000:.2f} ms (python-redis-lock)",
        ratio=None,
        target="<= 2 ms",
        met=p99 <= 0.002,
    )


# --- running ------------------------------------------------------------------------------


@contextmanager
def _private_redis() -> Iterator[str]:
    import testservers  # type: ignore[import-not-found]

    server = testservers.start("redis")
    try:
        yield server.url
    finally:
        server.stop()


@contextmanager
def _redis() -> Iterator[str]:
    given = os.environ.get("REDIS_URL")
    if given:
        yield given
        return
    with _private_redis() as url:
        yield url


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench locking")
    parser.add_argument("--cycles", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--handoffs", type=int, default=300)
    parser.add_argument("--stat-cycles", type=int, default=1000)
    args = parser.parse_args(argv)

    from cnop.logging import configure_logging, reset_logging

    print(f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min)")
    with tempfile.TemporaryDirectory() as tmp:
        configure_logging(
            service="bench", level="INFO", sink=Path(tmp) / "log.jsonl", intercept_stdlib=False
        )
        try:
            with _redis() as url:
                locks = LockManager.from_url(url, default_wait=10)
                client = redis.Redis.from_url(url)
                try:
                    _cycles(locks, client, args.cycles, args.rounds)
                    with _private_redis() as private:
                        _server_time(private, args.stat_cycles, max(3, args.rounds // 2 + 1))
                    _handoff(locks, client, args.handoffs, args.rounds)
                finally:
                    locks.close()
                    client.close()
        finally:
            reset_logging()
    print(f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min)")
    return 0
