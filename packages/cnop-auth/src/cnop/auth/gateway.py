"""Signed gateway headers: a request that did not pass the gateway is refused.

The gateway signs the caller headers plus a timestamp with a shared secret (HMAC-SHA256);
a service checks the signature in constant time and the timestamp within a bounded skew.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import time
from collections.abc import Callable, Mapping
from datetime import timedelta

from cnop.auth import security_events
from cnop.auth.context import (
    CONTEXT_HEADERS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    UserContext,
    lowercase_keys,
    valid_request_id,
)
from cnop.auth.secret_strength import require_strong_secret
from cnop.exceptions import (
    CNOPAuthenticationException,
    CNOPConfigurationException,
    CNOPValidationException,
)

SECRET_VARIABLE = "GATEWAY_SIGNING_SECRET"  # noqa: S105 (a variable name)
DEFAULT_MAX_SKEW = timedelta(seconds=60)
# A version tag in the signed text lets the format change without ambiguity.
_FORMAT = "cnop-gateway-v1"
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class GatewaySigner:
    """Sign (gateway side) and check (service side) the gateway's caller headers.

    >>> signer = GatewaySigner.from_env()                  # GATEWAY_SIGNING_SECRET
    >>> headers = signer.sign({"X-User-ID": "alice_01", "X-User-Role": "customer",
    ...                        "X-Authenticated": "true", "X-Request-ID": "req-1"})
    >>> signer.authenticate(headers).user_id
    'alice_01'
    """

    def __init__(
        self,
        secret: str | bytes,
        *,
        max_skew: timedelta = DEFAULT_MAX_SKEW,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = require_strong_secret(SECRET_VARIABLE, secret)
        if not isinstance(max_skew, timedelta) or not timedelta(seconds=1) <= max_skew <= timedelta(
            minutes=15
        ):
            raise CNOPConfigurationException("max_skew must be between 1 second and 15 minutes")
        self._max_skew = max_skew.total_seconds()
        self._clock = clock

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GatewaySigner:
        """A signer keyed by ``GATEWAY_SIGNING_SECRET`` (32+ random bytes)."""
        env = os.environ if environ is None else environ
        return cls(env.get(SECRET_VARIABLE, ""))

    def sign(self, headers: Mapping[str, str], *, timestamp: int | None = None) -> dict[str, str]:
        """The caller headers (canonical names) plus timestamp and signature, ready to send.

        Only the context headers (``X-Request-ID``, ``X-User-ID``, ``X-User-Role``,
        ``X-Authenticated``, ``X-Source``, ``X-Auth-Service``) are kept and signed; their
        values are validated first, so the gateway cannot sign something services refuse.
        """
        UserContext.from_headers(headers)
        values = lowercase_keys(headers)
        if timestamp is not None and (
            isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0
        ):
            raise CNOPValidationException.for_field("timestamp", "must be a non-negative int")
        stamp = str(int(self._clock()) if timestamp is None else timestamp)
        signed = {h: values[h.lower()] for h in CONTEXT_HEADERS if h.lower() in values}
        signed[TIMESTAMP_HEADER] = stamp
        signed[SIGNATURE_HEADER] = self._signature(values, stamp)
        return signed

    def verify(self, headers: Mapping[str, str]) -> None:
        """Raise ``CNOPAuthenticationException`` unless the headers carry a valid signature."""
        values: dict[str, str] = {}
        reason: str | None
        try:
            values = lowercase_keys(headers)
        except CNOPValidationException as exc:
            reason = f"malformed headers ({exc.message})"
        else:
            reason = self._refusal(values)
        if reason is not None:
            security_events.access_denied(
                None,
                f"gateway signature refused: {reason}",
                request_id=valid_request_id(values.get("x-request-id")),
            )
            raise CNOPAuthenticationException(
                f"The request did not come through the gateway: {reason}",
                details={"reason": reason},
            )

    def authenticate(self, headers: Mapping[str, str]) -> UserContext:
        """Check the signature, then parse the caller: the one call a service needs."""
        self.verify(headers)
        return UserContext.from_headers(headers)

    def _refusal(self, values: Mapping[str, str]) -> str | None:
        given = values.get(SIGNATURE_HEADER.lower())
        stamp = values.get(TIMESTAMP_HEADER.lower())
        if given is None:
            return "missing signature"
        if stamp is None:
            return "missing timestamp"
        if not _TIMESTAMP.fullmatch(stamp):
            return "malformed timestamp"
        if abs(self._clock() - int(stamp)) > self._max_skew:
            return "timestamp outside the allowed clock skew"
        expected = self._signature(values, stamp)
        # The format check reveals nothing about the secret; the comparison is constant-time.
        if not _HEX_SHA256.fullmatch(given) or not hmac.compare_digest(expected, given):
            return "bad signature"
        return None

    def _signature(self, values: Mapping[str, str], stamp: str) -> str:
        # JSON makes the signed text unambiguous whatever the values contain; null = absent.
        text = json.dumps(
            [_FORMAT, stamp, *(values.get(h.lower()) for h in CONTEXT_HEADERS)],
            separators=(",", ":"),
        )
        return hmac.new(self._secret, text.encode("utf-8"), hashlib.sha256).hexdigest()
