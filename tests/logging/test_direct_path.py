"""A configured BaseLogger line is the same whether or not loguru builds a record for it.

While loguru holds only the handler ``configure_logging`` added, lines are written to
its sink directly; anything that could see or change a loguru record sends them
through loguru again. Both routes must give the same line.
"""

from __future__ import annotations

import io
import json
import threading
from typing import Any

import pytest
from loguru import logger as loguru_logger

from cnop.logging import (
    BaseLogger,
    LogAction,
    add_secret_keys,
    configure_logging,
    mask_text,
    request_context,
    reset_logging,
)
from cnop.logging.configuration import _state

log = BaseLogger("direct")
FIELDS: dict[str, Any] = {
    "order_id": "o-1",
    "amount": 12.5,
    "password": "hunter2",
    "note": "card=4111 token=abc",
    "ratio": float("nan"),
}


def _line(buffer: io.StringIO) -> dict[str, Any]:
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 1, lines
    parsed: dict[str, Any] = json.loads(lines[0])
    parsed.pop("timestamp")
    return parsed


def _log_one() -> None:
    with request_context("req-direct", user="alice"):
        log.warning(action=LogAction.ORDER_CREATED, message="token=abc placed", **FIELDS)


def test_the_direct_and_the_loguru_route_write_the_same_line() -> None:
    direct = io.StringIO()
    configure_logging(service="svc", sink=direct)
    try:
        assert _state.route is not None
        _log_one()
        # Another loguru handler: the record must be built for it, so loguru takes it.
        other: list[str] = []
        other_id = loguru_logger.add(other.append, format="{message}")
        via_loguru = io.StringIO()
        configure_logging(service="svc", sink=via_loguru)
        try:
            _log_one()
        finally:
            loguru_logger.remove(other_id)
    finally:
        reset_logging()
    assert other == ["token=abc placed\n"]
    assert _line(direct) == _line(via_loguru)
    line = _line(direct)
    assert line["password"] == "[REDACTED]"
    assert line["note"] == "card=4111 token=[REDACTED]"
    assert line["message"] == "token=[REDACTED] placed"
    assert line["ratio"] == "NaN"
    assert line["request_id"] == "req-direct"


def test_a_handler_added_after_configure_logging_sees_the_lines() -> None:
    buffer = io.StringIO()
    configure_logging(service="svc", sink=buffer)
    seen: list[str] = []
    handler_id = loguru_logger.add(seen.append, format="{message}")
    try:
        log.info(action=LogAction.ORDER_CREATED, message="for both")
    finally:
        loguru_logger.remove(handler_id)
        reset_logging()
    assert seen == ["for both\n"]
    assert json.loads(buffer.getvalue())["message"] == "for both"


def test_loguru_bound_context_and_disable_are_honoured() -> None:
    buffer = io.StringIO()
    configure_logging(service="svc", sink=buffer)
    try:
        with loguru_logger.contextualize(tenant="t-1"):
            log.info(action=LogAction.ORDER_CREATED, message="with context")
        loguru_logger.disable(__name__)
        try:
            log.info(action=LogAction.ORDER_CREATED, message="disabled")
        finally:
            loguru_logger.enable(__name__)
        log.info(action=LogAction.ORDER_CREATED, message="enabled again")
        log.info(action=LogAction.ORDER_CREATED, message="and again")
        loguru_logger.disable(__name__)
        try:
            log.info(action=LogAction.ORDER_CREATED, message="disabled")
            log.info(action=LogAction.ORDER_CREATED, message="still disabled")
        finally:
            loguru_logger.enable(__name__)
    finally:
        reset_logging()
    lines = [json.loads(x) for x in buffer.getvalue().splitlines()]
    assert [x["message"] for x in lines] == ["with context", "enabled again", "and again"]
    assert lines[0]["tenant"] == "t-1"


