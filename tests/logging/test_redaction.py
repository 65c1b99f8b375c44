"""Secrets never reach a line: keys at any depth, bearer tokens and JWTs in text."""

from __future__ import annotations

import pytest

from cnop.exceptions import CNOPValidationException
from cnop.logging import (
    REDACTED,
    BaseLogger,
    LogAction,
    LoggerName,
    add_secret_keys,
    configure_logging,
    mask_text,
    redact,
)
from cnop.logging.testing import capture_logs

from .conftest import CapturedLines

log = BaseLogger(LoggerName.AUTH)
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNlY3JldA"


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "Password",
        "passwd",
        "secret",
        "token",
        "access_token",
        "refresh_token",
        "authorization",
        "Authorization",
        "cookie",
        "Set-Cookie",
        "api_key",
        "X-Api-Key",
        "private_key",
        "new_password",
        "jwt_secret_key",
        "client_secret",
    ],
)
def test_secret_keys_are_redacted(captured: CapturedLines, key: str) -> None:
    log.info(action=LogAction.AUTH_SUCCESS, message="k", fields={key: "s3cr3t-value"})
    assert captured.records()[0]["fields"] == {key: REDACTED}
    assert "s3cr3t-value" not in captured.buffer.getvalue()


@pytest.mark.parametrize(
    "key",
    ["DBPassword", "SMTPPassword", "JWTSecret", "AWSSecretAccessKey", "APIKey", "OAuth2Token"],
)
def test_keys_with_an_acronym_before_the_secret_word_are_redacted(key: str) -> None:
    with capture_logs() as logs:
        log.info(action=LogAction.AUTH_SUCCESS, message=f"{key}=s3cr3t-v", **{key: "s3cr3t"})
    assert logs[0][key] == REDACTED
    assert logs[0]["message"] == f"{key}={REDACTED}"


def test_camel_case_keys_are_redacted() -> None:
    assert redact({"accessToken": "a", "clientSecret": "b", "userName": "c"}) == {
        "accessToken": REDACTED,
        "clientSecret": REDACTED,
        "userName": "c",
    }


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    "text",
    [
        "a" * 200_000,
        "a" * 200_000 + "=",
        "eyJ" * 70_000,
        "eyJa." * 40_000,
        '"' + "k" * 200_000,
        "bearer " * 30_000,
        "x=" * 100_000,
    ],
)
def test_masking_long_hostile_text_finishes(text: str) -> None:
    # A pattern that backtracks quadratically would hang here (pytest-timeout ends it).
    masked = mask_text(text)
    assert len(masked) <= len(text) + len(REDACTED) * (len(text) // 2)


def test_ordinary_keys_are_kept() -> None:
    fields = {"username": "alice", "tokenizer": "bpe", "lock": "user:alice", "passage": "p"}
    assert redact(fields) == fields


def test_redaction_at_depth(captured: CapturedLines) -> None:
    log.info(
        action=LogAction.AUTH_SUCCESS,
        message="deep",
        password="top-secret-0",
        request={
            "headers": {"Authorization": "Bearer top-secret-1", "Accept": "json"},
            "body": [
                {"user": "alice", "credentials": {"password": "top-secret-2"}},
                ({"nested": [{"api_key": "top-secret-3"}]},),
            ],
        },
    )
    raw = captured.buffer.getvalue()
    for n in range(4):
        assert f"top-secret-{n}" not in raw
    line = captured.records()[0]
    assert line["password"] == REDACTED
    assert line["request"]["headers"] == {"Authorization": REDACTED, "Accept": "json"}
    assert line["request"]["body"][0] == {"user": "alice", "credentials": REDACTED}
    assert line["request"]["body"][1] == [{"nested": [{"api_key": REDACTED}]}]


def test_bearer_tokens_and_jwts_are_masked_in_text(captured: CapturedLines) -> None:
    log.warning(
        action=LogAction.TOKEN_REFUSED,
        message=f"refused header 'Authorization: bearer abc.DEF-123' and token {JWT} today",
        note=f"saw {JWT}",
    )
    raw = captured.buffer.getvalue()
    assert "abc.DEF-123" not in raw
    assert JWT not in raw
    line = captured.records()[0]
    assert line["message"] == (
        f"refused header 'Authorization: bearer {REDACTED}' and token {REDACTED} today"
    )
    assert line["note"] == f"saw {REDACTED}"


def test_secrets_in_exception_messages_are_masked(captured: CapturedLines) -> None:
    try:
        raise PermissionError(f"bad token {JWT}")
    except PermissionError:
        log.exception(action=LogAction.TOKEN_REFUSED, message="refused")
    assert JWT not in captured.buffer.getvalue()
    assert captured.records()[0]["exception"]["message"] == f"bad token {REDACTED}"


def test_text_without_secrets_is_unchanged() -> None:
    text = "Bearer-less text with eyJ but no dots, and a bearer of good news"
    assert mask_text("nothing to see") == "nothing to see"
    assert mask_text(text).startswith("Bearer-less text with eyJ but no dots")


def test_key_set_is_extendable() -> None:
    add_secret_keys("test-only-pin-code")
    with capture_logs() as logs:
        log.info(action=LogAction.AUTH_SUCCESS, message="pin", test_only_pin_code=1234, pin=1)
    line = logs[0]
    assert line["test_only_pin_code"] == REDACTED
    assert line["pin"] == 1


def test_configure_logging_extends_the_key_set(captured: CapturedLines) -> None:
    configure_logging(
        service="test-svc",
        level="DEBUG",
        sink=captured.buffer,
        secret_keys=["test_only_otp_seed"],
    )
    log.info(action=LogAction.AUTH_SUCCESS, message="otp", test_only_otp_seed="JBSWY3DPEHPK3PXP")
    assert captured.records()[0]["test_only_otp_seed"] == REDACTED


@pytest.mark.parametrize("bad", ["", "  ", "--", 7])
def test_bad_secret_keys_are_refused(bad: object) -> None:
    with pytest.raises(CNOPValidationException, match="secret key"):
        add_secret_keys(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "GET /cb?code=1&access_token=abc123&state=x",
            "GET /cb?code=1&access_token=[REDACTED]&state=x",
        ),
        ("login password=hunter2 user=al", "login password=[REDACTED] user=al"),
        ("X-Api-Key=k-1, next", "X-Api-Key=[REDACTED], next"),
        ("db_password=p@ss;host=h", "db_password=[REDACTED];host=h"),
        ("count=3 tokenizer=bpe", "count=3 tokenizer=bpe"),
        ("plain a=b c=d", "plain a=b c=d"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "Authorization: Basic [REDACTED]"),
        ("a bearer of news, basic idea", "a bearer of news, basic idea"),
        (
            'body {"password": "p\\"w", "user": "al", "pin": 12}',
            'body {"password": "[REDACTED]", "user": "al", "pin": 12}',
        ),
        ("repr {'accessToken': 'xyz', 'n': 1}", "repr {'accessToken': '[REDACTED]', 'n': 1}"),
        ('{"api_key": 12345}', '{"api_key": [REDACTED]}'),
        ("xeyJa.b.c stays", "xeyJa.b.c stays"),
    ],
)
def test_secret_pairs_in_text_are_masked(text: str, expected: str) -> None:
    assert mask_text(text) == expected


def test_added_keys_are_masked_in_text_too() -> None:
    add_secret_keys("test_only_session_pin")
    assert mask_text("TEST-ONLY-SESSION-PIN=4321") == f"TEST-ONLY-SESSION-PIN={REDACTED}"
