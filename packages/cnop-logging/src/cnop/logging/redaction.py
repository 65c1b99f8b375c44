"""Redaction: secrets never reach a log line.

**Keys.** A value is replaced by :data:`REDACTED` when its key names a secret, at any
depth of mappings, sequences, ``(key, value)`` pairs, named tuples, dataclasses, attrs
classes and pydantic models. A key names a secret when, read as lower-case words split
at ``-``, ``.``, spaces, camelCase humps and acronyms (``DBPassword`` is ``db_password``,
``AWSSecretAccessKey`` is ``aws_secret_access_key``), it contains one of the secret words
as whole words (``password``, ``new_password``, ``X-Api-Key``, ``jwt_secret_key``), or a
word of it ends in ``password``, ``passwd``, ``secret`` or ``token`` (``dbpassword``,
``authtoken2``); ``tokenizer`` is not a secret. Two exceptions keep lines useful:
``None`` and booleans are never redacted (``password_set=True``), and neither is a
number under a key that only describes a secret (its last word is one such as
``version``, ``count``, ``length``, ``ttl``, ``expires``: ``password_policy_version=3``).

**Text** (messages, string values, exception messages and stacks): JWTs, bearer and
basic credentials, the password (or token) part of URLs (``redis://:pw@host``), and the
values of secret keys written as ``key=value`` / ``key='quoted'`` (query strings, reprs of
dataclasses and f-strings), ``"key": value`` (JSON and dict reprs, also escaped JSON),
``("key", value)`` pairs, ``key: value`` (inline: one word or a quoted string; at the
start of a line, as in YAML or HTTP headers: the rest of the line) and whole
``Cookie:``/``Set-Cookie:`` headers are masked.

Every text pattern starts at the edge of a word and is scanned forward once, so the
cost of masking stays linear in the length of the text whatever it contains.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from enum import Enum
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
_MAX_CACHED_TEXTS = 4096
_MAX_CACHED_TEXT_LENGTH = 200

# Words that end a secret-looking key which only describes the secret: a number under
# such a key (password_policy_version=3, token_ttl_seconds=900) is kept.
_DESCRIBING_WORDS = frozenset(
    {
        "version", "policy", "count", "length", "len", "size", "ttl", "age", "expires",
        "expiry", "expiration", "exp", "iat", "nbf", "at", "ts", "time", "timestamp",
        "seconds", "secs", "ms", "minutes", "hours", "days", "min", "max", "limit",
        "attempts", "retries", "rounds", "cost", "bits", "strength", "score",
    }
)  # fmt: skip
# A word ending in one of these is a secret word by itself (dbpassword, authtoken).
_SECRET_STEMS = ("password", "passwd", "secret", "token")

#: Kinds of key (see :func:`_key_kind`).
_PLAIN_KEY, _DESCRIBING_KEY, _SECRET_KEY = 0, 1, 2

# The patterns are compiled on first use, not at import: compiling them takes about
# 9 ms, a third of what ``import cnop.logging`` adds to loguru.
_SCHEME: re.Pattern[str]
_JWT: re.Pattern[str]
_URL_USERINFO: re.Pattern[str]
_EQUALS_PAIR: re.Pattern[str]
_EQUALS_REST: re.Pattern[str]
_QUOTED_KEY_PAIR: re.Pattern[str]
_QUOTED_KEY_REST: re.Pattern[str]
_TUPLE_PAIR: re.Pattern[str]
_TUPLE_REST: re.Pattern[str]
_LINE_COLON_PAIR: re.Pattern[str]
_INLINE_COLON_PAIR: re.Pattern[str]
_INLINE_COLON_REST: re.Pattern[str]
_COOKIE_HEADER: re.Pattern[str]
_NUMBER: re.Pattern[str]
_ACRONYM: re.Pattern[str]
_CAMEL_HUMP: re.Pattern[str]
_NON_WORD: re.Pattern[str]
_compiled = False


def _compile() -> None:
    global _SCHEME, _JWT, _URL_USERINFO, _EQUALS_PAIR, _EQUALS_REST, _QUOTED_KEY_PAIR  # noqa: PLW0603
    global _QUOTED_KEY_REST, _TUPLE_PAIR, _TUPLE_REST, _LINE_COLON_PAIR, _INLINE_COLON_PAIR  # noqa: PLW0603
    global _INLINE_COLON_REST, _COOKIE_HEADER, _NUMBER, _ACRONYM, _CAMEL_HUMP, _NON_WORD  # noqa: PLW0603
    global _compiled  # noqa: PLW0603
    # Credentials after an HTTP auth scheme; at least 8 characters, so prose such as
    # "a bearer of news" stays readable.
    _SCHEME = re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9\-._~+/]{8,}=*")
    _JWT = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
    # scheme://user:password@ or scheme://token@ (the userinfo of a URL). The password may
    # itself contain "@": the last "@" before the path ends it.
    _URL_USERINFO = re.compile(
        r"(?i)\b(?P<scheme>[a-z][a-z0-9+.\-]{0,30}://)(?P<user>[^\s/?#@:'\"]*)"
        r"(?::(?P<password>[^\s/?#'\"]*))?@"
    )

    # A quoted string, single or double, with backslash escapes; optionally a bytes repr.
    quoted = r"""b?(?:"[^"\\]*(?:\\.[^"\\]*)*"|'[^'\\]*(?:\\.[^'\\]*)*')"""
    # The same inside an already-escaped JSON string: \"value\".
    escaped_quoted = r"""\\+"(?:[^\\"]|\\+[^\\"])*\\+\""""
    bare_key = r"(?<![A-Za-z0-9_.\-])(?P<key>[A-Za-z0-9_.\-]{1,128})"

    # key=value, key = value, key='quoted', key=b'bytes'.
    _EQUALS_PAIR = re.compile(rf"{bare_key}(?P<sep>[ \t]*=[ \t]*)(?P<value>{quoted}|[^\s&,;=]+=*)")
    _EQUALS_REST = re.compile(r"[^\s&,;]*")
    # "key": value or 'key': value (JSON, dict reprs; the key may be escaped JSON: \"key\").
    _QUOTED_KEY_PAIR = re.compile(
        r"""(?P<quote>\\{0,3}["'])(?P<key>[A-Za-z0-9_. \-]{1,64})(?P=quote)(?P<sep>\s*:\s*)"""
        rf"(?P<value>{quoted}|{escaped_quoted}|[^,}}\]\s\"':]+)"
    )
    _QUOTED_KEY_REST = re.compile(r"[^,}\]\s]*")
    # ("key", value) or ["key", value]: pairs in reprs of lists of tuples, header lists.
    _TUPLE_PAIR = re.compile(
        r"""[(\[]\s*b?(?P<quote>["'])(?P<key>[A-Za-z0-9_. \-]{1,64})(?P=quote)(?P<sep>\s*,\s*)"""
        rf"(?P<value>{quoted}|[^,)\]\s\"'(\[]+)"
    )
    _TUPLE_REST = re.compile(r"[^,)\]\s]*")
    # At the start of a line (YAML, HTTP headers, .env-style text): key: rest of the line.
    _LINE_COLON_PAIR = re.compile(
        r"(?m)^[ \t]*(?:-[ \t]*)?(?P<key>[A-Za-z][A-Za-z0-9_.\-]{0,127})(?P<sep>[ \t]*:[ \t]*)"
        r"(?P<scheme>(?i:bearer|basic|digest|negotiate)[ \t]+)?(?P<value>[^\s][^\r\n]*)"
    )
    # Inside a line: key: one word (or a quoted string), after an optional auth scheme.
    _INLINE_COLON_PAIR = re.compile(
        r"(?<![A-Za-z0-9_.\-])(?P<key>[A-Za-z][A-Za-z0-9_.\-]{0,127})(?P<sep>[ \t]*:[ \t]*)"
        r"(?P<scheme>(?i:bearer|basic|digest|negotiate)[ \t]+)?"
        rf"(?P<value>{quoted}|[\"']?[^\s,;'\":]+)"
    )
    _INLINE_COLON_REST = re.compile(r"[^\s,;]*")
    # A Cookie or Set-Cookie header: every cookie in it is a possible session secret.
    _COOKIE_HEADER = re.compile(
        r"(?i)(?<![A-Za-z0-9_.\-])(?P<key>set-cookie|cookie)(?P<sep>[ \t]*:[ \t]*)"
        r"(?P<value>[^\s'\"][^\r\n'\"]*)"
    )
    _NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")  # ASCII digits only: "١٢٣" is text

    _ACRONYM = re.compile(r"([A-Z]+)([A-Z][a-z])")
    _CAMEL_HUMP = re.compile(r"([a-z0-9])([A-Z])")
    _NON_WORD = re.compile(r"[^a-z0-9]+")
    _compiled = True


class _Registry:
    """The secret key words in force and what is derived from them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.words: frozenset[str] = DEFAULT_SECRET_KEYS
        # key -> (kind, the key as written to a line: its own text masked)
        self.decisions: dict[str, tuple[int, str]] = {}
        # short text -> the same text masked: messages and field values repeat from
        # line to line, and most are proven clean once. Emptied when it fills up, and
        # replaced when the secret words change.
        self.masked: dict[str, str] = {}


_registry = _Registry()


def add_secret_keys(*keys: str) -> None:
    """Redact values under these keys too (e.g. ``add_secret_keys("pin", "otp")``)."""
    normalised = []
    for key in keys:
        if not isinstance(key, str) or not _normalise(key):
            raise CNOPValidationException.for_field(
                "keys", f"each secret key must be a non-empty string, got {key!r:.40}"
            )
        normalised.append(_normalise(key))
    with _registry.lock:
        _registry.words = _registry.words | frozenset(normalised)
        _registry.decisions = {}
        _registry.masked = {}


def _normalise(key: str) -> str:
    """``key`` as lower-case words joined by ``_`` (``DBPassword`` -> ``db_password``)."""
    if not key.isascii():
        import unicodedata  # noqa: PLC0415 - rare: keep it off the import path

        # Full-width and other compatibility forms read as the letters they show.
        key = unicodedata.normalize("NFKC", key)
    if not _compiled:
        _compile()
    key = _CAMEL_HUMP.sub(r"\1_\2", _ACRONYM.sub(r"\1_\2", key))
    return _NON_WORD.sub("_", key.lower()).strip("_")


def _key_kind(key: str) -> int:
    norm = _normalise(key)
    if not norm:
        return _PLAIN_KEY
    words = _registry.words
    padded = f"_{norm}_"
    parts = norm.split("_")
    secret = norm in words or any(f"_{word}_" in padded for word in words)
    if not secret:
        secret = any(part.rstrip("0123456789").endswith(_SECRET_STEMS) for part in parts)
    if not secret:
        return _PLAIN_KEY
    if len(parts) > 1 and parts[-1] in _DESCRIBING_WORDS and parts[-1] not in words:
        return _DESCRIBING_KEY
    return _SECRET_KEY


def _decision(key: str) -> tuple[int, str]:
    decisions = _registry.decisions
    found = decisions.get(key)
    if found is None:
        found = (_key_kind(key), mask_text(key))
        if len(decisions) < _MAX_CACHED_KEYS:
            decisions[key] = found
    return found


def is_secret_key(key: object) -> bool:
    """True if a (non-numeric) value stored under ``key`` must be redacted."""
    if isinstance(key, (bytes, bytearray)):
        key = bytes(key).decode("latin-1")
    if not isinstance(key, str):
        return False
    return _decision(key)[0] != _PLAIN_KEY


def _hides(kind: int, value: Any) -> bool:
    """True if ``value`` under a key of ``kind`` must be replaced."""
    if kind == _PLAIN_KEY or value is None or isinstance(value, bool):
        return False
    return kind == _SECRET_KEY or not isinstance(value, (int, float))


def _text_hides(key: str, value: str) -> bool:
    kind = _decision(key)[0]
    if kind == _DESCRIBING_KEY:
        return _NUMBER.fullmatch(value) is None
    return kind == _SECRET_KEY


def _masked_value(value: str) -> str:
    """REDACTED in place of ``value``, keeping its quotes (and a bytes prefix)."""
    stripped = value.lstrip("\\")
    if stripped[:1] == "b" and stripped[1:2] in ("'", '"') and len(stripped) == len(value):
        lead = value[:2]
    elif stripped[:1] in ("'", '"'):
        lead = value[: len(value) - len(stripped) + 1]
    else:
        return REDACTED
    quote = lead.lstrip("b")
    closing = quote if len(value) > len(lead) and value.endswith(quote) else ""
    return f"{lead}{REDACTED}{closing}"


def _sub_pairs(
    pattern: re.Pattern[str],
    text: str,
    hides: Callable[[str, str], bool],
    rest: re.Pattern[str] | None = None,
) -> str:
    """Mask the value of each pair ``pattern`` finds whose key ``hides``.

    Scanning resumes right after the key of a pair that is kept, so a pair inside its
    value (``note="password=x"``) is found too. To keep that linear, ``pattern`` matches
    only a short unquoted value (up to the next separator it could share with another
    pair); a hidden unquoted value is then extended over ``rest``.
    """
    out: list[str] = []
    pos = 0
    changed = False
    while True:
        match = pattern.search(text, pos)
        if match is None:
            break
        value = match["value"]
        if hides(match["key"], value) and value != REDACTED:
            out.append(text[pos : match.start("value")])
            out.append(_masked_value(value))
            pos = match.end()
            # An unquoted value runs on over ``rest``; so does a quoted one whose quote
            # closed inside a word: a quote escaped once more than we can tell (the
            # repr of a repr: 'it\\'s-secret').
            if rest is not None and (value[-1:] not in ("'", '"') or text[pos : pos + 1].isalnum()):
                pos = rest.match(text, pos).end()  # type: ignore[union-attr]
            changed = True
        else:
            out.append(text[pos : match.end("sep")])
            pos = match.end("sep")
    if not changed:
        return text
    out.append(text[pos:])
    return "".join(out)


def _always(_key: str, _value: str) -> bool:
    return True


def _mask_userinfo(match: re.Match[str]) -> str:
    if match["password"] is not None:
        return f"{match['scheme']}{match['user']}:{REDACTED}@"
    if match["user"]:
        return f"{match['scheme']}{REDACTED}@"
    return match[0]


def mask_text(text: str) -> str:
    """``text`` with credentials, JWTs and the values of secret keys masked.

    Never raises: a value that is not a ``str`` is masked as its text (bytes decoded as
    Latin-1, anything else its ``str()``), since this runs on the way to a log line.
    """
    if type(text) is str:
        masked = _registry.masked
        found = masked.get(text)
        if found is not None:
            return found
        if len(text) <= _MAX_CACHED_TEXT_LENGTH:
            found = _mask(text)
            if len(masked) >= _MAX_CACHED_TEXTS:
                masked.clear()
            masked[text] = found
            return found
    elif not isinstance(text, str):  # a str subclass (a str enum) keeps its own text
        text = _key_text(text)  # type: ignore[unreachable]
    return _mask(text)


def _mask(text: str) -> str:
    # Cheap checks first: most texts contain none of the patterns' anchors.
    if text.isalnum() or not text:
        return text
    if not _compiled:
        _compile()
    if "eyJ" in text:
        text = _JWT.sub(REDACTED, text)
    lowered = text.lower()
    if "bearer" in lowered or "basic" in lowered:
        text = _SCHEME.sub(rf"\1\2{REDACTED}", text)
    if "@" in text and "://" in text:
        text = _URL_USERINFO.sub(_mask_userinfo, text)
    quoted = "'" in text or '"' in text
    if "=" in text:
        text = _sub_pairs(_EQUALS_PAIR, text, _text_hides, _EQUALS_REST)
    if ":" in text:
        if quoted:
            text = _sub_pairs(_QUOTED_KEY_PAIR, text, _text_hides, _QUOTED_KEY_REST)
        if "cookie" in lowered:
            text = _sub_pairs(_COOKIE_HEADER, text, _always)
        text = _sub_pairs(_LINE_COLON_PAIR, text, _text_hides)
        text = _sub_pairs(_INLINE_COLON_PAIR, text, _text_hides, _INLINE_COLON_REST)
    if quoted and "," in text and ("(" in text or "[" in text):
        text = _sub_pairs(_TUPLE_PAIR, text, _text_hides, _TUPLE_REST)
    return text


def _key_text(key: Any) -> str:
    """A mapping key as text (bytes keys decoded), never raising."""
    if type(key) is str:
        return key
    if isinstance(key, (bytes, bytearray)):
        return bytes(key).decode("latin-1")
    try:
        return str(key)
    except Exception:
        return f"<unprintable {type(key).__name__}>"


def _as_mapping(value: Any) -> Mapping[str, Any] | None:
    """The fields of a named tuple, dataclass, attrs class or pydantic model, else None."""
    cls = type(value)
    if isinstance(value, tuple):
        names = getattr(cls, "_fields", None)
        if isinstance(names, tuple):
            return dict(zip(names, value, strict=False))
        return None
    fields = getattr(cls, "__dataclass_fields__", None)
    if isinstance(fields, dict):
        return {name: getattr(value, name, None) for name in fields}
    attributes = getattr(cls, "__attrs_attrs__", None)
    if attributes is not None:
        return {a.name: getattr(value, a.name, None) for a in attributes}
    if callable(getattr(cls, "model_dump", None)) and hasattr(cls, "model_fields"):
        dumped = value.model_dump()
        return dumped if isinstance(dumped, dict) else None
    return None


def redact(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` safe to log: secret keys redacted, text masked, keys as str.

    Mappings, named tuples, dataclasses, attrs classes and pydantic models become
    dicts, other iterable containers lists; anything nested deeper than
    :data:`MAX_DEPTH` is replaced by a short description.
    """
    if isinstance(value, Enum) and not isinstance(value, str):
        # Its value is what gets written (and may be a mapping with secret keys).
        value = value.value
    if isinstance(value, str):
        return mask_text(value)
    if type(value) in _PLAIN or isinstance(value, (bytes, bytearray, memoryview, int, float)):
        return value
    if isinstance(value, Mapping):
        fields: Mapping[Any, Any] | None = value
    else:
        try:
            fields = _as_mapping(value)
        except Exception:
            fields = None
    if fields is None and not isinstance(value, (list, tuple, set, frozenset)):
        return value  # written as its masked str() by the encoder
    if depth >= MAX_DEPTH:
        return f"<{type(value).__name__} nested too deep>"
    if fields is not None:
        return redact_fields(fields, depth + 1)
    return _redact_sequence(value, depth + 1)


def _redact_sequence(value: Any, depth: int) -> list[Any]:
    # A (key, value) pair, as in a list of headers: the key decides about the value.
    if len(value) == 2 and isinstance(value, (list, tuple)):
        name, second = value
        if isinstance(name, (str, bytes, bytearray)) and _hides(
            _decision(_key_text(name))[0], second
        ):
            return [redact(name, depth), REDACTED]
    return [redact(item, depth) for item in value]


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
        text_key = key if type(key) is str else _key_text(key)
        decision = decisions.get(text_key)
        if decision is None:
            decision = _decision(text_key)
        kind, name = decision
        if name in taken:
            name = f"field_{name}"
        value_type = type(value)
        if kind == _PLAIN_KEY or value is None or value_type is bool:
            if value_type is str:
                out[name] = mask_text(value)
            elif value_type in _PLAIN:
                out[name] = value
            else:
                out[name] = redact(value, depth)
        elif _hides(kind, value):
            out[name] = REDACTED
        else:
            out[name] = value
    return out


_PLAIN = frozenset({int, float, bool, type(None)})
