"""Trace and span ids on every line logged inside a span; traced(); configure_tracing()."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from cnop.exceptions import CNOPConfigurationException, CNOPValidationException
from cnop.logging import BaseLogger, LogAction, LoggerName, configure_tracing, traced

from .conftest import CapturedLines

log = BaseLogger(LoggerName.TRANSACTION)
EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module")
def provider() -> Any:
    """The process-wide SDK provider (whoever set it up first), also exporting to memory."""
    installed = configure_tracing("test-svc", exporter="none")
    if not isinstance(installed, TracerProvider) or trace.get_tracer_provider() is not installed:
        pytest.skip("a tracer provider was installed in this process without cnop.logging")
    installed.add_span_processor(SimpleSpanProcessor(EXPORTER))
    return installed


@pytest.fixture
def spans(provider: Any) -> Iterator[InMemorySpanExporter]:
    EXPORTER.clear()
    yield EXPORTER
    EXPORTER.clear()


def ids(span: Any) -> tuple[str, str]:
    context = span.get_span_context()
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def test_lines_carry_the_active_span_ids(
    captured: CapturedLines, spans: InMemorySpanExporter
) -> None:
    log.info(action=LogAction.REQUEST_START, message="before")
    with traced("outer") as outer:
        log.info(action=LogAction.REQUEST_START, message="in outer")
        with traced("inner", attributes={"table": "users", "obj": object()}) as inner:
            log.info(action=LogAction.DB_OPERATION, message="in inner")
        log.info(action=LogAction.REQUEST_END, message="back in outer")
    log.info(action=LogAction.REQUEST_END, message="after")

    def line_ids(message: str) -> tuple[str | None, str | None]:
        line = captured.by_message(message)
        return line["trace_id"], line["span_id"]

    assert line_ids("before") == (None, None)
    assert line_ids("in outer") == ids(outer)
    assert line_ids("in inner") == ids(inner)
    assert line_ids("back in outer") == ids(outer)
    assert line_ids("after") == (None, None)
    assert ids(inner)[0] == ids(outer)[0]
    assert len(line_ids("in inner")[0] or "") == 32
    assert len(line_ids("in inner")[1] or "") == 16
    # The exported spans are the ones whose ids were logged.
    exported = {span.name: ids(span) for span in spans.get_finished_spans()}
    assert exported == {"outer": ids(outer), "inner": ids(inner)}
    inner_span = next(s for s in spans.get_finished_spans() if s.name == "inner")
    assert inner_span.attributes is not None
    assert inner_span.attributes["table"] == "users"


async def test_traced_decorates_sync_and_async_functions(
    captured: CapturedLines, spans: InMemorySpanExporter
) -> None:
    @traced()
    def compute() -> tuple[str, str]:
        log.info(action=LogAction.DB_OPERATION, message="sync body")
        return ids(trace.get_current_span())

    @traced("named-async")
    async def fetch(n: int) -> tuple[str, str]:
        await asyncio.sleep(0.001)
        log.info(action=LogAction.DB_OPERATION, message=f"async body {n}")
        return ids(trace.get_current_span())

    sync_ids = compute()
    async_ids = await asyncio.gather(*(fetch(n) for n in range(20)))
    sync_line = captured.by_message("sync body")
    assert (sync_line["trace_id"], sync_line["span_id"]) == sync_ids
    for n, expected in enumerate(async_ids):
        line = captured.by_message(f"async body {n}")
        assert (line["trace_id"], line["span_id"]) == expected
    assert len({i[0] for i in async_ids}) == 20  # each call its own trace
    names = sorted({s.name for s in spans.get_finished_spans()})
    assert names == sorted({"named-async", compute.__qualname__})


async def test_async_with_and_exceptions_are_recorded(spans: InMemorySpanExporter) -> None:
    with pytest.raises(ValueError, match="bad amount"):
        async with traced("failing"):
            raise ValueError("bad amount")
    (span,) = spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert [event.name for event in span.events] == ["exception"]


def test_configure_tracing_is_set_once(provider: Any) -> None:
    assert configure_tracing("another-name") is provider
    assert isinstance(provider, TracerProvider)
    assert provider.resource.attributes["service.name"]


@pytest.mark.parametrize("bad", ["", "   "])
def test_configure_tracing_needs_a_service(bad: str) -> None:
    with pytest.raises(CNOPConfigurationException, match="service"):
        configure_tracing(bad)


def test_unknown_exporter_is_refused() -> None:
    from cnop.logging.tracing import _exporter

    with pytest.raises(CNOPConfigurationException, match="exporter"):
        _exporter("zipkin")
    with pytest.raises(CNOPConfigurationException, match="exporter"):
        _exporter(42)
    assert _exporter("none") is None
    assert type(_exporter("console")).__name__ == "ConsoleSpanExporter"


def test_traced_refuses_bad_arguments() -> None:
    with pytest.raises(CNOPValidationException, match="name"):
        traced("")
    with pytest.raises(CNOPValidationException, match="attributes"):
        traced("x", attributes=[("a", 1)])  # type: ignore[arg-type]


def test_default_exporter_follows_the_environment_then_what_is_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cnop.logging.tracing import _exporter, _otlp_class

    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert _exporter(None) is None
    monkeypatch.delenv("OTEL_TRACES_EXPORTER")
    expected = "OTLPSpanExporter" if _otlp_class() is not None else "ConsoleSpanExporter"
    assert type(_exporter(None)).__name__ == expected


def test_otlp_without_its_exporter_is_a_clear_error() -> None:
    from cnop.logging.tracing import _exporter, _otlp_class

    if _otlp_class() is not None:
        pytest.skip("an OTLP exporter is installed here")
    with pytest.raises(CNOPConfigurationException, match="opentelemetry-exporter-otlp"):
        _exporter("otlp")
