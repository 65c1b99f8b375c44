"""Opaque, tamper-evident pagination cursors bound to one listing.

A cursor is the ``LastEvaluatedKey`` of a query, signed with HMAC-SHA256 together
with the listing it came from (table, index, partition). A cursor that was altered,
truncated or taken from another listing (another user's orders) is refused with
CNOPValidationException, never passed to DynamoDB.

Each cursor starts with the id of the secret that signed it (a digest of the secret, not
the secret). A cursor signed with a secret this instance does not know is the server's
configuration error, not the client's: instances behind one load balancer must share
``CNOP_CURSOR_SECRET``. During a rotation the previous secret
(``CNOP_CURSOR_SECRET_PREVIOUS``) still opens the cursors it signed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from cnop.exceptions import CNOPConfigurationException, CNOPValidationException

__all__ = ["CursorCodec"]

_MAC_BYTES = 16
_KEY_ID_BYTES = 4
_MAX_CURSOR_LENGTH = 2048


def _key_id(secret: bytes) -> bytes:
    return hashlib.sha256(b"cnop-cursor-key\x00" + secret).digest()[:_KEY_ID_BYTES]


def _foreign() -> CNOPConfigurationException:
    return CNOPConfigurationException(
        "A pagination cursor was signed with a secret this instance does not know: set the "
        "same CNOP_CURSOR_SECRET on every instance (and CNOP_CURSOR_SECRET_PREVIOUS while "
        "rotating it)",
        details={"variable": "CNOP_CURSOR_SECRET"},
    )


def _invalid() -> CNOPValidationException:
    return CNOPValidationException.for_field(
        "cursor", "is malformed or does not belong to this listing"
    )


class CursorCodec:
    """Signs cursors with ``secret``; opens those of ``secret`` and of ``previous`` ones."""

    def __init__(self, secret: bytes, previous: tuple[bytes, ...] = ()) -> None:
        self._secret = secret
        self._key_id = _key_id(secret)
        self._secrets = {_key_id(s): s for s in (*previous, secret)}

    @staticmethod
    def _mac(secret: bytes, scope: str, payload: bytes) -> bytes:
        message = scope.encode() + b"\x00" + payload
        return hmac.new(secret, message, hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, scope: str, last_key: dict[str, dict[str, Any]]) -> str:
        """The cursor for ``last_key`` (string key attributes only) in listing ``scope``."""
        flat = {name: value["S"] for name, value in sorted(last_key.items())}
        payload = json.dumps(flat, separators=(",", ":")).encode()
        token = self._key_id + self._mac(self._secret, scope, payload) + payload
        return base64.urlsafe_b64encode(token).decode().rstrip("=")

    def decode(self, scope: str, cursor: object) -> dict[str, dict[str, Any]]:
        """The ``ExclusiveStartKey`` of ``cursor``, or CNOPValidationException."""
        if not isinstance(cursor, str) or not cursor or len(cursor) > _MAX_CURSOR_LENGTH:
            raise _invalid()
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            raise _invalid() from None
        key_id, rest = raw[:_KEY_ID_BYTES], raw[_KEY_ID_BYTES:]
        mac, payload = rest[:_MAC_BYTES], rest[_MAC_BYTES:]
        if len(mac) != _MAC_BYTES or not payload.startswith(b"{"):
            raise _invalid()
        secret = self._secrets.get(key_id)
        if secret is None:
            raise _foreign()
        if not hmac.compare_digest(mac, self._mac(secret, scope, payload)):
            raise _invalid()
        try:
            flat = json.loads(payload)
        except ValueError:
            raise _invalid() from None
        if not isinstance(flat, dict) or not all(isinstance(v, str) for v in flat.values()):
            raise _invalid()
        return {str(name): {"S": value} for name, value in flat.items()}
