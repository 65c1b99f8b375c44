"""The metrics facade: bounded labels, no-op without the SDK, Prometheus exposition."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import urllib.request

import pytest

from cnop.exceptions import CNOPConfigurationException, CNOPValidationException
from cnop.logging import expose_prometheus, metrics, prometheus_text

# Made at import time, before any meter provider exists, as the other packages do.
ORDERS = metrics.counter(
    "cnop.test.prom.orders", description="Orders placed", labels=("side", "outcome")
)
WAIT = metrics.histogram(
    "cnop.test.prom.wait", unit="s", description="Lock wait", labels=("backend",)
)
CONCURRENT = metrics.counter("cnop.test.prom.concurrent", labels=("worker_group",))


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        body: bytes = response.read()
    return body.decode()


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample line of the exposition (fails if absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name}{labels} in:\n{text}")


@pytest.fixture(scope="module")
def port() -> int:
    return expose_prometheus("test-svc", port=0, addr="127.0.0.1")


def test_recorded_metrics_appear_in_the_exposition(
    port: int, capfd: pytest.CaptureFixture[str]
) -> None:
    ORDERS.add(1, side="buy", outcome="filled")
    ORDERS.add(2, side="buy", outcome="filled")
    ORDERS.add(1, side="sell", outcome="rejected")
    for seconds in (0.0004, 0.003, 0.003, 0.2):
        WAIT.record(seconds, backend="redis")
    # Programming errors: reported once each, never raised, never recorded.
    ORDERS.add(5, side="buy")
    ORDERS.add(5, side="buy")
    ORDERS.add(5, side="buy", outcome="filled", extra="x")
    ORDERS.add(-1, side="buy", outcome="filled")
    WAIT.record("slow", backend="redis")  # type: ignore[arg-type]

    text = scrape(port)
    assert sample(text, "cnop_test_prom_orders_total", side="buy", outcome="filled") == 3
    assert sample(text, "cnop_test_prom_orders_total", side="sell", outcome="rejected") == 1
    assert sample(text, "cnop_test_prom_wait_seconds_count", backend="redis") == 4
    assert sample(text, "cnop_test_prom_wait_seconds_bucket", backend="redis", le="0.0005") == 1
    assert sample(text, "cnop_test_prom_wait_seconds_bucket", backend="redis", le="0.005") == 3
    assert sample(text, "cnop_test_prom_wait_seconds_sum", backend="redis") == pytest.approx(0.2064)
    assert prometheus_text().decode().count("cnop_test_prom_orders_total{") == 2
    err = capfd.readouterr().err
    assert err.count("takes labels") == 2  # missing label, unknown label: once each
    assert err.count("cannot go down") == 1
    assert err.count("needs a number") == 1


def test_concurrent_recording_loses_nothing(port: int) -> None:
    def work() -> None:
        for _ in range(1000):
            CONCURRENT.add(1, worker_group="g")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sample(scrape(port), "cnop_test_prom_concurrent_total", worker_group="g") == 8000


def test_exposing_again_returns_the_same_port(port: int) -> None:
    assert expose_prometheus("test-svc", port=0, addr="127.0.0.1") == port


def test_same_name_returns_the_same_instrument_or_refuses() -> None:
    assert metrics.counter("cnop.test.prom.orders", labels=("side", "outcome")) is ORDERS
    with pytest.raises(CNOPValidationException, match="already a counter"):
        metrics.counter("cnop.test.prom.orders", labels=("side",))
    with pytest.raises(CNOPValidationException, match="already a counter"):
        metrics.histogram("cnop.test.prom.orders", labels=("side", "outcome"))


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"name": "9starts.with.digit"}, "name"),
        ({"name": "has space"}, "name"),
        ({"name": "ok.name", "labels": "side"}, "labels"),
        ({"name": "ok.name", "labels": ("bad-label",)}, "labels"),
        ({"name": "ok.name", "labels": ("a", "a")}, "labels"),
        ({"name": "ok.name", "unit": "µs"}, "unit"),
    ],
)
def test_bad_instrument_definitions_are_refused(kwargs: dict[str, object], named: str) -> None:
    with pytest.raises(CNOPValidationException, match=named):
        metrics.counter(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("buckets", [[], [1.0, 1.0], [2.0, 1.0], ["a"]])
def test_bad_buckets_are_refused(buckets: list[object]) -> None:
    with pytest.raises(CNOPValidationException, match="buckets"):
        metrics.histogram("cnop.test.bad.buckets", buckets=buckets)  # type: ignore[arg-type]


def test_bad_exposure_arguments_are_refused() -> None:
    with pytest.raises(CNOPConfigurationException, match="port"):
        expose_prometheus("svc", port=70000)
    with pytest.raises(CNOPConfigurationException, match="service"):
        expose_prometheus("", port=0)


def test_without_the_sdk_recording_is_a_silent_no_op() -> None:
    code = (
        "import sys\n"
        "from cnop.logging import metrics\n"
        "c = metrics.counter('cnop.noop.calls', labels=('kind',))\n"
        "h = metrics.histogram('cnop.noop.wait', unit='s', labels=('kind',))\n"
        "for _ in range(1000):\n"
        "    c.add(1, kind='a'); h.record(0.1, kind='a')\n"
        "print(any(m.startswith('opentelemetry.sdk') for m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False"
    assert done.stderr == ""
