"""Signed gateway headers: a request that did not pass the gateway is refused.

The gateway signs, with a shared secret (HMAC-SHA256), the request itself (method, path
and query, a SHA-256 digest of the body), the caller headers, a timestamp and a nonce.
A service recomputes the signature in constant time, checks the timestamp within a
bounded skew, and accepts each nonce once: captured headers can be neither replayed nor
moved to another route, method or body. The canonical string is specified in the README.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, NoReturn

from cnop.auth import security_events
from cnop.auth.arguments import require_callable
from cnop.auth.context import (
    CONTEXT_HEADERS,
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    UserContext,
    lowercase_keys,
    valid_request_id,
)
from cnop.auth.environment import env_text, environment
from cnop.auth.nonces import InMemoryNonceStore, NonceStore
from cnop.auth.secret_strength import require_strong_secret
from cnop.exceptions import (
    CNOPAuthenticationException,
    CNOPConfigurationException,
    CNOPValidationException,
)

SECRET_VARIABLE = "GATEWAY_SIGNING_SECRET"  # noqa: S105 (a variable name)
DEFAULT_MAX_SKEW = timedelta(seconds=60)
#: The first line of the canonical string: a new format gets a new tag.
FORMAT = "CNOP-GATEWAY-V2"
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_NONCE = re.compile(r"[A-Za-z0-9_\-]{16,128}")
_METHOD = re.compile(r"[A-Z]{1,20}")
# Origin-form request target: visible ASCII only (no space, no CR/LF), as received.
_TARGET = re.compile(r"/[\x21-\x7e]{0,8191}")
# A signed header value: visible ASCII and inner spaces, nothing that could end a line.
_VALUE = re.compile(r"[\x21-\x7e]([\x20-\x7e]{0,1022}[\x21-\x7e])?")


def canonical_string(
    *,
    timestamp: str,
    nonce: str,
    method: str,
    target: str,
    body: bytes,
    headers: Mapping[str, str],
) -> str:
    """The text the gateway signs (the README specifies it, with test vectors).

    Lines joined by ``\\n``: the format tag, the timestamp, the nonce, the method, the
    path and query as sent, the SHA-256 hex digest of the body, then ``name:value`` for
    each identity header present (lower-case names, in :data:`CONTEXT_HEADERS` order).
    ``headers`` must already be keyed by lower-case name. Raises ``ValueError`` for a
    part that the format cannot carry unambiguously.
    """
    if not _METHOD.fullmatch(method):
        raise ValueError("method must be 1-20 upper-case letters")
    if not _TARGET.fullmatch(target):
        raise ValueError("target must be the path and query, '/' then visible ASCII")
    if not _NONCE.fullmatch(nonce) or not _TIMESTAMP.fullmatch(timestamp):
        raise ValueError("malformed nonce or timestamp")
    lines = [FORMAT, timestamp, nonce, method, target, hashlib.sha256(body).hexdigest()]
    for header in CONTEXT_HEADERS:
        name = header.lower()
        value = headers.get(name)
        if value is None:
            continue
        if not _VALUE.fullmatch(value):
            raise ValueError(f"{header} must be visible ASCII without surrounding spaces")
        lines.append(f"{name}:{value}")
    return "\n".join(lines)


class GatewaySigner:
    """Sign (gateway side) and check (service side) a request and its caller headers.

    >>> signer = GatewaySigner.from_env()                  # GATEWAY_SIGNING_SECRET
    >>> headers = signer.sign({"X-User-ID": "alice_01", "X-User-Role": "customer",
    ...                        "X-Authenticated": "true", "X-Request-ID": "req-1"},
    ...                       method="GET", target="/orders?limit=10")
    >>> signer.authenticate(headers, method="GET", target="/orders?limit=10").user_id
    'alice_01'

    ``nonces`` remembers used nonces (default: this process only; a fleet passes a shared
    :class:`~cnop.auth.redis_store.RedisNonceStore`).
    """

    def __init__(
        self,
        secret: str | bytes,
        *,
        max_skew: timedelta = DEFAULT_MAX_SKEW,
        nonces: NonceStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = require_strong_secret(SECRET_VARIABLE, secret)
        require_callable(clock, "clock", "() -> epoch seconds")
        if not isinstance(max_skew, timedelta) or not timedelta(seconds=1) <= max_skew <= timedelta(
            minutes=15
        ):
            raise CNOPConfigurationException("max_skew must be between 1 second and 15 minutes")
        if nonces is not None and not isinstance(nonces, NonceStore):
            raise CNOPConfigurationException(
                "nonces must have use_once(nonce, ttl_seconds) and use_once_async"
            )
        self._max_skew = max_skew.total_seconds()
        # A nonce is kept while its timestamp could still pass on any instance (their
        # clocks may differ by up to the skew as well).
        self._nonce_ttl = int(2 * self._max_skew) + 1
        self._nonces: NonceStore = nonces if nonces is not None else InMemoryNonceStore(clock)
        self._clock = clock

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, nonces: NonceStore | None = None
    ) -> GatewaySigner:
        """A signer keyed by ``GATEWAY_SIGNING_SECRET`` (32+ random bytes)."""
        return cls(env_text(environment(environ), SECRET_VARIABLE), nonces=nonces)

    def sign(
        self,
        headers: Mapping[str, str],
        *,
        method: str,
        target: str,
        body: bytes = b"",
        timestamp: int | None = None,
        nonce: str | None = None,
    ) -> dict[str, str]:
        """The caller headers (canonical names) plus timestamp, nonce and signature.

        ``method`` and ``target`` (path and query, as the service will receive them) and
        ``body`` are bound into the signature. Only the context headers (``X-Request-ID``,
        ``X-User-ID``, ``X-User-Role``, ``X-Authenticated``, ``X-Source``,
        ``X-Auth-Service``) are kept and signed; their values are validated first, so the
        gateway cannot sign something services refuse.
        """
        UserContext.from_headers(headers)
        values = lowercase_keys(headers)
        if timestamp is not None and (
            isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0
        ):
            raise CNOPValidationException.for_field("timestamp", "must be a non-negative int")
        if nonce is not None and (not isinstance(nonce, str) or not _NONCE.fullmatch(nonce)):
            raise CNOPValidationException.for_field("nonce", "must be 16-128 of A-Z a-z 0-9 _ -")
        _require_request(method, target, body)
        stamp = str(int(self._clock()) if timestamp is None else timestamp)
        once = nonce if nonce is not None else secrets.token_urlsafe(18)
        signed = {h: values[h.lower()] for h in CONTEXT_HEADERS if h.lower() in values}
        try:
            text = canonical_string(
                timestamp=stamp,
                nonce=once,
                method=method,
                target=target,
                body=body,
                headers=values,
            )
        except ValueError as exc:
            raise CNOPValidationException.for_field("request", str(exc)) from None
        signed[TIMESTAMP_HEADER] = stamp
        signed[NONCE_HEADER] = once
        signed[SIGNATURE_HEADER] = self._mac(text)
        return signed

    def verify(
        self, headers: Mapping[str, str], *, method: str, target: str, body: bytes = b""
    ) -> None:
        """Raise ``CNOPAuthenticationException`` unless the request carries a valid, unused
        signature for exactly this method, target and body."""
        values, nonce = self._checked(headers, method, target, body)
        if not self._nonces.use_once(nonce, self._nonce_ttl):
            self._refuse("nonce already used (a replay)", values)

    async def verify_async(
        self, headers: Mapping[str, str], *, method: str, target: str, body: bytes = b""
    ) -> None:
        """:meth:`verify` without blocking the event loop on a shared nonce store."""
        values, nonce = self._checked(headers, method, target, body)
        if not await self._nonces.use_once_async(nonce, self._nonce_ttl):
            self._refuse("nonce already used (a replay)", values)

    def authenticate(
        self, headers: Mapping[str, str], *, method: str, target: str, body: bytes = b""
    ) -> UserContext:
        """Check the signature, then parse the caller: the one call a service needs."""
        self.verify(headers, method=method, target=target, body=body)
        return UserContext.from_headers(headers)

    async def authenticate_async(
        self, headers: Mapping[str, str], *, method: str, target: str, body: bytes = b""
    ) -> UserContext:
        """:meth:`authenticate` without blocking the event loop on a shared nonce store."""
        await self.verify_async(headers, method=method, target=target, body=body)
        return UserContext.from_headers(headers)

    # -- the checks (no I/O) ---------------------------------------------------------------

    def _checked(
        self, headers: Mapping[str, str], method: str, target: str, body: bytes
    ) -> tuple[dict[str, str], str]:
        values: dict[str, str] = {}
        reason: str | None
        try:
            values = lowercase_keys(headers)
        except CNOPValidationException as exc:
            reason = f"malformed headers ({exc.message})"
        else:
            reason = self._refusal(values, method, target, body)
        if reason is not None:
            self._refuse(reason, values)
        return values, values[NONCE_HEADER.lower()]

    def _refuse(self, reason: str, values: Mapping[str, str]) -> NoReturn:
        security_events.access_denied(
            None,
            f"gateway signature refused: {reason}",
            request_id=valid_request_id(values.get("x-request-id")),
        )
        raise CNOPAuthenticationException(
            f"The request did not come through the gateway: {reason}",
            details={"reason": reason},
        )

    def _refusal(
        self, values: Mapping[str, str], method: Any, target: Any, body: Any
    ) -> str | None:
        reason = _header_problem(values)
        if reason is not None:
            return reason
        stamp, nonce = values[TIMESTAMP_HEADER.lower()], values[NONCE_HEADER.lower()]
        if abs(self._clock() - int(stamp)) > self._max_skew:
            return "timestamp outside the allowed clock skew"
        if not (isinstance(body, bytes) and isinstance(method, str) and isinstance(target, str)):
            return "the request's method, target or body is missing"
        try:
            text = canonical_string(
                timestamp=stamp,
                nonce=nonce,
                method=method,
                target=target,
                body=body,
                headers=values,
            )
        except ValueError:
            return "bad signature"  # nothing the gateway could have signed
        given = values[SIGNATURE_HEADER.lower()]
        # The format check reveals nothing about the secret; the comparison is constant-time.
        if not _HEX_SHA256.fullmatch(given) or not hmac.compare_digest(self._mac(text), given):
            return "bad signature"
        return None

    def _mac(self, text: str) -> str:
        return hmac.new(self._secret, text.encode("ascii"), hashlib.sha256).hexdigest()


_PRESENT_AND_WELL_FORMED = (
    (SIGNATURE_HEADER, "signature", None),
    (TIMESTAMP_HEADER, "timestamp", _TIMESTAMP),
    (NONCE_HEADER, "nonce", _NONCE),
)


def _header_problem(values: Mapping[str, str]) -> str | None:
    for header, what, pattern in _PRESENT_AND_WELL_FORMED:
        value = values.get(header.lower())
        if value is None:
            return f"missing {what}"
        if pattern is not None and not pattern.fullmatch(value):
            return f"malformed {what}"
    return None


def _require_request(method: object, target: object, body: object) -> None:
    if not isinstance(method, str) or not _METHOD.fullmatch(method):
        raise CNOPValidationException.for_field("method", "must be an upper-case HTTP method")
    if not isinstance(target, str) or not _TARGET.fullmatch(target):
        raise CNOPValidationException.for_field(
            "target", "must be the path and query: '/' then visible ASCII"
        )
    if not isinstance(body, bytes):
        raise CNOPValidationException.for_field("body", "must be bytes")
