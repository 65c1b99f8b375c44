"""RequestContextMiddleware over a real ASGI exchange (httpx's ASGI transport)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from cnop.exceptions import CNOPValidationException
from cnop.logging import (
    BaseLogger,
    LogAction,
    LoggerName,
    RequestContextMiddleware,
    get_request_id,
)

from .conftest import CapturedLines

log = BaseLogger(LoggerName.GATEWAY)


async def echo_app(scope: Any, receive: Any, send: Any) -> None:
    """Logs twice around an await and answers with the request id it saw."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/boom":
        raise RuntimeError("handler crashed")
    log.info(action=LogAction.REQUEST_START, message="handling", path=scope["path"])
    await asyncio.sleep(0.001)
    log.info(action=LogAction.ORDER_CREATED, message="handled", path=scope["path"])
    body = json.dumps({"request_id": get_request_id()}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [(b"content-type", b"application/json"), (b"x-request-id", b"stale")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc")


async def test_50_concurrent_requests_keep_their_ids(captured: CapturedLines) -> None:
    app = RequestContextMiddleware(echo_app)

    async def call(n: int) -> tuple[int, str]:
        headers = {"X-Request-ID": f"incoming-{n}"} if n % 2 == 0 else {}
        async with client(app) as http:
            response = await http.get(f"/orders/{n}?token=query-secret", headers=headers)
        assert response.status_code == 201
        assert response.headers.get_list("x-request-id") == [response.json()["request_id"]]
        return n, response.headers["x-request-id"]

    results = dict(await asyncio.gather(*(call(n) for n in range(50))))
    for n in range(0, 50, 2):
        assert results[n] == f"incoming-{n}"
    assert len(set(results.values())) == 50

    lines = captured.of("gateway", "http")
    for line in lines:
        n = int(line["path"].rsplit("/", 1)[1])
        assert line["request_id"] == results[n]
    ends = [x for x in lines if x["action"] == "request_end"]
    assert len(ends) == 50
    assert all(x["status"] == 201 and x["method"] == "GET" for x in ends)
    assert all(x["duration_ms"] >= 0 for x in ends)
    assert "query-secret" not in captured.buffer.getvalue()


async def test_a_forged_header_is_replaced(captured: CapturedLines) -> None:
    async with client(RequestContextMiddleware(echo_app)) as http:
        response = await http.get("/x", headers={"X-Request-ID": "evil id\tinjected"})
    echoed = response.headers["x-request-id"]
    assert echoed != "evil id\tinjected"
    assert response.json()["request_id"] == echoed
    assert "injected" not in captured.buffer.getvalue()


async def test_custom_header_name(captured: CapturedLines) -> None:
    app = RequestContextMiddleware(echo_app, header="X-Correlation-ID", log_requests=False)
    async with client(app) as http:
        response = await http.get("/y", headers={"X-Correlation-ID": "corr-1"})
    assert response.headers["x-correlation-id"] == "corr-1"
    assert response.headers["x-request-id"] == "stale"  # not ours to touch any more
    assert {x["action"] for x in captured.of("gateway", "http")} == {
        "request_start",
        "order_created",
    }


async def test_a_failing_request_is_logged_and_propagates(captured: CapturedLines) -> None:
    async with client(RequestContextMiddleware(echo_app)) as http:
        with pytest.raises(RuntimeError, match="handler crashed"):
            await http.get("/boom", headers={"X-Request-ID": "boom-1"})
    failed = [x for x in captured.records() if x["action"] == "request_failed"]
    assert len(failed) == 1
    assert failed[0]["request_id"] == "boom-1"
    assert failed[0]["level"] == "ERROR"
    assert failed[0]["exception"]["type"] == "RuntimeError"
    assert failed[0]["path"] == "/boom"


async def test_lifespan_passes_through_untouched() -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])
        assert get_request_id() is None

    async def receive() -> dict[str, Any]:
        return {"type": "lifespan.startup"}

    async def send(message: Any) -> None:
        return None

    await RequestContextMiddleware(app)({"type": "lifespan"}, receive, send)
    assert seen == ["lifespan"]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(CNOPValidationException, match="app"):
        RequestContextMiddleware("not an app")  # type: ignore[arg-type]
    with pytest.raises(CNOPValidationException, match="header"):
        RequestContextMiddleware(echo_app, header="")


async def test_with_a_real_fastapi_application(captured: CapturedLines) -> None:
    fastapi = pytest.importorskip("fastapi")
    app = fastapi.FastAPI()

    @app.get("/users/{name}")  # type: ignore[untyped-decorator]
    async def read_user(name: str) -> dict[str, str | None]:
        log.info(action=LogAction.REQUEST_START, message="reading user", user=name)
        return {"request_id": get_request_id()}

    app.add_middleware(RequestContextMiddleware)
    async with client(app) as http:
        responses = await asyncio.gather(
            *(http.get(f"/users/u{n}", headers={"X-Request-ID": f"fa-{n}"}) for n in range(10))
        )
    for n, response in enumerate(responses):
        assert response.headers["x-request-id"] == f"fa-{n}"
        assert response.json() == {"request_id": f"fa-{n}"}
    for line in captured.of("gateway"):
        assert line["request_id"] == f"fa-{line['user'][1:]}"
    assert len(captured.of("gateway")) == 10
