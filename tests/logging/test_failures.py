"""Logging never raises: bad fields are stringified, a failing sink is reported once."""

from __future__ import annotations

import io
import json
import threading
from datetime import datetime, timezone
from decimal import Decimal
from enum import Enum
from typing import Any

import pytest

from cnop.logging import BaseLogger, LogAction, LoggerName, configure_logging, reset_logging
from cnop.logging.configuration import _state

from .conftest import CapturedLines

log = BaseLogger(LoggerName.COMMON)


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str for you")

    def __repr__(self) -> str:
        raise RuntimeError("no repr either")


class Side(Enum):
    BUY = "buy"


def test_values_json_cannot_encode_are_stringified(captured: CapturedLines) -> None:
    cyclic: dict[str, Any] = {"name": "loop"}
    cyclic["self"] = cyclic
    deep: dict[str, Any] = {}
    cursor = deep
    for _ in range(50):
        cursor["next"] = {}
        cursor = cursor["next"]
    log.info(
        action=LogAction.ERROR,
        message="odd fields",
        amount=Decimal("10.50"),
        when=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        side=Side.BUY,
        raw=b"\x00\x01",
        tags={"b"},
        keys={1: "int key", ("t", 2): "tuple key", None: "none key"},
        broken=Unprintable(),
        cyclic=cyclic,
        deep=deep,
        obj=object(),
    )
    line = captured.by_message("odd fields")
    assert line["amount"] == "10.50"
    assert line["when"] == "2026-01-02T03:04:05+00:00"
    assert line["side"] == "buy"
    assert line["raw"] == "<2 bytes>"
    assert line["tags"] == ["b"]
    assert line["keys"] == {"1": "int key", "('t', 2)": "tuple key", "None": "none key"}
    assert line["broken"] == "<unprintable Unprintable>"
    assert line["obj"].startswith("<object object at")
    # Cycles and very deep nesting are cut off, not followed.
    text = repr(line["cyclic"])
    assert "nested too deep" in text
    assert "nested too deep" in repr(line["deep"])


def test_unprintable_message_and_exception(captured: CapturedLines) -> None:
    log.info(action=LogAction.ERROR, message=12345)  # type: ignore[arg-type]

    class Odd(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    try:
        raise Odd
    except Odd:
        log.exception(action=LogAction.ERROR, message="odd exception")
    assert captured.by_message("12345")["level"] == "INFO"
    odd = captured.by_message("odd exception")["exception"]
    assert odd["type"].endswith("Odd")
    assert odd["message"] == "<unprintable message>"


def test_a_failing_callable_sink_is_reported_once(capfd: pytest.CaptureFixture[str]) -> None:
    calls: list[str] = []

    def broken(line: str) -> None:
        calls.append(line)
        raise OSError(28, "No space left on device")

    configure_logging(service="svc", sink=broken)
    try:
        for n in range(5):
            log.error(action=LogAction.ERROR, message=f"lost {n}")
        assert _state.sink is not None
        assert _state.sink.dropped == 5
    finally:
        reset_logging()
    assert len(calls) == 5
    err = capfd.readouterr().err
    assert err.count("cnop.logging: log sink") == 1
    assert "No space left on device" in err


def test_a_closed_stream_never_raises_even_from_many_threads(
    capfd: pytest.CaptureFixture[str],
) -> None:
    stream = io.StringIO()
    configure_logging(service="svc", sink=stream)
    stream.close()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(50):
                log.info(action=LogAction.ERROR, message="into the void")
        except BaseException as exc:  # pragma: no cover - the failure this test looks for
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert _state.sink is not None
        assert _state.sink.dropped == 400
    finally:
        reset_logging()
    assert errors == []
    assert capfd.readouterr().err.count("cnop.logging: log sink") == 1


def test_a_sink_that_recovers_keeps_receiving(captured: CapturedLines) -> None:
    failing = [True]
    received: list[str] = []

    def flaky(line: str) -> None:
        if failing[0]:
            raise ConnectionResetError("collector restarting")
        received.append(line)

    configure_logging(service="svc", sink=flaky)
    log.info(action=LogAction.ERROR, message="dropped")
    failing[0] = False
    log.info(action=LogAction.ERROR, message="delivered")
    assert len(received) == 1
    assert '"message":"delivered"' in received[0]


def test_many_threads_write_whole_lines_to_a_file(tmp_path: Any) -> None:
    path = tmp_path / "concurrent.log"
    configure_logging(service="svc", sink=path)

    def work(n: int) -> None:
        for step in range(200):
            log.info(action=LogAction.DB_OPERATION, message="line", worker=n, step=step)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        reset_logging()
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(lines) == 1600
    assert {(x["worker"], x["step"]) for x in lines} == {
        (n, s) for n in range(8) for s in range(200)
    }


def test_a_record_that_cannot_be_formatted_still_gives_a_safe_line() -> None:
    from datetime import datetime as real_datetime

    from cnop.logging.formatting import fallback_line

    class Level:
        name = "ERROR"

    record = {
        "time": real_datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc),
        "level": Level(),
        "message": "token=abc123 leaked?",
    }
    line = json.loads(fallback_line(record, "svc", RecursionError("too deep")))
    assert line == {
        "service": "svc",
        "format_error": "RecursionError",
        "timestamp": "2026-01-02T03:04:05.000006Z",
        "level": "ERROR",
        "message": "token=[REDACTED] leaked?",
    }
    broken = json.loads(fallback_line({"message": Unprintable()}, "svc", ValueError()))
    assert broken["timestamp"] is None
    assert broken["message"] is None
