"""A corpus of the shapes secrets take in real log calls, run through every path into
the stream: fields at any depth, the message, exception messages and tracebacks,
standard-library records with %-arguments, loguru's own bind(). No shape may leave its
secret in a written line."""

from __future__ import annotations

import dataclasses
import json
import logging
from enum import Enum
from typing import Any, NamedTuple

import pytest
from loguru import logger as loguru_logger

from cnop.logging import REDACTED, BaseLogger, LogAction, LoggerName, mask_text, redact
from cnop.logging.testing import capture_logs

from .conftest import CapturedLines

log = BaseLogger(LoggerName.AUTH)

SECRET = "hunter2Zq9xKw"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzq9xKw0000"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNlY3JldA"

# Each shape holds SECRET (or AWS_SECRET / JWT) where a secret appears in the wild.
TEXT_SHAPES = [
    # reprs of dataclasses, NamedTuples, attrs classes, pydantic models; f"{x=}"
    f"Settings(user='al', password='{SECRET}')",
    f'Settings(user="al", password="{SECRET}")',
    f"user='al' password='{SECRET}'",
    f"password='it\\'s-{SECRET}'",
    f'password="a\\"{SECRET}"',
    f"password=b'{SECRET}'",
    f"password = '{SECRET}'",
    f"password='{SECRET}",  # cut off before the closing quote
    # acronyms before the secret word
    f"DBPassword={SECRET}",
    f"SMTPPassword: {SECRET}",
    f"JWTSecret={SECRET}",
    f"AWSSecretAccessKey={AWS_SECRET}",
    f"aws_secret_access_key = {AWS_SECRET}",
    f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}",
    f'"SecretAccessKey": "{AWS_SECRET}"',
    f"dbpassword={SECRET}",
    f"spring.datasource.password={SECRET}",
    # credentials in URLs
    f"redis://:{SECRET}@cache:6379/0",
    f"https://user:{SECRET}@host/x",
    f"postgresql://u:{SECRET}@db/app",
    f"connect to postgresql://app:p@{SECRET}@db:5432/app failed",
    f"https://{SECRET}@github.com/org/repo.git",
    # colon forms: YAML, HTTP headers
    f"password: {SECRET}",
    f"config:\n  password: {SECRET}\n  user: al",
    f"login failed, password: {SECRET} wrong",
    f"password:\t'{SECRET}'",
    f"Authorization: Bearer {SECRET}",
    f"authorization: Basic {SECRET}",
    f"Proxy-Authorization: Basic {SECRET}",
    f"X-Api-Key: {SECRET}",
    f"Cookie: theme=dark; sid={SECRET}",
    f"Set-Cookie: sid={SECRET}; Path=/; HttpOnly",
    f"GET / HTTP/1.1\r\nHost: h\r\nCookie: sid={SECRET}\r\n",
    # JSON and dict reprs inside a message
    f'{{"password": "{SECRET}"}}',
    f'{{"user": "al", "password": "x\\"{SECRET}"}}',
    f'body={{\\"password\\": \\"{SECRET}\\"}}',
    f"{{'password': '{SECRET}'}}",
    f"{{'password': b'{SECRET}'}}",
    f"{{'DBPassword': '{SECRET}'}}",
    # (key, value) pairs: lists of tuples, header lists
    f"[('password', '{SECRET}')]",
    f"[(b'authorization', b'Bearer {SECRET}')]",
    f"[(b'cookie', b'sid={SECRET}')]",
    f'[["api_key", "{SECRET}"]]',
    # key=value in queries and prose
    f"GET /cb?code=1&access_token={SECRET}&state=x",
    f"note='password={SECRET}'",
    f"x=y client_secret={SECRET} z",
    f"token={SECRET}==",
    f"saw {JWT}",
    # hostile: NUL, lone surrogates, surrounding newlines and whitespace
    f"password={SECRET}\x00tail",
    f"\x00password={SECRET}",
    f"password={SECRET}\ud800",
    f"\n  password: {SECRET}\n",
]


def secrets_in(text: str) -> list[str]:
    return [s for s in (SECRET, AWS_SECRET, JWT) if s in text]


@pytest.mark.parametrize("shape", TEXT_SHAPES)
def test_mask_text_hides_every_shape(shape: str) -> None:
    masked = mask_text(shape)
    assert secrets_in(masked) == [], masked
    assert REDACTED in masked


@pytest.mark.parametrize("shape", TEXT_SHAPES)
def test_no_path_into_the_stream_lets_a_shape_through(captured: CapturedLines, shape: str) -> None:
    # 1. the message, 2. a field value, at depth, in lists and tuples
    log.info(
        action=LogAction.AUTH_FAILED,
        message=shape,
        note=shape,
        deep={"a": [{"b": (shape, {"c": {shape}})}]},
    )
    # 3. an exception's message, 4. its traceback (a chained cause)
    try:
        try:
            raise ValueError(shape)
        except ValueError as cause:
            raise RuntimeError("wrapped") from cause
    except RuntimeError:
        log.exception(action=LogAction.ERROR, message="failed")
    # 5. standard-library records: %-arguments (str, repr of a dict), extra fields
    std = logging.getLogger("corpus.lib")
    std.warning("got %s", shape)
    std.warning("config %r", {"settings": shape})
    std.warning("extra", extra={"note": shape})
    # 6. loguru's own bind() by the host application
    loguru_logger.bind(note=shape).warning(shape)
    raw = captured.buffer.getvalue()
    assert len(captured.records()) == 6
    assert secrets_in(raw) == [], raw
    # The escaped form of the secret in JSON, too (a backslash or quote inside it).
    assert secrets_in(json.dumps([json.loads(x) for x in captured.raw()])) == []


@dataclasses.dataclass
class DatabaseSettings:
    host: str
    password: str


