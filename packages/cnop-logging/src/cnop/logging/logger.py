"""``BaseLogger``: the structured logger every CNOP package and service uses."""

from __future__ import annotations

from typing import Any

from loguru import logger

from cnop.exceptions import CNOPValidationException
from cnop.logging import _direct, _unconfigured
from cnop.logging._report import report_once
from cnop.logging.configuration import _state
from cnop.logging.names import LogAction, LoggerName


class BaseLogger:
    """Logs structured events under one logger name.

    >>> log = BaseLogger(LoggerName.LOCK)
    >>> log.info(action=LogAction.LOCK_ACQUIRED, message="Lock acquired", user="alice", wait_ms=3.2)

    Every method takes the same keywords: ``action`` (what happened), ``message``
    (for people), ``user`` and ``request_id`` (default: those of the request context)
    and any extra fields, which are redacted and JSON-encoded (values JSON cannot
    encode are stringified). An extra field with another reserved name (``level``,
    ``timestamp``...) does not change the line's value: it is kept as
    ``field_<name>`` and the line gets a ``log_warning`` field saying so.
    ``exception()`` attaches the exception being handled. Logging never raises into
    the caller.
    """

    __slots__ = ("_logger", "_logger_with_exception", "name")

    def __init__(self, name: LoggerName | str) -> None:
        if isinstance(name, LoggerName):
            self.name: str = name.value
        elif isinstance(name, str) and name.strip():
            self.name = name.strip()
        else:
            raise CNOPValidationException.for_field(
                "name", f"must be a LoggerName or a non-empty string, got {name!r:.40}"
            )
        # Options fixed once here rather than per call; depth=2 skips _emit and the
        # level method so loguru sees the caller's frame.
        self._logger = logger.opt(depth=2)
        self._logger_with_exception = logger.opt(depth=2, exception=True)

    def __repr__(self) -> str:
        return f"BaseLogger({self.name!r})"

    def _emit(  # noqa: PLR0917 - the hot path: positional on purpose
        self,
        level: str,
        action: LogAction | str,
        message: str,
        user: str | None,
        request_id: str | None,
        fields: dict[str, Any],
        exception: bool,
    ) -> None:
        try:
            cnop = (self.name, action, user, request_id, fields)
            text = message if type(message) is str else str(message)
            route = _state.route
            if route is not None:
                if _direct.write(route, level, cnop, text, exception):
                    return
            elif _state.handler_id is None and _unconfigured.write(level, cnop, text, exception):
                return
            chosen = self._logger_with_exception if exception else self._logger
            chosen.bind(_cnop=cnop).log(level, text)
        except Exception as exc:
            report_once(
                f"emit:{type(exc).__name__}",
                f"a {level} line of logger {self.name!r} was lost ({type(exc).__name__}: {exc})",
            )

    def debug(
        self,
        *,
        action: LogAction | str,
        message: str,
        user: str | None = None,
        request_id: str | None = None,
        **fields: Any,
    ) -> None:
        """Log at DEBUG."""
        self._emit("DEBUG", action, message, user, request_id, fields, False)

    def info(
        self,
        *,
        action: LogAction | str,
        message: str,
        user: str | None = None,
        request_id: str | None = None,
        **fields: Any,
    ) -> None:
        """Log at INFO."""
        self._emit("INFO", action, message, user, request_id, fields, False)

    def warning(
        self,
        *,
        action: LogAction | str,
        message: str,
        user: str | None = None,
        request_id: str | None = None,
        **fields: Any,
    ) -> None:
        """Log at WARNING."""
        self._emit("WARNING", action, message, user, request_id, fields, False)

    def error(
        self,
        *,
        action: LogAction | str,
        message: str,
        user: str | None = None,
        request_id: str | None = None,
        **fields: Any,
    ) -> None:
        """Log at ERROR."""
        self._emit("ERROR", action, message, user, request_id, fields, False)

    def critical(
        self,
        *,
        action: LogAction | str,
        message: str,
        user: str | None = None,
        request_id: str | None = None,
        **fields: Any,
    ) -> None:
        """Log at CRITICAL."""
        self._emit("CRITICAL", action, message, user, request_id, fields, False)

    def exception(
        self,
        *,
        action: LogAction | str,
        message: str,
        user: str | None = None,
        request_id: str | None = None,
        **fields: Any,
    ) -> None:
        """Log at ERROR with the exception being handled (call it inside ``except``)."""
        self._emit("ERROR", action, message, user, request_id, fields, True)
