"""Request context: the ``request_id`` and ``user`` of everything logged inside a request.

Values live in :mod:`contextvars`, so each asyncio task and each thread sees its own.
A new thread starts with an empty context; ``asyncio.to_thread`` and
``contextvars.copy_context().run`` carry the caller's context along.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar, cast

from cnop.exceptions import CNOPValidationException
from cnop.logging import _scopes

REQUEST_ID_HEADER = "X-Request-ID"

request_id_var: ContextVar[str | None] = ContextVar("cnop_request_id", default=None)
user_var: ContextVar[str | None] = ContextVar("cnop_user", default=None)

# What we accept from outside: enough for UUIDs, ULIDs and AWS/ALB trace ids, but no
# spaces, quotes or control characters that could forge or break a log line.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:=/+-]{0,127}")
_MAX_USER_LENGTH = 256

F = TypeVar("F", bound=Callable[..., Any])


def get_request_id() -> str | None:
    """The request id bound in the current context, or None."""
    return request_id_var.get()


def get_user() -> str | None:
    """The user bound in the current context, or None."""
    return user_var.get()


def new_request_id() -> str:
    """A fresh random request id: 128 random bits as 32 hex digits."""
    return os.urandom(16).hex()


def is_valid_request_id(value: object) -> bool:
    """True if ``value`` is a request id we accept (1-128 safe characters)."""
    return isinstance(value, str) and _VALID_REQUEST_ID.fullmatch(value) is not None


def request_id_from_header(value: str | bytes | None) -> str:
    """The incoming ``X-Request-ID`` value if it is acceptable, otherwise a new id.

    A malformed header from outside is replaced, never trusted and never an error; so is
    a value of any other type.
    """
    if isinstance(value, (bytes, bytearray)):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return new_request_id()
    if isinstance(value, str):
        value = value.strip()
        if is_valid_request_id(value):
            return value
    return new_request_id()


def _checked_request_id(request_id: str | None) -> str:
    if request_id is None:
        return request_id_var.get() or new_request_id()
    if not is_valid_request_id(request_id):
        raise CNOPValidationException.for_field(
            "request_id",
            f"must be 1-128 characters of letters, digits and ._:=/+- (got {request_id!r:.60})",
        )
    return request_id


def _checked_user(user: str | None) -> str | None:
    if user is None:
        return None
    if not isinstance(user, str) or not user or len(user) > _MAX_USER_LENGTH:
        raise CNOPValidationException.for_field(
            "user", f"must be a non-empty string of at most {_MAX_USER_LENGTH} characters"
        )
    return user


@contextmanager
def _bound(request_id: str, user: str | None) -> Iterator[str]:
    rid_token = request_id_var.set(request_id)
    user_token = user_var.set(user) if user is not None else None
    try:
        yield request_id
    finally:
        if user_token is not None:
            user_var.reset(user_token)
        request_id_var.reset(rid_token)


class request_context:  # noqa: N801 - used like a function: ``with request_context():``
    """Bind ``request_id`` (and ``user``) for everything logged inside.

    As a context manager it yields the request id in force::

        with request_context(user="alice") as request_id:
            log.info(action=LogAction.REQUEST_START, message="Start")

    As a decorator (sync or async functions) each call gets its own scope::

        @request_context()
        async def handle(event): ...

    ``request_id=None`` keeps the request id already bound, or makes a new one when
    there is none (so ``with request_context(user=name):`` inside a request only adds
    the user); an invalid id raises :class:`~cnop.exceptions.CNOPValidationException`.
    ``user=None`` keeps the user already bound (if any).
    """

    def __init__(self, request_id: str | None = None, *, user: str | None = None) -> None:
        if request_id is not None:
            _checked_request_id(request_id)
        self._request_id = request_id
        self._user = _checked_user(user)

    def __enter__(self) -> str:
        request_id: str = _scopes.enter(
            self, _bound(_checked_request_id(self._request_id), self._user)
        )
        return request_id

    def __exit__(self, *exc_info: Any) -> None:
        _scopes.exit_(self, (None, None, None))

    def __call__(self, func: F) -> F:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with _bound(_checked_request_id(self._request_id), self._user):
                    return await func(*args, **kwargs)

            return cast(F, run_async)

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            with _bound(_checked_request_id(self._request_id), self._user):
                return func(*args, **kwargs)

        return cast(F, run)