def test_a_level_below_the_configured_one_is_dropped_on_the_direct_path() -> None:
    buffer = io.StringIO()
    configure_logging(service="svc", sink=buffer, level="WARNING")
    try:
        log.info(action=LogAction.ORDER_CREATED, message="too low")
        log.error(action=LogAction.ORDER_CREATED, message="kept")
    finally:
        reset_logging()
    assert [json.loads(x)["message"] for x in buffer.getvalue().splitlines()] == ["kept"]


@pytest.mark.timeout(20)
def test_a_sink_that_logs_does_not_deadlock(capfd: pytest.CaptureFixture[str]) -> None:
    received: list[str] = []

    def chatty(line: str) -> None:
        received.append(line)
        log.info(action=LogAction.ORDER_CREATED, message="from inside the sink")

    configure_logging(service="svc", sink=chatty)
    try:
        log.info(action=LogAction.ORDER_CREATED, message="outside")
        assert _state.sink is not None
        assert _state.sink.dropped == 1
    finally:
        reset_logging()
    assert [json.loads(x)["message"] for x in received] == ["outside"]
    assert "logged while writing a line" in capfd.readouterr().err


def test_threads_on_both_routes_write_whole_lines(tmp_path: Any) -> None:
    import logging

    path = tmp_path / "mixed.log"
    configure_logging(service="svc", sink=path)
    stdlib = logging.getLogger("mixed.stdlib")

    def direct(n: int) -> None:
        for step in range(200):
            log.info(action=LogAction.DB_OPERATION, message="direct", worker=n, step=step)

    def through_loguru(n: int) -> None:
        for step in range(200):
            stdlib.info("stdlib", extra={"worker": n, "step": step})

    threads = [threading.Thread(target=direct, args=(n,)) for n in range(4)]
    threads += [threading.Thread(target=through_loguru, args=(n,)) for n in range(4, 8)]
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


def test_masked_texts_remembered_are_forgotten_when_secret_keys_are_added() -> None:
    text = "test_only_cached_pin=1234 ok"
    assert mask_text(text) == text
    add_secret_keys("test_only_cached_pin")
    assert mask_text(text) == "test_only_cached_pin=[REDACTED] ok"


def test_many_distinct_texts_never_grow_the_memory_without_bound() -> None:
    from cnop.logging import redaction

    for n in range(3 * redaction._MAX_CACHED_TEXTS):
        assert mask_text(f"text {n} password=p{n}") == f"text {n} password=[REDACTED]"
    assert len(redaction._registry.masked) <= redaction._MAX_CACHED_TEXTS
    long_text = "x " * redaction._MAX_CACHED_TEXT_LENGTH + "token=abc"
    assert mask_text(long_text).endswith("token=[REDACTED]")
    assert long_text not in redaction._registry.masked


def test_lines_stop_when_the_application_removes_every_loguru_handler() -> None:
    buffer = io.StringIO()
    configure_logging(service="svc", sink=buffer)
    try:
        log.info(action=LogAction.ORDER_CREATED, message="before")
        loguru_logger.remove()
        log.info(action=LogAction.ORDER_CREATED, message="after")
        seen: list[str] = []
        handler_id = loguru_logger.add(seen.append, format="{message}")
        log.info(action=LogAction.ORDER_CREATED, message="to the application")
        loguru_logger.remove(handler_id)
    finally:
        reset_logging()
    assert [json.loads(x)["message"] for x in buffer.getvalue().splitlines()] == ["before"]
    assert seen == ["to the application\n"]


def test_lines_written_after_a_capture_closes_reach_the_sink_once() -> None:
    from cnop.logging.testing import capture_logs

    buffer = io.StringIO()
    configure_logging(service="svc", sink=buffer)
    try:
        with capture_logs() as logs:
            log.info(action=LogAction.ORDER_CREATED, message="captured")
        log.info(action=LogAction.ORDER_CREATED, message="after the capture")
    finally:
        reset_logging()
    assert [x["message"] for x in logs] == ["captured"]
    messages = [json.loads(x)["message"] for x in buffer.getvalue().splitlines()]
    assert messages == ["captured", "after the capture"]
