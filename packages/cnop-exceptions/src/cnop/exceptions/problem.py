"""RFC 9457 problem documents (``application/problem+json``)."""

from __future__ import annotations

from http import HTTPStatus

from cnop.exceptions.base import CNOPException, _text
from cnop.exceptions.validation import CNOPValidationException

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time
if TYPE_CHECKING:
    from typing import Any

PROBLEM_CONTENT_TYPE = "application/problem+json"
DEFAULT_TYPE_BASE = "urn:cnop:problem:"
_GENERIC_DETAIL = "An internal error occurred. Quote the request id when reporting it."


def to_problem(
    exc: BaseException,
    *,
    request_id: str | None = None,
    instance: str | None = None,
    type_base: str | None = DEFAULT_TYPE_BASE,
) -> dict[str, Any]:
    """Render ``exc`` as a problem document that is safe to send to the caller.

    Client errors (4xx) carry their message as ``detail`` and their details as
    extension members. Internal errors (5xx) and exceptions that are not CNOP
    exceptions get a generic ``detail``: nothing of their message or details leaks.

    Example: ``to_problem(CNOPUserNotFoundException("User 'bob' not found"), request_id="r-1")``
    gives ``{"type": "urn:cnop:problem:user-not-found", "status": 404, "code": "USER_NOT_FOUND",
    "title": "User not found", "detail": "User 'bob' not found", "request_id": "r-1", ...}``.

    ``type_base`` None means :data:`DEFAULT_TYPE_BASE`; any other value that is not text
    raises :class:`~cnop.exceptions.CNOPValidationException` (a programming error, found
    on the first error rendered). ``request_id`` and ``instance`` that are not text are
    rendered as their ``str()``, so an error handler always gets a document.
    """
    if type_base is None:
        type_base = DEFAULT_TYPE_BASE
    elif not isinstance(type_base, str):
        raise CNOPValidationException.for_field(
            "type_base",
            f"must be text such as {DEFAULT_TYPE_BASE!r}, not {type(type_base).__name__}",
        )
    if isinstance(exc, CNOPException):
        code, status, retryable = exc.code, exc.status, exc.retryable
        safe = exc.client_safe
    else:
        code, status, retryable, safe = (
            "INTERNAL_ERROR",
            HTTPStatus.INTERNAL_SERVER_ERROR,
            False,
            False,
        )

    problem: dict[str, Any] = {
        "type": type_base + code.lower().replace("_", "-"),
        "status": int(status),
        "code": code,
        "retryable": retryable,
    }
    if safe and isinstance(exc, CNOPException):
        problem["title"] = exc.default_message
        problem["detail"] = exc.message
        for key, value in exc.details.items():
            problem.setdefault(key, value)
    else:
        problem["title"] = status.phrase
        problem["detail"] = _GENERIC_DETAIL
    if instance is not None:
        problem["instance"] = _text(instance)
    if request_id is not None:
        problem["request_id"] = _text(request_id)
    return problem
