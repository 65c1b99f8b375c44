"""Helpers for testing code that logs with cnop.logging.

>>> from cnop.logging import BaseLogger, LogAction, LoggerName
>>> from cnop.logging.testing import capture_logs
>>> with capture_logs() as logs:
...     BaseLogger(LoggerName.USER).info(action=LogAction.USER_LOGIN_SUCCESS, message="in")
>>> logs[0]["action"]
'user_login_success'
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from loguru import logger

from cnop.exceptions import CNOPValidationException
from cnop.logging import _unconfigured
from cnop.logging.configuration import LEVELS, current_service
from cnop.logging.formatting import record_fields

__all__ = ["CapturedLogs", "capture_logs"]


class CapturedLogs(list[dict[str, Any]]):
    """The records captured so far, oldest first: one dict per line."""


class capture_logs:  # noqa: N801 - used like a function: ``with capture_logs() as logs:``
    """Capture every line logged inside the block as a dict.

    Each dict is the one that would be written as the JSON line (schema fields first,
    secrets already redacted); values JSON cannot encode are left as they are. Works
    with or without :func:`~cnop.logging.configure_logging` (``service`` is then
    None), with ``with`` and ``async with``; lines still go to the configured sink
    too. Lines of every thread and task logged while the block is open are captured;
    standard-library records only when ``configure_logging`` routes them.

    ``level`` (default ``TRACE``: everything) is the least level captured.
    """

    def __init__(self, level: str = "TRACE") -> None:
        chosen = level.strip().upper() if isinstance(level, str) else level
        if chosen not in LEVELS:
            raise CNOPValidationException.for_field(
                "level", f"must be one of {', '.join(LEVELS)}, got {level!r:.40}"
            )
        self._level = chosen
        self._handler_id: int | None = None
        self.records = CapturedLogs()

    def _sink(self, message: Any) -> None:
        self._capture(message.record)

    def _capture(self, record: Any) -> None:
        self.records.append(record_fields(record, current_service()))

    def __enter__(self) -> CapturedLogs:
        if self._handler_id is not None:
            raise CNOPValidationException("capture_logs: this capture is already open")
        self._handler_id = logger.add(self._sink, level=self._level, format="{message}")
        # Before configure_logging, BaseLogger lines bypass loguru: they reach us here.
        _unconfigured.add_capture(self._handler_id, self._level, self._capture)
        return self.records

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._handler_id is not None:
            _unconfigured.remove_capture(self._handler_id)
            logger.remove(self._handler_id)
            self._handler_id = None

    async def __aenter__(self) -> CapturedLogs:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)