class Vault(Enum):
    SETTINGS = {"password": SECRET}  # noqa: RUF012 - an enum member, not a class attribute


class Credentials(NamedTuple):
    user: str
    password: str


def structured_shapes() -> list[Any]:
    shapes: list[Any] = [
        {"password": SECRET},
        {"DBPassword": SECRET},
        {"SMTPPassword": SECRET},
        {"JWTSecret": SECRET},
        {"AWSSecretAccessKey": AWS_SECRET},
        {"aws_secret_access_key": AWS_SECRET},
        {"db.password": SECRET},
        {"dbpassword": SECRET},
        {"password2": SECRET},
        {b"password": SECRET},
        {"ｐａｓｓｗｏｒｄ": SECRET},  # full-width letters  # noqa: RUF001
        {"headers": {"Set-Cookie": f"sid={SECRET}"}},
        [("password", SECRET)],
        [(b"authorization", f"Bearer {SECRET}")],
        ("api_key", SECRET),
        DatabaseSettings("db", SECRET),
        Credentials("al", SECRET),
        [{"a": {"b": [{"c": {"token": SECRET}}]}}],
        {f"password={SECRET}": 1},  # the key itself holds the secret
        Vault.SETTINGS,  # an enum whose value is a mapping
    ]
    pydantic = pytest.importorskip("pydantic")

    class Login(pydantic.BaseModel):  # type: ignore[name-defined,misc]
        user: str
        password: str

    shapes.append(Login(user="al", password=SECRET))
    return shapes


def test_structured_values_never_leak(captured: CapturedLines) -> None:
    for n, shape in enumerate(structured_shapes()):
        log.info(action=LogAction.AUTH_FAILED, message=f"shape {n}", value=shape)
        logging.getLogger("corpus.lib").info("shape %d", n, extra={"value": shape})
    raw = captured.buffer.getvalue()
    assert secrets_in(raw) == [], raw
    (settings,) = [x["value"] for x in captured.of("auth") if x["message"] == "shape 15"]
    assert settings == {"host": "db", "password": REDACTED}


def test_redact_walks_models_and_pairs() -> None:
    assert redact({"creds": Credentials("al", SECRET)}) == {
        "creds": {"user": "al", "password": REDACTED}
    }
    assert redact([("password", SECRET), ("user", "al")]) == [
        ["password", REDACTED],
        ["user", "al"],
    ]
    assert redact({b"password": SECRET}) == {"password": REDACTED}


def test_the_captured_records_are_redacted_too() -> None:
    with capture_logs() as logs:
        for shape in TEXT_SHAPES[:10]:
            log.info(action=LogAction.AUTH_FAILED, message=shape, note=shape)
    assert len(logs) == 10
    assert secrets_in(repr(logs)) == []


# What we promise to keep: redaction must not destroy useful lines.
@pytest.mark.parametrize(
    "text",
    [
        "password_policy_version=3",
        "the token was refreshed, 3 tokens left",
        "the password was changed by alice",
        "tokenizer=bpe passage=p",
        "connect https://host:8443/x?page=2 at 12:30:45",
        "aws_access_key_id=AKIAIOSFODNN7EXAMPLE",
        "token_ttl_seconds=900",
        "Error: timeout after 3 s",
        "ssh to host:22 ok",
    ],
)
def test_useful_text_is_kept(text: str) -> None:
    assert mask_text(text) == text


@pytest.mark.parametrize("digits", ["١٢٣٤", "１２３４", "12a4"])  # noqa: RUF001
def test_only_ascii_numbers_count_as_numbers(digits: str) -> None:
    assert mask_text(f"token_ttl={digits}") == f"token_ttl={REDACTED}" + digits[4:]


def test_useful_fields_are_kept() -> None:
    fields = {
        "password_policy_version": 3,
        "token_ttl_seconds": 900,
        "password_set": True,
        "refresh_token": None,
        "tokenizer": "bpe",
        "aws_access_key_id": "AKIAIOSFODNN7EXAMPLE",
    }
    assert redact(fields) == fields
    # The number exception is for keys that describe a secret, not for secrets.
    assert redact({"password": 123456, "pin_password_version": "v-secret"}) == {
        "password": REDACTED,
        "pin_password_version": REDACTED,
    }


# Every pattern's worst case, about 2 MB: masking must stay linear (pytest-timeout ends
# a quadratic or exponential pattern long before it finishes).
HOSTILE = [
    "x=" * 1_000_000,
    "a:" * 1_000_000,
    "password=" * 220_000,
    "password: " * 200_000,
    "'a': " * 400_000,
    "'password': '" * 150_000,
    "{'a':x'a':x" * 180_000,
    "('a', " * 330_000,
    "[('password', b'" * 120_000,
    "a://" * 500_000,
    "a://b:c" * 280_000,
    "redis://:" + "p" * 2_000_000,
    '\\"a\\": \\"' * 200_000,
    '"' + "k" * 2_000_000,
    "a" * 2_000_000 + "=",
    "Cookie: " * 250_000,
    "bearer " * 280_000,
    "eyJa." * 400_000,
    "-" * 2_000_000,
    "\x00" * 2_000_000,
    "password='\\" * 180_000,
    "\n password: x" * 150_000,
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("text", HOSTILE, ids=lambda t: repr(t[:12]))
def test_masking_two_megabytes_of_hostile_text_finishes(text: str) -> None:
    masked = mask_text(text)
    assert isinstance(masked, str)


@pytest.mark.timeout(120)
def test_a_hostile_line_is_written_whole(captured: CapturedLines) -> None:
    log.info(action=LogAction.ERROR, message="x=" * 500_000, note="a:" * 500_000)
    (line,) = captured.records()
    assert line["message"].startswith("x=x=")
