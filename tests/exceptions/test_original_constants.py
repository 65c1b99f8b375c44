"""Constants services of the original common package used, under cnop names."""

from __future__ import annotations

import pytest

from cnop.exceptions import ErrorMessage, RequestHeader


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("CONTENT_TYPE", "Content-Type"),
        ("AUTHORIZATION", "Authorization"),
        ("USER_AGENT", "User-Agent"),
        ("REQUEST_ID", "X-Request-ID"),
        ("USER_NAME", "X-User-Name"),
        ("USER_ID", "X-User-ID"),
        ("USER_ROLE", "X-User-Role"),
        ("AUTHENTICATED", "X-Authenticated"),
        ("SOURCE", "X-Source"),
        ("AUTH_SERVICE", "X-Auth-Service"),
        ("SOURCE_SERVICE", "X-Source-Service"),
        ("SESSION_ID", "X-Session-ID"),
    ],
)
def test_request_headers_keep_the_original_values(member: str, value: str) -> None:
    assert RequestHeader[member] == value
    assert RequestHeader(value).name == member


def test_error_messages_of_the_original_exist_and_reveal_nothing() -> None:
    messages = {
        name: getattr(ErrorMessage, name)
        for name in (
            "INTERNAL_SERVER_ERROR",
            "SERVICE_UNAVAILABLE",
            "AUTHENTICATION_FAILED",
            "ACCESS_DENIED",
            "RESOURCE_NOT_FOUND",
            "USER_NOT_FOUND",
            "VALIDATION_ERROR",
            "INSUFFICIENT_BALANCE",
        )
    }
    assert ErrorMessage.INTERNAL_SERVER_ERROR == ErrorMessage.INTERNAL_ERROR
    for message in messages.values():
        assert isinstance(message, str)
        assert message
        assert "{" not in message  # shown as they are, never formatted with input
