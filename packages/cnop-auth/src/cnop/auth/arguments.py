"""Checks of the injectable collaborators (clocks, fetchers) every constructor takes."""

from __future__ import annotations

from typing import TypeVar

from cnop.exceptions import CNOPConfigurationException

F = TypeVar("F")


def require_callable(value: F, name: str, shape: str) -> F:
    """``value`` if it can be called; else ``CNOPConfigurationException`` naming ``name``.

    Checked when the object is built: otherwise the mistake would surface as a
    ``TypeError`` at the first login or request, far from its cause.
    """
    if not callable(value):
        raise CNOPConfigurationException(f"{name} must be callable: {shape}")
    return value
