from __future__ import annotations

import json

import pytest

import cnop.exceptions as ex
from cnop.exceptions import PROBLEM_CONTENT_TYPE, to_problem


def test_client_problem_shows_message_and_details() -> None:
    exc = ex.CNOPValidationException.for_field("username", "must be 6-30 characters")
    doc = to_problem(exc, request_id="req-1", instance="/users")
    assert doc["type"] == "urn:cnop:problem:validation-error"
    assert doc["status"] == 422
    assert doc["title"] == ex.CNOPValidationException.default_message
    assert doc["detail"] == "username: must be 6-30 characters"
    assert doc["code"] == "VALIDATION_ERROR"
    assert doc["errors"] == [{"field": "username", "message": "must be 6-30 characters"}]
    assert doc["instance"] == "/users"
    assert doc["request_id"] == "req-1"
    assert doc["retryable"] is False
    json.dumps(doc)  # serialisable as application/problem+json
    assert PROBLEM_CONTENT_TYPE == "application/problem+json"


def test_details_cannot_override_standard_members() -> None:
    exc = ex.CNOPEntityAlreadyExistsException("taken", details={"status": 200, "field": "email"})
    doc = to_problem(exc)
    assert doc["status"] == 409
    assert doc["field"] == "email"


@pytest.mark.parametrize(
    "exc",
    [
        ex.CNOPDatabaseOperationException(
            "PutItem on users failed: secret=hunter2",
            details={"password": "hunter2", "table": "users"},
        ),
        ex.CNOPConfigurationException("JWT_SECRET_KEY=hunter2 is too short"),
        ex.CNOPLockLostException("lock user:alice lost", details={"token": "hunter2"}),
        RuntimeError("hunter2 in a stack trace"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_internal_problem_leaks_nothing(exc: BaseException) -> None:
    doc = to_problem(exc, request_id="req-9")
    assert doc["status"] >= 500
    text = json.dumps(doc)
    assert "hunter2" not in text
    assert "users" not in text
    assert doc["request_id"] == "req-9"
    assert "request id" in doc["detail"]


def test_unknown_exception_is_a_generic_500() -> None:
    doc = to_problem(ValueError("x"))
    assert doc["status"] == 500
    assert doc["code"] == "INTERNAL_ERROR"
    assert doc["title"] == "Internal Server Error"


def test_retryable_service_unavailable_says_so() -> None:
    doc = to_problem(ex.CNOPDatabaseConnectionException("connect to 10.0.0.1 failed"))
    assert doc["status"] == 503
    assert doc["retryable"] is True
    assert "10.0.0.1" not in json.dumps(doc)
