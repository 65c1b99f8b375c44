"""Security events reach the audit log, with no secret in them."""

from __future__ import annotations

from typing import Any

import pytest

from cnop.auth import GatewaySigner, PasswordManager, TokenManager, UserContext, require_role
from cnop.exceptions import CNOPException, UserRole

PASSWORD = "Correct-Horse-9x"


def test_login_success_and_failure_are_audited_without_the_password(
    audit_lines: Any, fast_passwords: PasswordManager
) -> None:
    stored = fast_passwords.hash_password(PASSWORD)
    fast_passwords.authenticate("alice_01", PASSWORD, stored)
    with pytest.raises(CNOPException):
        fast_passwords.authenticate("alice_01", "Wrong-Guess-1!", stored)
    with pytest.raises(CNOPException):
        fast_passwords.authenticate("ghost_01", "Other-Guess-2!", None)
    success = audit_lines.events("login_success")
    failures = audit_lines.events("login_failure")
    assert [r["user"] for r in success] == ["alice_01"]
    assert [(r["user"], r["reason"]) for r in failures] == [
        ("alice_01", "invalid password"),
        ("ghost_01", "unknown user"),
    ]
    text = audit_lines.text()
    for secret in (PASSWORD, "Wrong-Guess-1!", "Other-Guess-2!", stored, stored[7:]):
        assert secret not in text


def test_refused_tokens_are_audited_without_the_token(
    audit_lines: Any, tokens: TokenManager, secret: str
) -> None:
    pair = tokens.create_token_pair("alice_01")
    with pytest.raises(CNOPException):
        tokens.verify_access_token(pair.refresh_token)
    with pytest.raises(CNOPException):
        tokens.verify_access_token("not-a-token")
    tokens.rotate_refresh_token(pair.refresh_token)
    with pytest.raises(CNOPException):
        tokens.rotate_refresh_token(pair.refresh_token)
    refused = audit_lines.events("token_refused")
    reasons = [r["reason"] for r in refused]
    assert reasons[:2] == ["wrong token type (expected access)", "not three dot-separated segments"]
    # The replayed refresh token: a reuse, which revokes its session.
    assert reasons[2] == "refresh token reused; session revoked"
    assert refused[2]["reuse"] is True
    assert refused[2]["user"] == "alice_01"
    assert all(r["success"] is False for r in refused)
    text = audit_lines.text()
    for value in (pair.access_token, pair.refresh_token, secret, pair.refresh_token.split(".")[2]):
        assert value not in text


def test_access_denied_is_audited(audit_lines: Any, secret: str) -> None:
    customer = UserContext(authenticated=True, user_id="alice_01", role=UserRole.CUSTOMER)
    with pytest.raises(CNOPException):
        require_role(customer, UserRole.ADMIN)
    signer = GatewaySigner(secret)
    signed = signer.sign({"X-Authenticated": "false"}, method="GET", target="/me")
    with pytest.raises(CNOPException):
        signer.authenticate({**signed, "X-User-ID": "alice_01"}, method="GET", target="/me")
    denied = audit_lines.events("access_denied")
    assert denied[0]["user"] == "alice_01"
    assert denied[0]["reason"] == "missing role"
    assert denied[0]["required_role"] == "admin"
    assert denied[1]["reason"] == "gateway signature refused: bad signature"
    text = audit_lines.text()
    assert secret not in text
    assert signed["X-Gateway-Signature"] not in text
