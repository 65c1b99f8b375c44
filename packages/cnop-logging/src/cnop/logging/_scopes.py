"""Open ``with`` scopes of reusable context-manager objects, per context.

An object such as ``request_context(...)`` or ``traced(...)`` may be entered by several
asyncio tasks or threads at once; what each entry must undo is kept in a ContextVar
(not on the object), so every task exits exactly the scope it entered.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from contextvars import ContextVar
from typing import Any

_open: ContextVar[tuple[tuple[int, AbstractContextManager[Any]], ...]] = ContextVar(
    "cnop_open_scopes", default=()
)


def enter(owner: object, scope: AbstractContextManager[Any]) -> Any:
    """Enter ``scope`` on behalf of ``owner`` and remember it; returns what it yields."""
    value = scope.__enter__()
    _open.set((*_open.get(), (id(owner), scope)))
    return value


def exit_(owner: object, exc_info: tuple[Any, Any, Any]) -> bool | None:
    """Exit the innermost scope ``owner`` entered in this context."""
    scopes = _open.get()
    for index in range(len(scopes) - 1, -1, -1):
        if scopes[index][0] == id(owner):
            _open.set(scopes[:index] + scopes[index + 1 :])
            return scopes[index][1].__exit__(*exc_info)
    return None
