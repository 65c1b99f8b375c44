from __future__ import annotations

import base64

import pytest

from cnop.data.core.cursor import CursorCodec
from cnop.exceptions import CNOPConfigurationException, CNOPValidationException

KEY = {"pk": {"S": "USER#alice_01"}, "sk": {"S": "BALTX#01ABC"}}


def test_round_trip() -> None:
    codec = CursorCodec(b"s" * 32)
    cursor = codec.encode("users||USER#alice_01|BALTX#", KEY)
    assert "alice" not in cursor  # opaque: not a readable key
    assert codec.decode("users||USER#alice_01|BALTX#", cursor) == KEY


@pytest.mark.parametrize(
    "tamper",
    [
        lambda c: c[:-2],
        lambda c: c[:10] + ("A" if c[10] != "A" else "B") + c[11:],
        lambda c: "not base64 !!",
        lambda c: "",
        lambda c: base64.urlsafe_b64encode(b'{"pk":"USER#bob"}').decode(),
        lambda c: c + "x" * 3000,
    ],
)
def test_tampered_cursors_are_client_errors(tamper: object) -> None:
    codec = CursorCodec(b"s" * 32)
    cursor = codec.encode("scope", KEY)
    with pytest.raises(CNOPValidationException, match="cursor"):
        codec.decode("scope", tamper(cursor))  # type: ignore[operator]


def test_foreign_cursors_are_refused() -> None:
    codec = CursorCodec(b"s" * 32)
    cursor = codec.encode("users||USER#alice_01|BALTX#", KEY)
    with pytest.raises(CNOPValidationException, match="does not belong to this listing"):
        codec.decode("users||USER#bob_0001|BALTX#", cursor)
    # Signed with a secret this instance does not know: the server's setting, not the client.
    with pytest.raises(CNOPConfigurationException, match="CNOP_CURSOR_SECRET"):
        CursorCodec(b"t" * 32).decode("users||USER#alice_01|BALTX#", cursor)
    with pytest.raises(CNOPValidationException):
        codec.decode("scope", 42)
