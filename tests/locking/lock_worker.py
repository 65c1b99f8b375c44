"""A separate process that uses cnop.locking, for the multi-process and crash tests.

python lock_worker.py count <redis-url> <lock> <counter-key> <rounds>
    waits for "go" on stdin, then does <rounds> locked read-increment-write cycles on
    <counter-key> and prints one JSON list of [value written, fencing token] pairs.
python lock_worker.py hold <store> <lock> <ttl>
    takes the lock, prints its fencing token, and sleeps until killed.
    <store> is a Redis URL or dynamodb:<endpoint>|<table>.
python lock_worker.py hold-user <store> <username> <operation>
    the same with ``user_lock(username, operation)`` and every default setting.
"""

from __future__ import annotations

import json
import sys
import time

import redis

from cnop.locking import LockManager


def _manager(store: str) -> LockManager:
    if store.startswith("dynamodb:"):
        endpoint, table = store.removeprefix("dynamodb:").split("|")
        return LockManager.dynamodb(table, endpoint_url=endpoint)
    return LockManager.from_url(store)


def count(url: str, name: str, counter: str, rounds: int) -> None:
    locks = LockManager.from_url(url)
    store = redis.Redis.from_url(url)
    print("ready", flush=True)
    sys.stdin.readline()
    written: list[tuple[int, int]] = []
    for _ in range(rounds):
        with locks.lock(name, ttl=10, wait=60) as lock:
            value = int(store.get(counter) or 0) + 1
            store.set(counter, value)
            written.append((value, lock.fencing_token))
    print(json.dumps(written), flush=True)


def hold(store: str, name: str, ttl: float) -> None:
    locks = _manager(store)
    with locks.lock(name, ttl=ttl, wait=10) as lock:
        print(lock.fencing_token, flush=True)
        time.sleep(3600)


def hold_user(store: str, username: str, operation: str) -> None:
    locks = _manager(store)
    with locks.user_lock(username, operation) as lock:
        print(lock.fencing_token, flush=True)
        time.sleep(3600)


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "count":
        count(args[0], args[1], args[2], int(args[3]))
    elif mode == "hold-user":
        hold_user(args[0], args[1], args[2])
    else:
        hold(args[0], args[1], float(args[2]))
