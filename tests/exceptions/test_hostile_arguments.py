"""Building an exception or a problem document from values of the wrong type or shape.

An exception is usually built while another error is being handled: building it must
never raise, or the error it reports is replaced by an unrelated one.
"""

from __future__ import annotations

import json
import math
import pickle
from typing import Any

import pytest

import cnop.exceptions as ex
from cnop.exceptions import (
    CNOPConfigurationException,
    CNOPException,
    CNOPValidationException,
    aws_region,
    dynamodb_endpoint_url,
    find_aws_region,
    to_problem,
)


class _Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    def __str__(self) -> str:
        raise RuntimeError("no str")


class _BrokenMapping(dict[str, Any]):
    def items(self) -> Any:
        raise RuntimeError("cannot iterate")


@pytest.mark.parametrize(
    ("details", "stored"),
    [
        ("x", {"value": "x"}),
        ("line\n", {"value": "line\n"}),
        ("", {"value": ""}),
        ("\ud800", {"value": "\ud800"}),
        (5, {"value": 5}),
        (True, {"value": True}),
        (b"raw", {"value": "b'raw'"}),
        (["a", "b"], {"value": "['a', 'b']"}),
        (("k", "v"), {"value": "('k', 'v')"}),
        ({1: "one", None: 2}, {"1": "one", "None": 2}),
        ({}, {}),
        (None, {}),
    ],
)
def test_details_that_are_not_a_mapping_of_text_are_kept_not_refused(
    details: Any, stored: dict[str, Any]
) -> None:
    exc = ex.CNOPUserNotFoundException("User 'alice' not found", details=details)
    assert exc.details == stored
    assert exc.message == "User 'alice' not found"
    copy = pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes
    assert copy.details == stored


def test_details_of_every_class_accept_any_value() -> None:
    classes = [
        obj for obj in vars(ex).values() if isinstance(obj, type) and issubclass(obj, CNOPException)
    ]
    assert len(classes) >= 40
    for cls in classes:
        for value in ("x", 5, math.nan, b"x", ["x"], object()):
            assert set(cls(details=value).details) == {"value"}, cls.__name__


def test_values_whose_repr_or_iteration_fails_still_give_an_exception() -> None:
    assert CNOPException(details=_Unprintable()).details == {"value": "<_Unprintable>"}
    broken = CNOPException(details=_BrokenMapping(a=1))
    assert broken.details == {"value": "{'a': 1}"}
    assert CNOPException(details={_Unprintable(): 1}).details == {"<_Unprintable>": 1}


@pytest.mark.parametrize(
    ("message", "shown"),
    [(5, "5"), (b"x", "b'x'"), (["a"], "['a']"), (_Unprintable(), "<_Unprintable>")],
)
def test_a_message_that_is_not_text_becomes_text(message: Any, shown: str) -> None:
    exc = CNOPValidationException(message)
    assert exc.message == shown
    assert str(exc) == shown
    assert shown in repr(exc)


@pytest.mark.parametrize("retryable", ["no", 0, 1, math.nan, [], "true"])
def test_retryable_other_than_a_bool_keeps_the_class_default(retryable: Any) -> None:
    assert ex.CNOPVersionConflictException(retryable=retryable).retryable is True
    assert ex.CNOPUserNotFoundException(retryable=retryable).retryable is False


def test_a_problem_document_of_coerced_details_is_json() -> None:
    exc = ex.CNOPEntityAlreadyExistsException("taken", details={1: b"x", "k": object()})
    doc = to_problem(exc)
    assert doc["1"] == b"x"  # a caller's own value stays theirs, under a text key
    weird = to_problem(ex.CNOPEntityAlreadyExistsException("taken", details=[b"x"]))
    assert json.loads(json.dumps(weird))["value"] == "[b'x']"


def test_to_problem_type_base_none_means_the_default() -> None:
    doc = to_problem(ex.CNOPUserNotFoundException(), type_base=None)
    assert doc["type"] == "urn:cnop:problem:user-not-found"


@pytest.mark.parametrize("type_base", [5, b"urn:", ["urn:"], object(), math.nan])
def test_to_problem_refuses_a_type_base_that_is_not_text(type_base: Any) -> None:
    with pytest.raises(CNOPValidationException, match="type_base: must be text"):
        to_problem(ex.CNOPUserNotFoundException(), type_base=type_base)


def test_to_problem_renders_request_id_and_instance_as_text() -> None:
    doc = to_problem(ex.CNOPUserNotFoundException(), request_id=7, instance=b"/u")  # type: ignore[arg-type]
    assert doc["request_id"] == "7"
    assert doc["instance"] == "b'/u'"
    json.dumps(doc)


@pytest.mark.parametrize("env", [5, 1.5, math.nan, True, b"AWS_REGION", ["AWS_REGION"], object()])
@pytest.mark.parametrize("resolve", [aws_region, find_aws_region, dynamodb_endpoint_url])
def test_an_env_that_is_not_a_mapping_is_a_configuration_error(env: Any, resolve: Any) -> None:
    with pytest.raises(CNOPConfigurationException, match="env must be a mapping") as caught:
        resolve(env)
    assert caught.value.details == {"variable": "env"}
    with pytest.raises(CNOPConfigurationException, match="env must be a mapping"):
        resolve(env, "us-east-1" if resolve is not dynamodb_endpoint_url else "http://h:1")


def test_a_message_of_a_str_subclass_with_a_broken_str_is_kept_as_text() -> None:
    class Text(str):
        def __str__(self) -> str:
            raise RuntimeError("no str")

    exc = CNOPException(Text("boom"))
    assert exc.message == "boom"
    assert type(exc.message) is str
