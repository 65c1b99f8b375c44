"""Pure checks of a token's header and claims: no I/O, no clock of their own.

python-jose verifies signatures; these close what it lets through (a token without ``aud``
or ``exp``, an ``iat`` in the future) and turn everything into one of two exceptions.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from cnop.auth.keys import JWTKey, KeySet
from cnop.auth.token_type import TokenType
from cnop.exceptions import (
    CNOPTokenExpiredException,
    CNOPTokenInvalidException,
    CNOPValidationException,
)

if TYPE_CHECKING:
    from cnop.auth.claims import TokenClaims

# Far enough for any real token, near enough that datetime conversion cannot overflow.
_MAX_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z
# The base64url alphabet (RFC 4648 §5), without padding.
_B64URL = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)


def invalid(reason: str) -> CNOPTokenInvalidException:
    """The one way a refused token is reported (the reason is safe to show)."""
    return CNOPTokenInvalidException(f"The token is invalid: {reason}", details={"reason": reason})


def select_key(token: str, keys: KeySet, max_bytes: int) -> JWTKey:
    """The key that must have signed ``token``, chosen from its header, before any crypto.

    Refuses oversized tokens, malformed headers, ``alg`` outside the key set's allow-list
    (``none`` included) and an unknown ``kid``. A key only verifies its own algorithm, which
    rules out HS/RS key confusion.
    """
    if len(token) > max_bytes:
        raise invalid(f"longer than {max_bytes} bytes")
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise invalid("not three dot-separated segments")
    # Every segment must be the one canonical spelling of its bytes: python-jose decodes
    # the signature leniently, so without this many strings would verify as one token and
    # a deny-list or cache keyed on the string could be sidestepped.
    for part, what in zip(parts, ("header", "payload", "signature"), strict=True):
        strict_b64decode(part, what)
    header = _json_object(parts[0], "header")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in keys.algorithms:
        raise invalid("algorithm not allowed")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise invalid("kid is not a string")
    key = keys.for_kid(kid)
    if key is None:
        raise invalid("unknown key id")
    if key.algorithm != alg:
        raise invalid("algorithm does not match the key")
    if "crit" in header:
        raise invalid("critical header extensions are not supported")
    return key


def header_kid(token: Any) -> str | None:
    """The ``kid`` a token's header names, or ``None``; never raises (nothing is trusted
    yet: this only tells a key source which key to look for)."""
    if isinstance(token, bytes):
        token = token.decode("ascii", errors="replace")
    if not isinstance(token, str) or len(token) > 65536 or token.count(".") != 2:
        return None
    try:
        header = _json_object(token.split(".", 1)[0], "header")
    except CNOPTokenInvalidException:
        return None
    kid = header.get("kid")
    return kid if isinstance(kid, str) and 1 <= len(kid) <= 64 and kid.isprintable() else None


def check_claims(
    payload: bytes,
    *,
    expected_type: TokenType | None,
    now: float,
    leeway: float,
    issuer: str | None,
    audience: str | None,
    session_lifetime: float | None = None,
) -> TokenClaims:
    """Validate the signed payload and return its typed claims.

    Raises ``CNOPTokenExpiredException`` past ``exp`` (+ leeway), otherwise
    ``CNOPTokenInvalidException`` for anything missing, mistyped or out of place.
    ``expected_type=None`` accepts both token types (for revocation). A token of a session
    (``sid``) must carry ``auth_time``, and is expired once ``auth_time`` is more than
    ``session_lifetime`` seconds ago.
    """
    claims = _json_object_bytes(payload, "payload")
    exp = _timestamp(claims, "exp")
    iat = _timestamp(claims, "iat")
    nbf = _timestamp(claims, "nbf")
    if now > exp + leeway:
        raise CNOPTokenExpiredException(details={"reason": "expired"})
    extra: dict[str, Any] = {}
    if "sid" in claims or "auth_time" in claims:
        if not isinstance(claims.get("sid"), str) or "auth_time" not in claims:
            raise invalid("bad or missing claims: sid, auth_time")
        auth_time = _timestamp(claims, "auth_time")
        if auth_time > iat + leeway:
            raise invalid("session began after the token was issued")
        if session_lifetime is not None and now > auth_time + session_lifetime + leeway:
            raise CNOPTokenExpiredException(
                "The session has ended; sign in again", details={"reason": "session ended"}
            )
        extra["auth_time"] = _utc(auth_time)
    if iat > now + leeway:
        raise invalid("issued in the future")
    if nbf > now + leeway:
        raise invalid("not yet valid")
    if issuer is not None and claims.get("iss") != issuer:
        raise invalid("wrong or missing issuer")
    if audience is not None and not _audience_matches(claims.get("aud"), audience):
        raise invalid("wrong or missing audience")
    if expected_type is not None and claims.get("type") != expected_type.value:
        raise invalid(f"wrong token type (expected {expected_type.value})")
    # The claim models (and pydantic) load with the first token checked, not at import.
    from cnop.auth.claims import TokenClaims  # noqa: PLC0415

    try:
        return TokenClaims.model_validate(
            {**claims, "iat": _utc(iat), "nbf": _utc(nbf), "exp": _utc(exp), **extra}
        )
    except CNOPValidationException as exc:
        fields = sorted({str(err.get("field", "")).split(".")[0] for err in exc.errors})
        raise invalid(f"bad or missing claims: {', '.join(fields)}") from None


def strict_b64decode(segment: str, what: str) -> bytes:
    """The bytes of an unpadded base64url ``segment`` (RFC 7515 §2), or a refusal.

    Refused: padding, any character outside ``A-Z a-z 0-9 - _``, an impossible length, and
    non-zero trailing bits (which would let several strings stand for the same bytes).
    """
    if not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise invalid(f"{what} is not base64url")
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise invalid(f"{what} is not base64url") from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != segment:
        raise invalid(f"{what} is not canonical base64url")
    return raw


def _json_object(segment: str, what: str) -> dict[str, Any]:
    return _json_object_bytes(strict_b64decode(segment, what), what)


def _json_object_bytes(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise invalid(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise invalid(f"{what} is not a JSON object")
    return value


def _timestamp(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if value is None:
        raise invalid(f"missing {name}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid(f"{name} is not a number")
    # The range check first: isfinite() of an int too large for a float raises OverflowError.
    if not 0 <= value <= _MAX_TIMESTAMP or not math.isfinite(value):
        raise invalid(f"{name} is out of range")
    return float(value)


def _audience_matches(value: Any, audience: str) -> bool:
    if isinstance(value, str):
        return value == audience
    return isinstance(value, list) and audience in value


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)
