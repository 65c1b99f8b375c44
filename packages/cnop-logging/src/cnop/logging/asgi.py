"""ASGI middleware: one request id per request, bound for logging and echoed back."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from cnop.exceptions import CNOPValidationException
from cnop.logging.context import REQUEST_ID_HEADER, request_context, request_id_from_header
from cnop.logging.logger import BaseLogger
from cnop.logging.names import LogAction, LoggerName

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
# Any ASGI application: frameworks annotate scope/receive/send in their own ways.
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


class RequestContextMiddleware:
    """Binds a request id (the incoming ``X-Request-ID`` if acceptable, else a new one)
    for everything logged while handling the request, and returns it in the response
    header of the same name.

    ``app = RequestContextMiddleware(app)``; with FastAPI/Starlette,
    ``app.add_middleware(RequestContextMiddleware)``. With ``log_requests`` (default)
    it logs ``request_end`` (method, path, status, duration_ms) or ``request_failed``
    on the ``http`` logger; the query string is never logged.
    """

    def __init__(
        self, app: ASGIApp, *, header: str = REQUEST_ID_HEADER, log_requests: bool = True
    ) -> None:
        if not callable(app):
            raise CNOPValidationException.for_field("app", "must be an ASGI application")
        if not isinstance(header, str) or not header or not header.isascii():
            raise CNOPValidationException.for_field("header", "must be a non-empty ASCII name")
        self.app = app
        self._header = header.lower().encode("ascii")
        self._log_requests = log_requests
        self._log = BaseLogger(LoggerName.HTTP)

    def _incoming(self, scope: Scope) -> bytes | None:
        for name, value in scope.get("headers") or ():
            if name.lower() == self._header:
                return bytes(value)
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = request_id_from_header(self._incoming(scope))
        encoded = request_id.encode("ascii")
        status: list[int] = []

        async def send_with_id(message: Message) -> None:
            if message.get("type") == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers") or ()
                    if name.lower() != self._header
                ]
                headers.append((self._header, encoded))
                message = {**message, "headers": headers}
                status.append(int(message.get("status", 0)))
            await send(message)

        with request_context(request_id):
            started = time.perf_counter()
            request = {"method": scope.get("method"), "path": scope.get("path")}
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                if self._log_requests:
                    self._log.exception(
                        action=LogAction.REQUEST_FAILED,
                        message="Request failed",
                        duration_ms=round((time.perf_counter() - started) * 1000, 3),
                        **request,
                    )
                raise
            if self._log_requests:
                self._log.info(
                    action=LogAction.REQUEST_END,
                    message="Request handled",
                    status=status[0] if status else None,
                    duration_ms=round((time.perf_counter() - started) * 1000, 3),
                    **request,
                )
