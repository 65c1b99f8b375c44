"""Gateway headers: parsing into a UserContext and the HMAC signature that proves their origin."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from cnop.auth import (
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    GatewaySigner,
    UserContext,
)
from cnop.exceptions import (
    CNOPAuthenticationException,
    CNOPConfigurationException,
    CNOPValidationException,
    UserRole,
)

REQ: dict[str, Any] = {"method": "GET", "target": "/orders?limit=10"}
ALICE = {
    "X-Request-ID": "req-123",
    "X-User-ID": "alice_01",
    "X-User-Role": "admin",
    "X-Authenticated": "true",
    "X-Source": "api-gateway",
    "X-Auth-Service": "auth-service",
}


@pytest.fixture
def signer(secret: str, clock: Any) -> GatewaySigner:
    return GatewaySigner(secret, clock=clock)


# -- parsing ------------------------------------------------------------------------------


def test_headers_in_any_case_become_a_context() -> None:
    mixed = {k.lower() if i % 2 else k.upper(): v for i, (k, v) in enumerate(ALICE.items())}
    context = UserContext.from_headers(mixed)
    assert context == UserContext(
        authenticated=True,
        user_id="alice_01",
        role=UserRole.ADMIN,
        request_id="req-123",
        source="api-gateway",
        auth_service="auth-service",
    )
    assert context.has_role(UserRole.CUSTOMER)  # admin implies customer
    assert context.has_role("admin")


def test_anonymous_request_has_no_user() -> None:
    context = UserContext.from_headers({"X-Authenticated": "false", "X-Request-ID": "r1"})
    assert not context.authenticated
    assert context.user_id is None
    assert not context.has_role(UserRole.CUSTOMER)
    assert UserContext.from_headers({}) == UserContext()


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"X-User-ID": "a"}, "X-User-ID", "6-30 characters"),
        ({"X-User-ID": "alice'; DROP"}, "X-User-ID", "letters, digits and underscores"),
        ({"X-User-Role": "root"}, "X-User-Role", "must be one of"),
        ({"X-Authenticated": "yes"}, "X-Authenticated", "'true' or 'false'"),
        ({"X-Request-ID": "has space"}, "X-Request-ID", "letters, digits"),
        ({"X-Request-ID": "r" * 129}, "X-Request-ID", "1-128"),
        ({"X-Source": "bad\nsource"}, "X-Source", "letters, digits"),
        ({"X-Auth-Service": ""}, "X-Auth-Service", "1-64"),
        ({"X-User-ID": None}, "X-Authenticated", "missing"),
        ({"X-Authenticated": "false"}, "X-Authenticated", "is not true"),
    ],
)
def test_each_bad_header_is_named(changes: dict[str, Any], field: str, fragment: str) -> None:
    headers = {k: v for k, v in {**ALICE, **changes}.items() if v is not None}
    with pytest.raises(CNOPValidationException) as caught:
        UserContext.from_headers(headers)
    assert any(e["field"] == field and fragment in e["message"] for e in caught.value.errors)


def test_several_bad_headers_are_listed_together() -> None:
    with pytest.raises(CNOPValidationException) as caught:
        UserContext.from_headers({**ALICE, "X-User-Role": "root", "X-Request-ID": "a b"})
    assert {e["field"] for e in caught.value.errors} == {"X-User-Role", "X-Request-ID"}


# -- signatures ---------------------------------------------------------------------------


def test_correctly_signed_headers_yield_the_context(signer: GatewaySigner) -> None:
    sent = signer.sign(ALICE, **REQ)
    assert set(sent) == {*ALICE, SIGNATURE_HEADER, TIMESTAMP_HEADER, NONCE_HEADER}
    # Services may see the headers in another letter case (HTTP/2 lower-cases them).
    received = {k.lower(): v for k, v in sent.items()}
    context = signer.authenticate(received, **REQ)
    assert context.user_id == "alice_01"
    assert context.role is UserRole.ADMIN


def test_missing_signature_is_refused(signer: GatewaySigner) -> None:
    with pytest.raises(CNOPAuthenticationException, match="missing signature"):
        signer.authenticate(ALICE, **REQ)
    sent = signer.sign(ALICE, **REQ)
    del sent[TIMESTAMP_HEADER]
    with pytest.raises(CNOPAuthenticationException, match="missing timestamp"):
        signer.authenticate(sent, **REQ)


def test_forged_signature_is_refused(signer: GatewaySigner, clock: Any) -> None:
    forger = GatewaySigner("an-attackers-own-key-" + "Zq81xP0w" * 4, clock=clock)
    with pytest.raises(CNOPAuthenticationException, match="bad signature"):
        signer.authenticate(forger.sign(ALICE, **REQ), **REQ)
    for garbage in ("", "00" * 32, "zz" * 32, "é" * 64, "A" * 64):
        with pytest.raises(CNOPAuthenticationException, match="bad signature"):
            signer.authenticate({**signer.sign(ALICE, **REQ), SIGNATURE_HEADER: garbage}, **REQ)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-User-ID", "mallory_9"),
        ("X-User-Role", "customer"),
        ("X-Authenticated", "false"),
        ("X-Request-ID", "req-999"),
        ("X-Source", "direct"),
        ("X-Auth-Service", "evil-auth"),
    ],
)
def test_tampering_with_any_signed_header_is_refused(
    signer: GatewaySigner, header: str, value: str
) -> None:
    sent = signer.sign(ALICE, **REQ)
    with pytest.raises(CNOPAuthenticationException, match="bad signature"):
        signer.authenticate({**sent, header: value}, **REQ)


def test_removing_or_adding_a_header_is_refused(signer: GatewaySigner) -> None:
    sent = signer.sign(ALICE, **REQ)
    without_source = {k: v for k, v in sent.items() if k != "X-Source"}
    with pytest.raises(CNOPAuthenticationException, match="bad signature"):
        signer.authenticate(without_source, **REQ)
    partial = signer.sign({"X-Authenticated": "false"}, **REQ)
    with pytest.raises(CNOPAuthenticationException, match="bad signature"):
        signer.authenticate({**partial, "X-User-ID": "alice_01", "X-User-Role": "admin"}, **REQ)


def test_tampered_timestamp_is_refused(signer: GatewaySigner) -> None:
    sent = signer.sign(ALICE, **REQ)
    later = str(int(sent[TIMESTAMP_HEADER]) + 1)
    with pytest.raises(CNOPAuthenticationException, match="bad signature"):
        signer.authenticate({**sent, TIMESTAMP_HEADER: later}, **REQ)


def test_replay_after_the_skew_window_is_refused(signer: GatewaySigner, clock: Any) -> None:
    sent = signer.sign(ALICE, **REQ)
    clock.advance(60)
    assert signer.authenticate(sent, **REQ).user_id == "alice_01"
    clock.advance(1)
    with pytest.raises(CNOPAuthenticationException, match="clock skew"):
        signer.authenticate(sent, **REQ)


def test_timestamp_from_the_future_is_refused(signer: GatewaySigner, clock: Any) -> None:
    future = signer.sign(ALICE, timestamp=int(clock()) + 3600, **REQ)
    with pytest.raises(CNOPAuthenticationException, match="clock skew"):
        signer.authenticate(future, **REQ)


@pytest.mark.parametrize("stamp", ["", "-5", "1.5", "12abc", "9" * 40])
def test_malformed_timestamp_is_refused(signer: GatewaySigner, stamp: str) -> None:
    with pytest.raises(CNOPAuthenticationException, match="malformed timestamp"):
        signer.authenticate({**signer.sign(ALICE, **REQ), TIMESTAMP_HEADER: stamp}, **REQ)


def test_signing_refuses_headers_services_would_refuse(signer: GatewaySigner) -> None:
    with pytest.raises(CNOPValidationException):
        signer.sign({**ALICE, "X-User-Role": "root"}, **REQ)


def test_only_context_headers_are_signed_and_sent(signer: GatewaySigner) -> None:
    sent = signer.sign({**ALICE, "Cookie": "session=abc"}, **REQ)
    assert "Cookie" not in sent
    assert signer.authenticate({**sent, "Cookie": "anything"}, **REQ).user_id == "alice_01"


def test_secret_comes_from_the_environment_and_must_be_strong(secret: str) -> None:
    assert GatewaySigner.from_env({"GATEWAY_SIGNING_SECRET": secret})
    for env, fragment in (
        ({}, "is not set"),
        ({"GATEWAY_SIGNING_SECRET": "short"}, "is too short"),
    ):
        with pytest.raises(CNOPConfigurationException, match=f"GATEWAY_SIGNING_SECRET {fragment}"):
            GatewaySigner.from_env(env)
    with pytest.raises(CNOPConfigurationException, match="max_skew"):
        GatewaySigner(secret, max_skew=timedelta(hours=1))


def test_many_threads_verify_concurrently(signer: GatewaySigner) -> None:
    failures: list[BaseException] = []
    signed = [signer.sign({**ALICE, "X-Request-ID": f"req-{i}"}, **REQ) for i in range(40)]

    def check(headers: dict[str, str], tamper: bool) -> None:
        try:
            if tamper:
                with pytest.raises(CNOPAuthenticationException):
                    signer.authenticate({**headers, "X-User-Role": "customer"}, **REQ)
            else:
                assert signer.authenticate(headers, **REQ).request_id == headers["X-Request-ID"]
        except BaseException as exc:  # asserted empty below
            failures.append(exc)

    threads = [threading.Thread(target=check, args=(h, i % 2 == 0)) for i, h in enumerate(signed)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


@pytest.mark.parametrize("stamp", [-1, "123", 1.5, True])
def test_signing_refuses_a_bad_timestamp(signer: GatewaySigner, stamp: Any) -> None:
    with pytest.raises(CNOPValidationException, match="timestamp"):
        signer.sign(ALICE, timestamp=stamp, **REQ)


def test_a_header_given_twice_in_two_cases_is_refused(signer: GatewaySigner) -> None:
    twice = {**ALICE, "x-user-role": "customer"}
    with pytest.raises(CNOPValidationException, match="appears more than once"):
        UserContext.from_headers(twice)
    sent = signer.sign(ALICE, **REQ)
    with pytest.raises(CNOPAuthenticationException, match="more than once"):
        signer.authenticate({**sent, "x-user-role": "customer"}, **REQ)


@pytest.mark.parametrize("bad", [None, "X-User-ID: alice_01", [("X-User-ID", "alice_01")]])
def test_headers_that_are_not_a_mapping_are_refused(signer: GatewaySigner, bad: Any) -> None:
    with pytest.raises(CNOPValidationException, match="headers: must be a mapping"):
        UserContext.from_headers(bad)
    with pytest.raises(CNOPAuthenticationException):
        signer.authenticate(bad, **REQ)
