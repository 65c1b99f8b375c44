"""Standard-library logging (libraries such as botocore, redis, uvicorn, httpx) is
routed into the same stream and format."""

from __future__ import annotations

import io
import logging
import threading

import httpx
import pytest

from cnop.logging import configure_logging, request_context, reset_logging
from cnop.logging.stdlib import InterceptHandler

from .conftest import CapturedLines


def test_stdlib_records_become_json_lines(captured: CapturedLines) -> None:
    with request_context("std-1", user="alice"):
        logging.getLogger("botocore.credentials").info("Found credentials in %s", "env")
    line = captured.by_message("Found credentials in env")
    assert line["logger"] == "botocore.credentials"
    assert line["level"] == "INFO"
    assert line["service"] == "test-svc"
    assert (line["request_id"], line["user"]) == ("std-1", "alice")
    assert line["action"] is None


def test_stdlib_extra_attributes_become_fields(captured: CapturedLines) -> None:
    logging.getLogger("payments").warning(
        "charge declined",
        extra={"action": "charge_declined", "user": "bob", "amount": 12, "card_token": "tok"},
    )
    line = captured.by_message("charge declined")
    assert (line["action"], line["user"], line["amount"]) == ("charge_declined", "bob", 12)
    assert line["card_token"] == "[REDACTED]"
    assert "levelno" not in line
    assert "args" not in line


def test_stdlib_exceptions_are_structured(captured: CapturedLines) -> None:
    try:
        raise ConnectionError("redis down")
    except ConnectionError:
        logging.getLogger("redis.connection").exception("reconnect failed")
    line = captured.by_message("reconnect failed")
    assert line["level"] == "ERROR"
    assert line["exception"]["type"] == "ConnectionError"
    assert line["exception"]["message"] == "redis down"


def test_library_with_its_own_handler_is_routed_too(captured: CapturedLines) -> None:
    own = io.StringIO()
    access = logging.getLogger("uvicorn.access")
    access.addHandler(logging.StreamHandler(own))
    access.propagate = False
    configure_logging(service="test-svc", level="DEBUG", sink=captured.buffer)
    access.info('127.0.0.1 - "GET / HTTP/1.1" 200')
    assert own.getvalue() == ""
    assert captured.by_message('127.0.0.1 - "GET / HTTP/1.1" 200')["logger"] == "uvicorn.access"


async def test_a_real_library_logs_through_us(captured: CapturedLines) -> None:
    async def app(scope: object, receive: object, send: object) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b""})  # type: ignore[operator]

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        await http.get("http://svc/ping")
    (line,) = [x for x in captured.records() if x["logger"] == "httpx"]
    assert "GET http://svc/ping" in line["message"]
    assert line["level"] == "INFO"


def test_stdlib_level_follows_the_configured_level(captured: CapturedLines) -> None:
    configure_logging(service="test-svc", level="WARNING", sink=captured.buffer)
    logging.getLogger("botocore").info("too chatty")
    logging.getLogger("botocore").warning("worth it")
    assert [x["message"] for x in captured.records()] == ["worth it"]


def test_configuring_twice_installs_one_handler(captured: CapturedLines) -> None:
    configure_logging(service="test-svc", sink=captured.buffer)
    configure_logging(service="test-svc", sink=captured.buffer)
    ours = [h for h in logging.getLogger().handlers if isinstance(h, InterceptHandler)]
    assert len(ours) == 1
    logging.getLogger("redis").warning("once only")
    assert len([x for x in captured.records() if x["message"] == "once only"]) == 1


def test_reset_restores_the_root_level() -> None:
    root = logging.getLogger()
    before = root.level
    root.setLevel(logging.ERROR)
    try:
        configure_logging(service="test-svc", level="DEBUG", sink=io.StringIO())
        assert root.level == logging.DEBUG
        configure_logging(service="test-svc", level="INFO", sink=io.StringIO())
        assert root.level == logging.INFO
        reset_logging()
        assert root.level == logging.ERROR
    finally:
        reset_logging()
        root.setLevel(before)


def test_interception_can_be_turned_off(captured: CapturedLines) -> None:
    configure_logging(service="test-svc", sink=captured.buffer, intercept_stdlib=False)
    assert not any(isinstance(h, InterceptHandler) for h in logging.getLogger().handlers)
    logging.getLogger("botocore").error("not ours")
    assert captured.records() == []


@pytest.mark.parametrize("level", [15, 25, 45])
def test_custom_stdlib_levels_are_kept(captured: CapturedLines, level: int) -> None:
    logging.getLogger("custom").log(level, "custom level %d", level)
    line = captured.by_message(f"custom level {level}")
    assert line["level"] == f"Level {level}"


def test_stdlib_records_from_many_threads(captured: CapturedLines) -> None:
    def work(n: int) -> None:
        with request_context(f"std-thread-{n}"):
            for step in range(100):
                logging.getLogger(f"lib.worker{n}").info("step %d", step)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = [x for x in captured.records() if x["logger"].startswith("lib.worker")]
    assert len(lines) == 800
    for line in lines:
        assert line["request_id"] == f"std-thread-{line['logger'].removeprefix('lib.worker')}"
