"""The acquisition loop's decisions, on a clock the test controls (no I/O, no sleeping)."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from cnop.exceptions import CNOPLockAcquisitionException, CNOPLockTimeoutException
from cnop.locking import MAX_SINGLE_WAIT, Attempt
from cnop.locking.acquisition import Acquired, TryAcquire, WaitForRelease, acquisition


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    @staticmethod
    def fixed(value: float) -> Callable[[], float]:
        return lambda: value


def test_a_free_lock_is_taken_at_the_first_try() -> None:
    clock = Clock()
    plan = acquisition("x", wait=5, clock=clock, jitter=lambda: 0.0)
    assert isinstance(next(plan), TryAcquire)
    with pytest.raises(StopIteration) as done:
        plan.send(Attempt(True, fencing_token=7))
    result = done.value.value
    assert result == Acquired(fencing_token=7, waited=0.0, contended=False, requested_at=100.0)


def test_without_wait_a_held_lock_fails_at_once_as_busy() -> None:
    plan = acquisition("x", wait=0, clock=Clock(), jitter=lambda: 0.0)
    next(plan)
    with pytest.raises(CNOPLockAcquisitionException) as caught:
        plan.send(Attempt(False, retry_after=3.0))
    assert not isinstance(caught.value, CNOPLockTimeoutException)


def test_waits_are_bounded_by_the_holders_lease_the_deadline_and_a_cap() -> None:
    clock = Clock()
    plan = acquisition("x", wait=2.0, clock=clock, jitter=lambda: 1.0)
    next(plan)
    # Holder has 0.2 s left: wait about that long (plus at most 20 ms of jitter).
    step = plan.send(Attempt(False, retry_after=0.2))
    assert isinstance(step, WaitForRelease)
    assert 0.2 < step.timeout <= 0.22
    assert isinstance(plan.send(None), TryAcquire)
    # Holder with a long lease: never block longer than the cap without re-checking.
    step = plan.send(Attempt(False, retry_after=30.0))
    assert isinstance(step, WaitForRelease)
    assert step.timeout == MAX_SINGLE_WAIT
    assert isinstance(plan.send(None), TryAcquire)
    # Unknown lease (a key without expiry): the cap again.
    step = plan.send(Attempt(False, retry_after=math.inf))
    assert isinstance(step, WaitForRelease)
    assert step.timeout == MAX_SINGLE_WAIT
    clock.now += 1.9
    assert isinstance(plan.send(None), TryAcquire)
    # Only 0.1 s of the caller's wait is left.
    step = plan.send(Attempt(False, retry_after=30.0))
    assert isinstance(step, WaitForRelease)
    assert step.timeout == pytest.approx(0.1)


def test_jitter_spreads_waiters_but_stays_small() -> None:
    timeouts = []
    for draw in (0.0, 0.5, 1.0):
        plan = acquisition("x", wait=5, clock=Clock(), jitter=Clock.fixed(draw))
        next(plan)
        step = plan.send(Attempt(False, retry_after=0.5))
        assert isinstance(step, WaitForRelease)
        timeouts.append(step.timeout)
    assert timeouts == sorted(set(timeouts))
    assert timeouts[0] == 0.5
    assert timeouts[-1] <= 0.5 + 0.02


def test_after_the_deadline_one_last_try_is_made_then_a_timeout_names_lock_and_wait() -> None:
    clock = Clock()
    plan = acquisition("orders", wait=1.0, clock=clock, jitter=lambda: 0.0)
    next(plan)
    plan.send(Attempt(False, retry_after=5.0))
    clock.now += 1.0
    assert isinstance(plan.send(None), TryAcquire)
    with pytest.raises(CNOPLockTimeoutException) as caught:
        plan.send(Attempt(False, retry_after=5.0))
    assert "'orders'" in str(caught.value)
    assert caught.value.details == {"lock": "orders", "waited_s": 1.0, "wait_s": 1.0}


def test_the_lease_counts_from_when_the_winning_try_was_sent() -> None:
    clock = Clock()
    plan = acquisition("x", wait=5, clock=clock, jitter=lambda: 0.0)
    next(plan)
    plan.send(Attempt(False, retry_after=0.5))
    clock.now += 0.5
    plan.send(None)  # the winning try is sent at 100.5
    clock.now += 0.25  # and answered later
    with pytest.raises(StopIteration) as done:
        plan.send(Attempt(True, fencing_token=9))
    result = done.value.value
    assert result.requested_at == 100.5
    assert result.waited == 0.75
    assert result.contended is True


def test_the_backend_memory_is_handed_back_on_the_next_try() -> None:
    plan = acquisition("x", wait=5, clock=Clock(), jitter=lambda: 0.0)
    first = next(plan)
    assert isinstance(first, TryAcquire)
    assert first.previous is None
    refused = Attempt(False, retry_after=0.1, observed="seen")
    plan.send(refused)
    second = plan.send(None)
    assert isinstance(second, TryAcquire)
    assert second.previous is refused
