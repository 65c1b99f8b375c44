"""Lock events reach the log through cnop.logging, with wait and hold times, and
``import cnop.locking`` loads neither boto3 nor redis."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from cnop.exceptions import CNOPLockLostException, CNOPLockTimeoutException
from cnop.locking import LockManager
from cnop.logging import configure_logging, reset_logging


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    configure_logging(service="locking-tests", level="DEBUG", fmt="json", sink=buffer)
    yield buffer
    reset_logging()


def _lock_events(buffer: io.StringIO) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in buffer.getvalue().splitlines()]
    return [r for r in records if r["logger"] in {"lock", "audit"}]


def test_acquired_contended_released_timeout_and_lost_are_logged(
    log_lines: io.StringIO,
) -> None:
    locks = LockManager.in_memory()
    with locks.user_lock("alice", "deposit") as lock:
        with pytest.raises(CNOPLockTimeoutException), locks.user_lock("alice", "buy", wait=0.05):
            pass
        token = lock.token
    with pytest.raises(CNOPLockLostException), locks.lock("short", ttl=0.05):
        time.sleep(0.1)

    events = _lock_events(log_lines)
    actions = [e["action"] for e in events]
    assert actions[:3] == ["lock_acquired", "lock_timeout", "lock_released"]
    acquired, timeout, released = events[:3]
    assert acquired["user"] == "alice"
    assert acquired["lock"] == "user:alice"
    assert acquired["fence"] == lock.fencing_token  # "fencing_token" would be redacted
    assert "wait_ms" in acquired
    assert timeout["level"] == "WARNING"
    assert timeout["wait_ms"] >= 50
    assert released["hold_ms"] >= timeout["wait_ms"]
    lost = [e for e in events if e["action"] == "lock_lost"]
    assert {e["logger"] for e in lost} == {"lock", "audit"}  # an error line and an audit record
    assert all(e["lock"] == "short" for e in lost)
    assert token not in log_lines.getvalue()  # owner tokens are never logged


def test_a_wait_that_succeeds_is_logged_as_contended(log_lines: io.StringIO) -> None:
    locks = LockManager.in_memory()
    with locks.lock("handoff", ttl=0.1):
        pass
    cm = locks.lock("handoff", ttl=0.1)
    cm.__enter__()
    with locks.lock("handoff", ttl=1, wait=2):  # enters once the 0.1 s lease lapses
        pass
    contended = [e for e in _lock_events(log_lines) if e["action"] == "lock_contended"]
    assert len(contended) == 1
    assert contended[0]["wait_ms"] > 0


def test_importing_the_package_loads_neither_boto3_nor_redis() -> None:
    code = (
        "import sys, cnop.locking\n"
        "print(sorted(m for m in ('boto3', 'botocore', 'redis') if m in sys.modules))\n"
        "cnop.locking.LockManager.in_memory()\n"
        "print(sorted(m for m in ('boto3', 'botocore', 'redis') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split("\n")
    assert out[:2] == ["[]", "[]"]


def test_wait_and_hold_times_are_recorded_as_metrics() -> None:
    # cnop-locking does not depend on the SDK; the workspace installs it (cnop-logging[otel]).
    pytest.importorskip("opentelemetry.sdk.metrics", reason="needs cnop-logging[otel]")
    # In a fresh interpreter: an OpenTelemetry meter provider is process-global.
    code = """
import json
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

from cnop.exceptions import CNOPLockAcquisitionException
from cnop.locking import LockManager

locks = LockManager.in_memory()
with locks.lock("m", ttl=5):
    try:
        with locks.lock("m", wait=0):
            pass
    except CNOPLockAcquisitionException:
        pass
seen = {}
for resource in reader.get_metrics_data().resource_metrics:
    for scope in resource.scope_metrics:
        for metric in scope.metrics:
            for point in metric.data.data_points:
                key = f"{metric.name}|{point.attributes['backend']}|{point.attributes['outcome']}"
                seen[key] = point.count
print(json.dumps(seen))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen == {
        "cnop.lock.wait|memory|acquired": 1,
        "cnop.lock.wait|memory|busy": 1,
        "cnop.lock.hold|memory|released": 1,
    }


def test_a_prompt_hand_off_is_logged_at_debug_and_a_long_wait_at_info(
    log_lines: io.StringIO,
) -> None:
    """Under load every hand-off waits a little; an INFO line for each would cost more than
    the hand-off. The event is the same, its level says whether the wait was notable."""
    from cnop.locking._telemetry import NOTABLE_WAIT

    locks = LockManager.in_memory()
    holder = locks.lock("prompt", ttl=5)
    holder.__enter__()
    timer = threading.Timer(NOTABLE_WAIT / 3, holder.__exit__, (None, None, None))
    timer.start()
    with locks.lock("prompt", ttl=1, wait=2):
        pass
    timer.join()
    slow = locks.lock("slow", ttl=NOTABLE_WAIT * 2)
    slow.__enter__()
    with locks.lock("slow", ttl=1, wait=2):  # enters once that lease lapses
        pass
    contended = {e["lock"]: e for e in _lock_events(log_lines) if e["action"] == "lock_contended"}
    if contended["prompt"]["wait_ms"] < NOTABLE_WAIT * 1000:
        assert contended["prompt"]["level"] == "DEBUG"
    assert contended["slow"]["wait_ms"] >= NOTABLE_WAIT * 1000
    assert contended["slow"]["level"] == "INFO"
