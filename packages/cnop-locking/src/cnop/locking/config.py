"""Where the Redis lock store is, from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import quote

from cnop.exceptions import CNOPConfigurationException

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def _flag(environ: Mapping[str, str], name: str) -> bool:
    value = environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise CNOPConfigurationException(f"{name} must be true or false, got {value!r}")


def redis_url_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The lock store's URL: ``REDIS_URL``, else built from ``REDIS_HOST`` and friends.

    ``REDIS_PORT`` (default 6379), ``REDIS_PASSWORD``, ``REDIS_SSL`` (TLS, ``rediss://``)
    and ``REDIS_CLUSTER`` (a Redis Cluster) refine ``REDIS_HOST``.
    """
    env = os.environ if environ is None else environ
    url = env.get("REDIS_URL", "").strip()
    if url:
        return url
    host = env.get("REDIS_HOST", "").strip()
    if not host:
        raise CNOPConfigurationException(
            "No lock store configured: set REDIS_URL (e.g. redis://host:6379/0) or REDIS_HOST"
        )
    port_text = env.get("REDIS_PORT", "6379").strip() or "6379"
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise CNOPConfigurationException(f"REDIS_PORT must be a port number, got {port_text!r}")
    scheme = "rediss" if _flag(env, "REDIS_SSL") else "redis"
    cluster = _flag(env, "REDIS_CLUSTER")
    password = env.get("REDIS_PASSWORD", "")
    auth = f":{quote(password, safe='')}@" if password else ""
    if cluster:
        return f"{scheme}+cluster://{auth}{host}:{port_text}"
    return f"{scheme}://{auth}{host}:{port_text}/0"
