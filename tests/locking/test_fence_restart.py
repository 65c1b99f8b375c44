"""Fencing tokens never go back, even when Redis comes back with older data.

A Redis restarted from an older RDB snapshot (or a promoted replica that lagged behind)
still holds the fence counter, but at an old value: a plain ``INCR`` would hand out
again tokens that were already granted.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from cnop.locking import RedisLockBackend

pytestmark = pytest.mark.integration


@pytest.fixture
def snapshotting_redis(tmp_path: Path) -> Iterator[Callable[[int | None], Any]]:
    """Start redis-servers that keep their snapshot (``dump.rdb``) in ``tmp_path``."""
    from cnop_testservers import Server, _start_redis_node, free_port  # tests/conftest.py

    started: list[Any] = []

    def start(port: int | None = None) -> Any:
        port = port or free_port()
        pid = _start_redis_node(port, tmp_path, [], None)
        server = Server("redis", f"redis://127.0.0.1:{port}/0", [pid], [port], str(tmp_path))
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _grant(backend: RedisLockBackend, name: str, token: str) -> int:
    attempt = backend.try_acquire(name, token, 5.0, None)
    assert attempt.acquired
    assert backend.release(name, token)
    return attempt.fencing_token


def test_a_restart_from_an_older_snapshot_never_reissues_a_token(
    snapshotting_redis: Callable[[int | None], Any], tmp_path: Path
) -> None:
    server = snapshotting_redis(None)
    backend = RedisLockBackend.from_url(server.url)
    name = "fence-snapshot"
    handed_out = [_grant(backend, name, f"before-{i}") for i in range(3)]
    redis.Redis.from_url(server.url).save()  # the snapshot a later restart comes back with
    older = tmp_path / "older.rdb"
    shutil.copyfile(tmp_path / "dump.rdb", older)
    handed_out += [_grant(backend, name, f"after-{i}") for i in range(5)]
    assert handed_out == sorted(set(handed_out))

    server.kill()  # a crash: what was granted after the snapshot is not on disk
    shutil.copyfile(older, tmp_path / "dump.rdb")
    restarted = snapshotting_redis(server.ports[0])
    assert restarted.pids != server.pids
    fence_key = f"cnop:lock:{{n:{name}}}:fence"
    assert redis.Redis.from_url(restarted.url).exists(fence_key)  # the old counter is back

    for i in range(3):
        token = _grant(backend, name, f"restarted-{i}")
        assert token > max(handed_out)
        handed_out.append(token)
    backend.close()


def test_a_clock_behind_the_last_token_still_hands_out_a_greater_one(
    redis_url: str, unique_name: Callable[[str], str]
) -> None:
    # The server clock stepped back (or a promoted replica's clock is behind): the stored
    # last token, not the clock, keeps the next one above it.
    backend = RedisLockBackend.from_url(redis_url)
    name = unique_name("fence-clock-back")
    ahead = _grant(backend, name, "first") + 10**12  # about eleven days ahead of the clock
    redis.Redis.from_url(redis_url).set(f"cnop:lock:{{n:{name}}}:fence", ahead, px=60_000)
    assert _grant(backend, name, "second") == ahead + 1
    assert _grant(backend, name, "third") == ahead + 2
    backend.close()
