"""Many processes on one Redis: mutual exclusion, fencing order, and a holder that crashes."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from cnop.exceptions import CNOPLockAcquisitionException
from cnop.locking import LockManager

pytestmark = pytest.mark.integration

WORKER = Path(__file__).with_name("lock_worker.py")
PROCESSES = 8
ROUNDS = 200


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def test_eight_processes_of_200_locked_increments_end_at_exactly_1600(
    redis_url: str, unique_name: Callable[[str], str]
) -> None:
    name, counter = unique_name("mutex"), unique_name("counter")
    workers = [_spawn("count", redis_url, name, counter, str(ROUNDS)) for _ in range(PROCESSES)]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready"
        for worker in workers:  # start together, so they contend from the first round
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        written: list[tuple[int, int]] = []
        for worker in workers:
            out, _ = worker.communicate(timeout=120)
            assert worker.returncode == 0
            written.extend(tuple(pair) for pair in json.loads(out))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()

    assert int(redis.Redis.from_url(redis_url).get(counter) or 0) == PROCESSES * ROUNDS
    values = sorted(value for value, _ in written)
    assert values == list(range(1, PROCESSES * ROUNDS + 1))  # no lost or doubled update
    # In the order the writes happened, the fencing tokens strictly increase.
    fences = [fence for _, fence in sorted(written)]
    assert all(a < b for a, b in itertools.pairwise(fences))


@pytest.mark.parametrize("store_kind", ["redis", "dynamodb"])
def test_a_killed_holder_blocks_others_only_until_its_lease_ends(
    request: pytest.FixtureRequest, store_kind: str, unique_name: Callable[[str], str]
) -> None:
    if store_kind == "redis":
        store = request.getfixturevalue("redis_url")
        locks = LockManager.from_url(store)
    else:
        endpoint = request.getfixturevalue("dynamodb_endpoint")
        table = request.getfixturevalue("dynamodb_lock_table")
        store = f"dynamodb:{endpoint}|{table}"
        locks = LockManager.dynamodb(table, endpoint_url=endpoint, poll_interval=0.05)
    name = unique_name("crash")
    holder = _spawn("hold", store, name, "1.0")
    try:
        assert holder.stdout is not None
        crashed_fence = int(holder.stdout.readline())
        holder.kill()  # SIGKILL: no release, no cleanup
        holder.wait()
        with pytest.raises(CNOPLockAcquisitionException), locks.lock(name, wait=0):
            pytest.fail("the dead holder's lease was ignored")
        # The lease is 1 s; waiting up to 10 s must succeed once it lapses.
        with locks.lock(name, ttl=5, wait=10) as lock:
            assert lock.fencing_token > crashed_fence
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        locks.close()
