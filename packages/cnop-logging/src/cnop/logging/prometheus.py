"""Exposing the metrics of :data:`cnop.logging.metrics` for Prometheus (``otel`` extra)."""

from __future__ import annotations

import threading
from typing import Any

from cnop.exceptions import CNOPConfigurationException

_lock = threading.Lock()
_state: dict[str, Any] = {}

# Metrics carry no secrets and Prometheus scrapes from outside the container.
DEFAULT_ADDR = "0.0.0.0"  # noqa: S104
DEFAULT_PORT = 9464


def install_meter_provider(service: str) -> Any:
    """Install an SDK meter provider whose metrics Prometheus can read; idempotent.

    Instruments made before this call (module-level ones) start recording now.
    """
    if not isinstance(service, str) or not service.strip():
        raise CNOPConfigurationException("service: must be a non-empty string")
    with _lock:
        if "provider" in _state:
            return _state["provider"]
        try:
            from opentelemetry import metrics as otel_metrics  # noqa: PLC0415
            from opentelemetry.exporter.prometheus import PrometheusMetricReader  # noqa: PLC0415
            from opentelemetry.sdk.metrics import MeterProvider  # noqa: PLC0415
            from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
        except ImportError as exc:
            raise CNOPConfigurationException(
                "Prometheus metrics need the OpenTelemetry SDK and exporter: "
                "install cnop-logging[otel]"
            ) from exc
        current = otel_metrics.get_meter_provider()
        if type(current).__module__.startswith("opentelemetry.sdk"):
            raise CNOPConfigurationException(
                "an OpenTelemetry SDK meter provider is already installed; "
                "add a PrometheusMetricReader to it instead"
            )
        provider = MeterProvider(
            resource=Resource.create({"service.name": service.strip()}),
            metric_readers=[PrometheusMetricReader()],
        )
        otel_metrics.set_meter_provider(provider)
        _state["provider"] = provider
        return provider


def expose_prometheus(service: str, *, port: int = DEFAULT_PORT, addr: str = DEFAULT_ADDR) -> int:
    """Serve ``/metrics`` for Prometheus on ``addr:port``; returns the port bound.

    ``port=0`` picks a free port. Calling it again returns the port already served.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise CNOPConfigurationException(f"port: must be an int in 0..65535, got {port!r:.20}")
    if not isinstance(addr, str) or not addr:
        raise CNOPConfigurationException("addr: must be a non-empty host or address")
    install_meter_provider(service)
    with _lock:
        if "port" in _state:
            bound: int = _state["port"]
            return bound
        from prometheus_client import start_http_server  # noqa: PLC0415

        try:
            server, _thread = start_http_server(port, addr=addr)
        except OSError as exc:
            raise CNOPConfigurationException(
                f"port: cannot serve metrics on {addr}:{port} ({exc.strerror})"
            ) from exc
        _state["server"] = server
        _state["port"] = int(server.server_port)
        return int(server.server_port)


def prometheus_text() -> bytes:
    """The current exposition (text format), to serve from an application's own route."""
    if "provider" not in _state:
        raise CNOPConfigurationException(
            "metrics are not set up for Prometheus: call install_meter_provider() or "
            "expose_prometheus() first"
        )
    from prometheus_client import REGISTRY, generate_latest  # noqa: PLC0415

    return bytes(generate_latest(REGISTRY))
