"""Run a token flow's store calls, blocking or awaited: one flow, two drivers.

A flow is a generator that yields :class:`Call` values (what it needs from the revocation
store or the refresh hook) and receives their results; it holds every decision, so the
sync and async forms of an operation cannot drift apart.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from cnop.auth.keys import KeySet
from cnop.auth.revocation import RevocationStore
from cnop.exceptions import CNOPConfigurationException, UserRole

T = TypeVar("T")

#: What an ``on_refresh`` hook returns for a user: the current role, or ``None`` to refuse.
RefreshAnswer = UserRole | str | None
RefreshHook = Callable[[str], RefreshAnswer | Awaitable[RefreshAnswer]]

#: The name of the hook call and of the key-set call (every other call is a store method).
ON_REFRESH = "on_refresh"
KEYS = "keys"


class KeySource(Protocol):
    """Where a verifying manager gets its keys (a :class:`~cnop.auth.JWKSClient`)."""

    def keys(self, kid: str | None = None) -> KeySet: ...

    async def keys_async(self, kid: str | None = None) -> KeySet: ...


@dataclass(frozen=True)
class Call:
    """One thing a flow needs: ``store.<method>(*args)``, or the refresh hook."""

    method: str
    args: tuple[Any, ...]


Flow = Generator[Call, Any, T]


def run(
    flow: Flow[T],
    store: RevocationStore,
    hook: RefreshHook | None,
    keys: KeySource | None = None,
) -> T:
    """Drive ``flow`` with blocking calls."""
    try:
        call = next(flow)
        while True:
            if call.method == KEYS:
                result: Any = _key_source(keys).keys(*call.args)
            elif call.method == ON_REFRESH:
                result = _call_hook(hook, call)
                if inspect.isawaitable(result):
                    _discard(result)
                    raise CNOPConfigurationException(
                        "on_refresh is a coroutine function: use rotate_refresh_token_async"
                    )
            else:
                result = getattr(store, call.method)(*call.args)
            call = flow.send(result)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def run_async(
    flow: Flow[T],
    store: RevocationStore,
    hook: RefreshHook | None,
    keys: KeySource | None = None,
) -> T:
    """Drive ``flow`` awaiting the store's ``*_async`` methods (and an async hook)."""
    try:
        call = next(flow)
        while True:
            if call.method == KEYS:
                result: Any = await _key_source(keys).keys_async(*call.args)
            elif call.method == ON_REFRESH:
                result = _call_hook(hook, call)
                if inspect.isawaitable(result):
                    result = await result
            else:
                result = await getattr(store, f"{call.method}_async")(*call.args)
            call = flow.send(result)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def _key_source(keys: KeySource | None) -> KeySource:
    if keys is None:  # flows only ask when there is a key source
        raise CNOPConfigurationException("no key source is configured")
    return keys


def _call_hook(hook: RefreshHook | None, call: Call) -> Any:
    if hook is None:  # flows only ask when a hook is set
        raise CNOPConfigurationException("no on_refresh hook is configured")
    return hook(*call.args)


def _discard(awaitable: Any) -> None:
    close = getattr(awaitable, "close", None)
    if callable(close):
        close()  # no "coroutine was never awaited" warning
