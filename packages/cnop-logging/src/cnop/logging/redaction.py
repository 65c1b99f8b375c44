"""Redaction: secrets never reach a log line.

A value is replaced by :data:`REDACTED` when its key names a secret (at any depth of
nested mappings and sequences). Inside text (messages, string values, exception
messages and stacks) bearer and basic credentials, JWTs, and the values of secret keys
written as ``key=value`` (a URL query ``?token=...``) or as ``"key": value`` (JSON or a
dict's repr) are masked.

A key names a secret when, lower-cased with ``-``, spaces and camelCase humps read as
``_``, it is one of the secret words or contains one as a whole ``_``-separated part:
``password``, ``new_password``, ``X-Api-Key``, ``accessToken`` and ``jwt_secret_key``
are all redacted; ``tokenizer`` is not.

The text patterns only start at the edge of a word, so their cost stays linear in the
length of the text whatever it contains.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

from cnop.exceptions import CNOPValidationException

REDACTED = "[REDACTED]"

DEFAULT_SECRET_KEYS: frozenset[str] = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "authorization",
        "cookie",
        "set_cookie",
        "api_key",
        "apikey",
        "private_key",
        "client_secret",
        "credentials",
        "session_token",
        "signature",
    }
)

# Deeper structures are cut off rather than walked: this also ends reference cycles.
MAX_DEPTH = 8
_MAX_CACHED_KEYS = 4096

# Credentials after an HTTP auth scheme; at least 8 characters, so prose such as
# "a bearer of news" stays readable.
_SCHEME = re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9\-._~+/]{8,}=*")
_JWT = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# key=value, the key starting at a word edge (never inside a longer run).
_EQUALS_PAIR = re.compile(r"(?<![A-Za-z0-9_.-])([A-Za-z0-9_.-]+)=([^\s&\"',;]+)")
# "key": value or 'key': value, the value quoted or bare.
_COLON_PAIR = re.compile(
    r"""(["'])([A-Za-z0-9_. -]{1,64})\1(\s*:\s*)("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^,}\]\s]+)"""
)
_CAMEL_HUMP = re.compile(r"([a-z0-9])([A-Z])")


class _Registry:
    """The secret key words in force and what is derived from them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.words: frozenset[str] = DEFAULT_SECRET_KEYS
        self.decisions: dict[str, bool] = {}


_registry = _Registry()


def add_secret_keys(*keys: str) -> None:
    """Redact values under these keys too (e.g. ``add_secret_keys("pin", "otp")``)."""
    normalised = []
    for key in keys:
        if not isinstance(key, str) or not _normalise(key).strip("_"):
            raise CNOPValidationException.for_field(
                "keys", f"each secret key must be a non-empty string, got {key!r:.40}"
            )
        normalised.append(_normalise(key).strip("_"))
    with _registry.lock:
        _registry.words = _registry.words | frozenset(normalised)
        _registry.decisions = {}


def _normalise(key: str) -> str:
    return _CAMEL_HUMP.sub(r"\1_\2", key).lower().replace("-", "_").replace(" ", "_")


def is_secret_key(key: object) -> bool:
    """True if a value stored under ``key`` must be redacted."""
    if not isinstance(key, str):
        return False
    decisions = _registry.decisions
    decision = decisions.get(key)
    if decision is None:
        words = _registry.words
        norm = _normalise(key)
        padded = f"_{norm}_"
        decision = norm in words or any(f"_{word}_" in padded for word in words)
        if len(decisions) < _MAX_CACHED_KEYS:
            decisions[key] = decision
    return decision


def mask_text(text: str) -> str:
    """``text`` with credentials, JWTs and the values of secret keys masked."""
    # Cheap substring checks first: most lines contain none of the patterns.
    if "eyJ" in text:
        text = _JWT.sub(REDACTED, text)
    lowered = text.lower()
    if "bearer" in lowered or "basic" in lowered:
        text = _SCHEME.sub(rf"\1\2{REDACTED}", text)
    if "=" in text:
        text = _EQUALS_PAIR.sub(_mask_equals_pair, text)
    if ":" in text and ("'" in text or '"' in text):
        text = _COLON_PAIR.sub(_mask_colon_pair, text)
    return text


def _mask_equals_pair(match: re.Match[str]) -> str:
    return f"{match[1]}={REDACTED}" if is_secret_key(match[1]) else match[0]


def _mask_colon_pair(match: re.Match[str]) -> str:
    quote, key, colon, value = match.groups()
    if not is_secret_key(key):
        return match[0]
    masked = f"{value[0]}{REDACTED}{value[0]}" if value[0] in "\"'" else REDACTED
    return f"{quote}{key}{quote}{colon}{masked}"


def redact(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` safe to log: secret keys redacted, text masked, keys as str.

    Mappings become dicts, other iterable containers lists; anything nested deeper
    than :data:`MAX_DEPTH` is replaced by a short description.
    """
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        if depth >= MAX_DEPTH:
            return f"<{type(value).__name__} nested too deep>"
        return redact_fields(value, depth + 1)
    if isinstance(value, (list, tuple, set, frozenset)):
        if depth >= MAX_DEPTH:
            return f"<{type(value).__name__} nested too deep>"
        return [redact(item, depth + 1) for item in value]
    return value


def redact_fields(
    fields: Mapping[Any, Any],
    depth: int = 0,
    *,
    into: dict[str, Any] | None = None,
    taken: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """A redacted copy of one mapping of fields (see :func:`redact`).

    With ``into``, the fields are added to that dict (and it is returned); a field
    whose name is in ``taken`` is added as ``field_<name>`` instead.
    """
    out: dict[str, Any] = {} if into is None else into
    decisions = _registry.decisions
    for key, value in fields.items():
        name = key if type(key) is str else str(key)
        if name in taken:
            name = f"field_{name}"
        secret = decisions.get(name)
        if secret is None:
            secret = is_secret_key(name)
        if secret:
            out[name] = REDACTED
        elif type(value) in _PLAIN:
            out[name] = value
        elif type(value) is str:
            out[name] = mask_text(value)
        else:
            out[name] = redact(value, depth)
    return out


_PLAIN = frozenset({int, float, bool, type(None)})
