"""Values of the wrong type given to the logging functions and the metric constructors.

Functions that run on the way to a log line never raise; constructors refuse what they
cannot use with a CNOPValidationException that names the argument.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from cnop.exceptions import CNOPValidationException
from cnop.logging import (
    AuditEvent,
    AuditLogger,
    Counter,
    Histogram,
    Metrics,
    mask_text,
    request_id_from_header,
)
from cnop.logging.context import is_valid_request_id

from .conftest import CapturedLines

WRONG_TYPES: list[Any] = [None, 5, -1, True, math.nan, math.inf, [b"x"], {"a": 1}, object()]


@pytest.mark.parametrize("value", [*WRONG_TYPES, b"token=abc"])
def test_mask_text_masks_what_is_not_a_str_as_its_text(value: Any) -> None:
    masked = mask_text(value)
    assert isinstance(masked, str)
    if isinstance(value, bytes):
        assert masked == "token=[REDACTED]"


def test_mask_text_masks_the_text_of_a_str_subclass() -> None:
    class Text(str):
        pass

    assert mask_text(Text("password=hunter2")) == "password=[REDACTED]"


@pytest.mark.parametrize("value", [*WRONG_TYPES, bytearray(b"abc-123")])
def test_request_id_from_header_replaces_any_other_type(value: Any) -> None:
    made = request_id_from_header(value)
    assert is_valid_request_id(made)
    assert made != "abc-123" or isinstance(value, bytearray)


def test_request_id_from_header_takes_an_ascii_bytearray() -> None:
    assert request_id_from_header(bytearray(b"abc-123")) == "abc-123"


@pytest.mark.parametrize(
    "event", [["login_success"], {"e": 1}, object(), 5, None, "x" * 1_000_000, "\ud800"]
)
def test_audit_record_of_a_value_that_is_no_event_writes_a_line(
    captured: CapturedLines, event: Any
) -> None:
    AuditLogger().record(event, user="alice", success=False)
    (line,) = captured.records()
    assert line["action"] == "error"
    assert isinstance(line["event"], str)
    assert len(line["event"]) <= 103  # a huge value is cut, not written whole


def test_audit_record_of_an_event_value_as_text_is_that_event(captured: CapturedLines) -> None:
    AuditLogger().record("logout", user="alice", success=True)  # type: ignore[arg-type]
    (line,) = captured.records()
    assert (line["event"], line["action"]) == (AuditEvent.LOGOUT.value, "logout")


@pytest.mark.parametrize("labels", [None, 5, math.nan, True, object(), b"side", {"side"}])
@pytest.mark.parametrize("kind", ["counter", "histogram"])
def test_metrics_refuse_labels_that_are_not_a_list_of_names(kind: str, labels: Any) -> None:
    make = getattr(Metrics(), kind)
    with pytest.raises(CNOPValidationException, match="labels: must be a list or tuple"):
        make(f"cnop.test.hostile.{kind}", labels=labels)


@pytest.mark.parametrize(
    "buckets",
    [5, math.nan, True, object(), b"\x01\x02", [math.nan], [0.1, math.inf], [True, 2], [1, None]],
)
def test_metrics_refuse_buckets_that_are_not_finite_increasing_numbers(buckets: Any) -> None:
    with pytest.raises(CNOPValidationException, match="buckets"):
        Metrics().histogram("cnop.test.hostile.buckets", buckets=buckets)


@pytest.mark.parametrize("cls", [Counter, Histogram])
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("labels", None),
        ("labels", 5),
        ("labels", ("bad-label",)),
        ("name", "has space"),
        ("name", None),
        ("unit", 5),
        ("description", None),
    ],
)
def test_instruments_made_directly_check_their_definition(
    cls: type[Counter], field: str, value: Any
) -> None:
    kwargs: dict[str, Any] = {
        "name": "cnop.test.direct",
        "unit": "",
        "description": "",
        "labels": (),
        "otel": None,
    }
    kwargs[field] = value
    with pytest.raises(CNOPValidationException, match=field):
        cls(**kwargs)


def test_a_valid_instrument_made_directly_keeps_its_labels() -> None:
    made = Counter("cnop.test.direct", "", "", ["side"], None)  # type: ignore[arg-type]
    assert made.labels == ("side",)


@pytest.mark.parametrize("success", ["false", "true", 1, math.nan, [True], None])
def test_audit_record_counts_only_true_as_a_success(captured: CapturedLines, success: Any) -> None:
    AuditLogger().record(AuditEvent.LOGIN_FAILURE, user="alice", success=success)
    (line,) = captured.records()
    assert (line["success"], line["outcome"], line["level"]) == (False, "failure", "WARNING")
