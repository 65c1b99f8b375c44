"""Where the Redis lock store is, from the environment."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from urllib.parse import quote

from cnop.exceptions import CNOPConfigurationException
from cnop.locking._validate import shown

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}
#: ASCII digits only: ``str.isdigit`` also takes other scripts' digits (Arabic-Indic,
#: full-width), which ``int`` then reads as a port.
_PORT = re.compile(r"[0-9]{1,5}")
#: A host name or address as it may stand in a URL: no whitespace, control characters,
#: or URL delimiters ("[...]" for IPv6 literals is allowed).
_HOST = re.compile(r"[A-Za-z0-9._\-:\[\]%]{1,253}")


def _get(environ: Mapping[str, str], name: str, default: str = "") -> str:
    value = environ.get(name, default)
    if not isinstance(value, str):
        raise CNOPConfigurationException(
            f"{name} must be a string, got {type(value).__name__}", details={"variable": name}
        )
    return value


def _flag(environ: Mapping[str, str], name: str) -> bool:
    value = _get(environ, name).strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise CNOPConfigurationException(
        f"{name} must be true or false, got {shown(value)}", details={"variable": name}
    )


def redis_url_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The lock store's URL: ``REDIS_URL``, else built from ``REDIS_HOST`` and friends.

    ``REDIS_PORT`` (default 6379), ``REDIS_PASSWORD``, ``REDIS_SSL`` (TLS, ``rediss://``)
    and ``REDIS_CLUSTER`` (a Redis Cluster) refine ``REDIS_HOST``. ``environ`` defaults to
    the process environment; a bad value raises ``CNOPConfigurationException`` naming the
    variable (never showing a password).
    """
    if environ is not None and not isinstance(environ, Mapping):
        raise CNOPConfigurationException(
            f"environ must be a mapping of variable names to strings (like os.environ), "
            f"got {type(environ).__name__}"
        )
    env = os.environ if environ is None else environ
    url = _get(env, "REDIS_URL").strip()
    if url:
        return url
    host = _get(env, "REDIS_HOST").strip()
    if not host:
        raise CNOPConfigurationException(
            "No lock store configured: set REDIS_URL (e.g. redis://host:6379/0) or REDIS_HOST",
            details={"variable": "REDIS_HOST"},
        )
    if not _HOST.fullmatch(host):
        raise CNOPConfigurationException(
            f"REDIS_HOST must be a host name or address, got {shown(host)}",
            details={"variable": "REDIS_HOST"},
        )
    port_text = _get(env, "REDIS_PORT", "6379").strip() or "6379"
    if not _PORT.fullmatch(port_text) or not 0 < int(port_text) < 65536:
        raise CNOPConfigurationException(
            f"REDIS_PORT must be a port number (1-65535), got {shown(port_text)}",
            details={"variable": "REDIS_PORT"},
        )
    scheme = "rediss" if _flag(env, "REDIS_SSL") else "redis"
    cluster = _flag(env, "REDIS_CLUSTER")
    password = _get(env, "REDIS_PASSWORD")
    try:
        auth = f":{quote(password, safe='')}@" if password else ""
    except UnicodeEncodeError:  # a lone surrogate; the value itself is never shown
        raise CNOPConfigurationException(
            "REDIS_PASSWORD must be valid Unicode text (it holds a lone surrogate)",
            details={"variable": "REDIS_PASSWORD"},
        ) from None
    if cluster:
        return f"{scheme}+cluster://{auth}{host}:{port_text}"
    return f"{scheme}://{auth}{host}:{port_text}/0"
