"""Fixtures for cnop.logging tests: logging configured into a buffer we can parse."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from cnop.logging import configure_logging, reset_logging

#: The fields every line starts with, in this order (DESIGN §5).
SCHEMA = (
    "timestamp",
    "level",
    "service",
    "logger",
    "action",
    "message",
    "request_id",
    "user",
    "trace_id",
    "span_id",
)
UTC_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def check_schema(line: dict[str, Any]) -> None:
    """Fail unless ``line`` has the schema fields first, in order, and a UTC timestamp."""
    assert tuple(line)[: len(SCHEMA)] == SCHEMA, f"schema fields out of order: {list(line)}"
    assert UTC_TIMESTAMP.fullmatch(line["timestamp"]), line["timestamp"]
    assert isinstance(line["message"], str)
    assert isinstance(line["logger"], str)


class CapturedLines:
    """The lines written by cnop.logging during one test, parsed as JSON."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()

    def raw(self) -> list[str]:
        return self.buffer.getvalue().splitlines()

    def records(self) -> list[dict[str, Any]]:
        # json.loads raising here fails the test: every line must be one JSON object.
        parsed = [json.loads(line) for line in self.raw()]
        assert all(isinstance(p, dict) for p in parsed)
        return parsed

    def of(self, *loggers: str) -> list[dict[str, Any]]:
        """The lines of these loggers only (libraries such as asyncio log too)."""
        return [r for r in self.records() if r["logger"] in loggers]

    def by_message(self, message: str) -> dict[str, Any]:
        found = [r for r in self.records() if r["message"] == message]
        assert len(found) == 1, f"expected one line with message {message!r}, got {found}"
        return found[0]


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[CapturedLines]:
    """cnop.logging configured for service ``test-svc`` at DEBUG into a buffer."""
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    lines = CapturedLines()
    configure_logging(service="test-svc", level="DEBUG", sink=lines.buffer)
    try:
        yield lines
    finally:
        reset_logging()
    # Every line any test wrote here is one JSON object with the schema.
    for line in lines.records():
        check_schema(line)
