"""OpenTelemetry tracing: ``traced`` spans (API only) and ``configure_tracing`` (SDK).

Every line logged while a span is active carries its ``trace_id`` and ``span_id``
(see :mod:`cnop.logging.formatting`); nothing here is needed for that. ``traced``
works with the bare OTel API (spans are no-ops until an SDK provider is installed);
``configure_tracing`` needs the ``otel`` extra. Both import OpenTelemetry on first
use, not when :mod:`cnop.logging` is imported.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar, cast

from cnop.exceptions import CNOPConfigurationException, CNOPValidationException
from cnop.logging import _scopes

TRACER_NAME = "cnop"
F = TypeVar("F", bound=Callable[..., Any])
AttributeValue = str | bool | int | float


def _tracer() -> Any:
    from opentelemetry import trace  # noqa: PLC0415 - loaded on first use, not at import

    return trace.get_tracer(TRACER_NAME)


class traced:  # noqa: N801 - used like a function: ``@traced()``, ``with traced("x"):``
    """A span around a function call or a block, for sync and async code.

    ::

        @traced()                      # span named after the function
        async def place_order(...): ...

        with traced("load_user", attributes={"user": "alice"}) as span:
            ...

    An exception leaving the span is recorded on it and sets its status to error;
    the exception propagates unchanged.
    """

    def __init__(self, name: str | None = None, *, attributes: Mapping[str, Any] | None = None):
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise CNOPValidationException.for_field("name", "must be a non-empty string")
        if attributes is not None and not isinstance(attributes, Mapping):
            raise CNOPValidationException.for_field("attributes", "must be a mapping")
        self._name = name
        self._attributes = {
            str(k): v if isinstance(v, (str, bool, int, float)) else str(v)
            for k, v in (attributes or {}).items()
        }

    def _span(self, name: str) -> Any:
        return _tracer().start_as_current_span(name, attributes=self._attributes or None)

    def __enter__(self) -> Any:
        return _scopes.enter(self, self._span(self._name or "block"))

    def __exit__(self, *exc_info: Any) -> bool | None:
        return _scopes.exit_(self, exc_info)

    async def __aenter__(self) -> Any:
        return self.__enter__()

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        return self.__exit__(*exc_info)

    def __call__(self, func: F) -> F:
        name = self._name or func.__qualname__
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with self._span(name):
                    return await func(*args, **kwargs)

            return cast(F, run_async)

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            with self._span(name):
                return func(*args, **kwargs)

        return cast(F, run)


Exporter = Literal["console", "otlp", "none"]
_setup_lock = threading.Lock()
_configured: dict[str, Any] = {}


def configure_tracing(
    service: str, *, exporter: Exporter | Any | None = None, batch: bool | None = None
) -> Any:
    """Install the OpenTelemetry SDK tracer provider for ``service`` (``otel`` extra).

    ``exporter``: ``"otlp"`` (needs ``opentelemetry-exporter-otlp``), ``"console"``,
    ``"none"``, or a ``SpanExporter`` instance. The default is ``$OTEL_TRACES_EXPORTER``
    if set, else OTLP when its exporter is installed, else the console. Spans are
    exported in batches, except to an exporter instance (``batch`` overrides).

    Returns the provider. A second call returns the first provider unchanged: the
    global provider can be set only once per process.
    """
    if not isinstance(service, str) or not service.strip():
        raise CNOPConfigurationException("service: must be a non-empty string")
    with _setup_lock:
        if "provider" in _configured:
            return _configured["provider"]
        try:
            from opentelemetry import trace  # noqa: PLC0415
            from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
            from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
            from opentelemetry.sdk.trace.export import (  # noqa: PLC0415
                BatchSpanProcessor,
                SimpleSpanProcessor,
            )
        except ImportError as exc:
            raise CNOPConfigurationException(
                "configure_tracing needs the OpenTelemetry SDK: install cnop-logging[otel]"
            ) from exc
        span_exporter = _exporter(exporter)
        provider = TracerProvider(resource=Resource.create({"service.name": service.strip()}))
        if span_exporter is not None:
            use_batch = batch if batch is not None else isinstance(exporter, (str, type(None)))
            processor = BatchSpanProcessor if use_batch else SimpleSpanProcessor
            provider.add_span_processor(processor(span_exporter))
        trace.set_tracer_provider(provider)
        _configured["provider"] = provider
        return provider


def _exporter(choice: Any) -> Any:
    if choice is None:
        choice = os.environ.get("OTEL_TRACES_EXPORTER") or ("otlp" if _otlp_class() else "console")
    if not isinstance(choice, str):
        if not callable(getattr(choice, "export", None)):
            raise CNOPConfigurationException(
                "exporter: expected 'console', 'otlp', 'none' or a SpanExporter, "
                f"got {choice!r:.40}"
            )
        return choice
    name = choice.strip().lower()
    if name == "none":
        return None
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter  # noqa: PLC0415

        return ConsoleSpanExporter()
    if name == "otlp":
        otlp = _otlp_class()
        if otlp is None:
            raise CNOPConfigurationException(
                "exporter: 'otlp' needs opentelemetry-exporter-otlp-proto-http (or -grpc) installed"
            )
        return otlp()
    raise CNOPConfigurationException(
        f"exporter (or OTEL_TRACES_EXPORTER): {choice!r:.40} is not console, otlp or none"
    )


# The OTLP exporters are optional and not declared by any extra: whichever is installed.
_OTLP_MODULES = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
)


def _otlp_class() -> Any:
    for module in _OTLP_MODULES:
        try:
            return importlib.import_module(module).OTLPSpanExporter
        except ImportError:
            continue
    return None
