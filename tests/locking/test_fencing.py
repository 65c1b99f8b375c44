"""Fencing tokens stop a holder that was paused past its lease (on every backend)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import pytest

from cnop.exceptions import CNOPLockLostException
from cnop.locking import LockManager

pytestmark = pytest.mark.integration


class FencedStore:
    """A store that refuses writes carrying a lower fencing token than one it has seen."""

    def __init__(self) -> None:
        self.value: str | None = None
        self.highest = 0

    def write(self, value: str, fence: int) -> bool:
        if fence < self.highest:
            return False
        self.highest = fence
        self.value = value
        return True


def test_tokens_strictly_increase_across_many_holders(
    locks: LockManager, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("fences")
    fences = []
    for _ in range(20):
        with locks.lock(name, ttl=5) as lock:
            fences.append(lock.fencing_token)
    assert all(a < b for a, b in itertools.pairwise(fences))


def test_a_holder_paused_past_its_lease_is_fenced_off(
    locks: LockManager, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("paused")
    store = FencedStore()
    paused_cm = locks.lock(name, ttl=0.3)
    paused = paused_cm.__enter__()
    time.sleep(0.5)  # a GC pause, a stalled VM...: the lease runs out meanwhile
    with locks.lock(name, ttl=5, wait=5) as successor:
        assert successor.fencing_token > paused.fencing_token
        assert store.write("successor", successor.fencing_token)
    # The paused holder wakes up and tries to write with its old token.
    assert not store.write("paused", paused.fencing_token)
    assert store.value == "successor"
    with pytest.raises(CNOPLockLostException):
        paused_cm.__exit__(None, None, None)
