"""Opaque, tamper-evident pagination cursors bound to one listing.

A cursor is the ``LastEvaluatedKey`` of a query, signed with HMAC-SHA256 together
with the listing it came from (table, index, partition). A cursor that was altered,
truncated, signed with another secret, or taken from another listing (another user's
orders) is refused with CNOPValidationException, never passed to DynamoDB.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from cnop.exceptions import CNOPValidationException

__all__ = ["CursorCodec"]

_MAC_BYTES = 16
_MAX_CURSOR_LENGTH = 2048


def _invalid() -> CNOPValidationException:
    return CNOPValidationException.for_field(
        "cursor", "is malformed or does not belong to this listing"
    )


class CursorCodec:
    """Encodes and checks cursors with one secret."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, scope: str, payload: bytes) -> bytes:
        message = scope.encode() + b"\x00" + payload
        return hmac.new(self._secret, message, hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, scope: str, last_key: dict[str, dict[str, Any]]) -> str:
        """The cursor for ``last_key`` (string key attributes only) in listing ``scope``."""
        flat = {name: value["S"] for name, value in sorted(last_key.items())}
        payload = json.dumps(flat, separators=(",", ":")).encode()
        token = self._mac(scope, payload) + payload
        return base64.urlsafe_b64encode(token).decode().rstrip("=")

    def decode(self, scope: str, cursor: object) -> dict[str, dict[str, Any]]:
        """The ``ExclusiveStartKey`` of ``cursor``, or CNOPValidationException."""
        if not isinstance(cursor, str) or not cursor or len(cursor) > _MAX_CURSOR_LENGTH:
            raise _invalid()
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            raise _invalid() from None
        mac, payload = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
        if len(mac) != _MAC_BYTES or not hmac.compare_digest(mac, self._mac(scope, payload)):
            raise _invalid()
        try:
            flat = json.loads(payload)
        except ValueError:
            raise _invalid() from None
        if not isinstance(flat, dict) or not all(isinstance(v, str) for v in flat.values()):
            raise _invalid()
        return {str(name): {"S": value} for name, value in flat.items()}
