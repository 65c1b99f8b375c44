"""The root of the hierarchy: what every CNOP exception carries."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Any, ClassVar


class CNOPException(Exception):
    """Base of every CNOP error.

    Each class declares a stable machine ``code``, an HTTP ``status``, a default
    ``message`` and whether a retry can help (``retryable``). An instance may
    override the message, add structured ``details`` and override ``retryable``.
    ``str(exc)`` is the message. Instances pickle intact. Example:
    ``raise CNOPUserNotFoundException("User 'alice' not found", details={"username": "alice"})``.

    Constructing one never raises, whatever it is given: it is usually built while
    another error is being handled, and a failure here would replace that error. So a
    message that is not text becomes its ``str()``; ``details`` that is not a mapping is
    kept as ``{"value": details}`` (text, numbers and booleans as they are, anything else
    as its ``repr()``), and mapping keys that are not text become their ``str()``;
    ``retryable`` other than True or False keeps the class default.
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
        self.message: str = self.default_message if message is None else _text(message)
        self.details: dict[str, Any] = _details(details)
        self.retryable: bool = retryable if isinstance(retryable, bool) else self.default_retryable
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


def _text(value: object) -> str:
    """``value`` as text, never raising (a broken ``__str__`` gives the type's name)."""
    if isinstance(value, str):
        # A plain str, also for a subclass (whose own __str__ is not trusted to work).
        return str.__str__(value)
    try:
        return str(value)
    except Exception:
        return f"<{type(value).__name__}>"


def _shown(value: object) -> Any:
    """A non-mapping ``details`` value as stored: JSON scalars as they are, else a repr."""
    if isinstance(value, (str, int, float)):  # bool is an int
        return value
    try:
        return repr(value)
    except Exception:
        return f"<{type(value).__name__}>"


def _details(details: object) -> dict[str, Any]:
    if details is None:
        return {}
    if isinstance(details, Mapping):
        try:
            return {k if isinstance(k, str) else _text(k): v for k, v in details.items()}
        except Exception:  # a mapping that fails to iterate is kept as its repr
            return {"value": _shown(details)}
    return {"value": _shown(details)}


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
