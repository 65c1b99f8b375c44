"""Reading settings from an environment mapping (``os.environ`` by default)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from cnop.exceptions import CNOPConfigurationException


def environment(environ: Any) -> Mapping[str, Any]:
    """``environ`` (``None``: ``os.environ``), refused unless it is a mapping."""
    if environ is None:
        return os.environ
    if not isinstance(environ, Mapping):
        raise CNOPConfigurationException(
            "environ must be a mapping of variable names to values (like os.environ)"
        )
    return environ


def env_text(env: Mapping[str, Any], name: str) -> str:
    """The value of ``name`` (``""`` when unset); a value that is not text is refused."""
    value = env.get(name, "")
    if not isinstance(value, str):
        raise CNOPConfigurationException(f"{name} must be text", details={"variable": name})
    return value
