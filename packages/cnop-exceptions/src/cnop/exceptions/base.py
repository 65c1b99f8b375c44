"""The root of the hierarchy: what every CNOP exception carries."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, ClassVar


class CNOPException(Exception):
    """Base of every CNOP error.

    Each class declares a stable machine ``code``, an HTTP ``status``, a default
    ``message`` and whether a retry can help (``retryable``). An instance may
    override the message, add structured ``details`` and override ``retryable``.
    ``str(exc)`` is the message. Instances pickle intact. Example:
    ``raise CNOPUserNotFoundException("User 'alice' not found", details={"username": "alice"})``.
    """

    code: ClassVar[str] = "CNOP_ERROR"
    status: ClassVar[HTTPStatus] = HTTPStatus.INTERNAL_SERVER_ERROR
    default_message: ClassVar[str] = "An unexpected error occurred"
    default_retryable: ClassVar[bool] = False
    #: Whether the message and details may be shown to the caller.
    client_safe: ClassVar[bool] = False

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Mapping[str, Any] | None = None,
        retryable: bool | None = None,
    ) -> None:
        self.message: str = message if message is not None else self.default_message
        self.details: dict[str, Any] = dict(details) if details else {}
        self.retryable: bool = self.default_retryable if retryable is None else retryable
        super().__init__(self.message)

    @property
    def status_code(self) -> int:
        """The HTTP status as a plain ``int``."""
        return int(self.status)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only state does not survive Exception's default pickling.
        return (
            _rebuild,
            (type(self), self.message, self.details, self.retryable),
            self.__dict__.copy(),
        )

    def to_dict(self) -> dict[str, Any]:
        """Everything about this error, for logs (never for a client response)."""
        return {
            "type": type(self).__name__,
            "code": self.code,
            "status": self.status_code,
            "message": self.message,
            "details": dict(self.details),
            "retryable": self.retryable,
        }


def _rebuild(
    cls: type[CNOPException], message: str, details: dict[str, Any], retryable: bool
) -> CNOPException:
    exc = cls.__new__(cls)
    CNOPException.__init__(exc, message, details=details, retryable=retryable)
    return exc


class CNOPClientException(CNOPException):
    """A 4xx error caused by the request: its message is safe to show the caller."""

    code = "BAD_REQUEST"
    status = HTTPStatus.BAD_REQUEST
    default_message = "The request could not be processed"
    client_safe = True


class CNOPInternalException(CNOPException):
    """A 5xx error on our side: details are logged, never shown to the caller."""

    code = "INTERNAL_ERROR"
    status = HTTPStatus.INTERNAL_SERVER_ERROR
    default_message = "An internal error occurred"
