"""Sessions: a login's tokens share a ``sid``; rotation keeps the family; reuse, logout and
the absolute lifetime end it; ``on_refresh`` keeps roles and disabled users current."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from cnop.auth import TokenManager, TokenSettings
from cnop.exceptions import (
    CNOPConfigurationException,
    CNOPServiceUnavailableException,
    CNOPTokenExpiredException,
    CNOPTokenInvalidException,
    UserRole,
)

DAY = 24 * 3600


def test_a_login_is_a_session_carried_by_both_tokens(tokens: TokenManager) -> None:
    pair = tokens.create_token_pair("alice_01")
    access = tokens.verify_access_token(pair.access_token)
    refresh = tokens.verify_refresh_token(pair.refresh_token)
    assert access.sid == refresh.sid == pair.session_id
    assert access.auth_time == refresh.auth_time == access.iat
    assert pair.session_expires_at == access.iat + timedelta(days=30)
    assert tokens.create_token_pair("alice_01").session_id != pair.session_id
    assert tokens.verify_access_token(tokens.create_access_token("svc_01").access_token).sid is None


def test_rotation_keeps_the_session_and_its_start(tokens: TokenManager, clock: Any) -> None:
    first = tokens.create_token_pair("alice_01")
    started = tokens.verify_access_token(first.access_token).auth_time
    clock.advance(3600)
    second = tokens.rotate_refresh_token(first.refresh_token)
    claims = tokens.verify_refresh_token(second.refresh_token)
    assert claims.sid == first.session_id
    assert claims.auth_time == started
    assert claims.iat > started
    assert second.session_expires_at == first.session_expires_at


def test_reuse_of_a_rotated_refresh_token_signs_out_thief_and_user(
    tokens: TokenManager, audit_lines: Any
) -> None:
    stolen = tokens.create_token_pair("alice_01")
    victim = tokens.rotate_refresh_token(stolen.refresh_token)  # the user refreshes first
    with pytest.raises(CNOPTokenInvalidException, match="reused"):
        tokens.rotate_refresh_token(stolen.refresh_token)  # the thief replays the copy
    for refused in (victim.access_token, stolen.access_token):
        with pytest.raises(CNOPTokenInvalidException, match="revoked"):
            tokens.verify_access_token(refused)
    with pytest.raises(CNOPTokenInvalidException, match="revoked"):
        tokens.rotate_refresh_token(victim.refresh_token)
    reuse = [r for r in audit_lines.events("token_refused") if r.get("reuse")]
    assert len(reuse) == 1
    assert reuse[0]["user"] == "alice_01"
    assert reuse[0]["sid"] == stolen.session_id
    assert stolen.refresh_token not in audit_lines.text()


def test_reuse_revokes_only_that_session(tokens: TokenManager) -> None:
    phone = tokens.create_token_pair("alice_01")
    laptop = tokens.create_token_pair("alice_01")
    tokens.rotate_refresh_token(phone.refresh_token)
    with pytest.raises(CNOPTokenInvalidException):
        tokens.rotate_refresh_token(phone.refresh_token)
    assert tokens.verify_access_token(laptop.access_token).sub == "alice_01"
    assert tokens.rotate_refresh_token(laptop.refresh_token).session_id == laptop.session_id


def test_rotation_never_extends_the_absolute_session_lifetime(
    make_tokens: Callable[..., TokenManager], clock: Any
) -> None:
    tokens = make_tokens(
        refresh_token_lifetime=timedelta(days=7), session_lifetime=timedelta(days=10)
    )
    pair = tokens.create_token_pair("alice_01")
    end = pair.session_expires_at
    for _ in range(9):
        clock.advance(DAY + 17)
        pair = tokens.rotate_refresh_token(pair.refresh_token)
        assert pair.refresh_expires_at <= end
        assert pair.expires_at <= end
        assert tokens.verify_refresh_token(pair.refresh_token).exp <= end
    assert pair.refresh_expires_at == end  # the last rotations were cut short
    clock.advance(DAY)  # past the end (and the leeway)
    with pytest.raises(CNOPTokenExpiredException):
        tokens.rotate_refresh_token(pair.refresh_token)


def test_a_session_ended_by_its_lifetime_refuses_even_a_long_lived_token(
    make_tokens: Callable[..., TokenManager], clock: Any
) -> None:
    # Tokens are signed with a session start: a lifetime shortened later applies to them.
    long = make_tokens(session_lifetime=timedelta(days=30))
    pair = long.create_token_pair("alice_01")
    short = make_tokens(session_lifetime=timedelta(hours=1))
    clock.advance(2 * 3600)
    with pytest.raises(CNOPTokenExpiredException, match="session has ended"):
        short.verify_refresh_token(pair.refresh_token)


def test_logout_revokes_the_access_and_the_refresh_token(tokens: TokenManager) -> None:
    pair = tokens.create_token_pair("alice_01")
    rotated = tokens.rotate_refresh_token(pair.refresh_token)
    tokens.logout(rotated.access_token)
    with pytest.raises(CNOPTokenInvalidException, match="revoked"):
        tokens.verify_access_token(rotated.access_token)
    with pytest.raises(CNOPTokenInvalidException, match="revoked"):
        tokens.rotate_refresh_token(rotated.refresh_token)
    with pytest.raises(CNOPTokenInvalidException, match="revoked"):
        tokens.verify_access_token(pair.access_token)  # an older access token of the session


def test_logout_with_the_refresh_token_revokes_the_access_token(tokens: TokenManager) -> None:
    pair = tokens.create_token_pair("alice_01")
    assert tokens.logout(pair.refresh_token).sid == pair.session_id
    with pytest.raises(CNOPTokenInvalidException, match="revoked"):
        tokens.verify_access_token(pair.access_token)


def test_logout_is_audited(tokens: TokenManager, audit_lines: Any) -> None:
    pair = tokens.create_token_pair("alice_01")
    tokens.logout(pair.access_token)
    [event] = audit_lines.events("logout")
    assert event["user"] == "alice_01"
    assert event["sid"] == pair.session_id


class Users:
    """What the user service knows now: roles, and who is disabled."""

    def __init__(self) -> None:
        self.roles: dict[str, UserRole | None] = {"alice_01": UserRole.ADMIN}
        self.asked: list[str] = []

    def __call__(self, username: str) -> UserRole | None:
        self.asked.append(username)
        return self.roles.get(username)


def test_a_disabled_user_cannot_refresh(
    make_tokens: Callable[..., TokenManager], clock: Any
) -> None:
    users = Users()
    tokens = TokenManager(make_tokens().settings, on_refresh=users, clock=clock)
    pair = tokens.create_token_pair("alice_01", UserRole.ADMIN)
    users.roles["alice_01"] = None
    with pytest.raises(CNOPTokenInvalidException, match="may no longer refresh"):
        tokens.rotate_refresh_token(pair.refresh_token)
    with pytest.raises(CNOPTokenInvalidException, match="revoked"):
        tokens.verify_access_token(pair.access_token)  # the session is over, too
    assert users.asked == ["alice_01"]


def test_a_demoted_user_gets_the_new_role_on_refresh(
    make_tokens: Callable[..., TokenManager], clock: Any
) -> None:
    users = Users()
    tokens = TokenManager(make_tokens().settings, on_refresh=users, clock=clock)
    pair = tokens.create_token_pair("alice_01", UserRole.ADMIN)
    users.roles["alice_01"] = UserRole.CUSTOMER
    fresh = tokens.rotate_refresh_token(pair.refresh_token)
    assert tokens.verify_access_token(fresh.access_token).role is UserRole.CUSTOMER
    assert tokens.verify_refresh_token(fresh.refresh_token).role is UserRole.CUSTOMER


def test_a_failing_hook_spends_nothing_so_the_client_can_retry(
    make_tokens: Callable[..., TokenManager], clock: Any
) -> None:
    down = [True]

    def hook(username: str) -> UserRole:
        if down[0]:
            raise CNOPServiceUnavailableException("user store down")
        return UserRole.CUSTOMER

    tokens = TokenManager(make_tokens().settings, on_refresh=hook, clock=clock)
    pair = tokens.create_token_pair("alice_01")
    with pytest.raises(CNOPServiceUnavailableException):
        tokens.rotate_refresh_token(pair.refresh_token)
    down[0] = False
    assert tokens.rotate_refresh_token(pair.refresh_token).session_id == pair.session_id


@pytest.mark.parametrize("answer", ["root", 7, "", "admin\n"])
def test_a_hook_returning_no_role_is_a_configuration_error(
    make_tokens: Callable[..., TokenManager], clock: Any, answer: Any
) -> None:
    tokens = TokenManager(make_tokens().settings, on_refresh=lambda _: answer, clock=clock)
    pair = tokens.create_token_pair("alice_01")
    with pytest.raises(CNOPConfigurationException, match="on_refresh"):
        tokens.rotate_refresh_token(pair.refresh_token)


def test_an_async_hook_needs_the_async_rotation(
    make_tokens: Callable[..., TokenManager], clock: Any
) -> None:
    async def hook(username: str) -> UserRole:
        return UserRole.CUSTOMER

    tokens = TokenManager(make_tokens().settings, on_refresh=hook, clock=clock)
    pair = tokens.create_token_pair("alice_01", UserRole.ADMIN)
    with pytest.raises(CNOPConfigurationException, match="rotate_refresh_token_async"):
        tokens.rotate_refresh_token(pair.refresh_token)
    fresh = asyncio.run(tokens.rotate_refresh_token_async(pair.refresh_token))
    assert asyncio.run(tokens.verify_access_token_async(fresh.access_token)).role.value == (
        "customer"
    )


def test_async_paths_follow_the_same_rules(tokens: TokenManager) -> None:
    async def scenario() -> None:
        stolen = tokens.create_token_pair("alice_01")
        await tokens.rotate_refresh_token_async(stolen.refresh_token)
        with pytest.raises(CNOPTokenInvalidException, match="reused"):
            await tokens.rotate_refresh_token_async(stolen.refresh_token)
        other = tokens.create_token_pair("alice_01")
        await tokens.logout_async(other.refresh_token)
        with pytest.raises(CNOPTokenInvalidException, match="revoked"):
            await tokens.verify_access_token_async(other.access_token)

    asyncio.run(scenario())


def test_session_lifetime_setting(secret: str) -> None:
    settings = TokenSettings.from_env({"JWT_SECRET_KEY": secret, "JWT_SESSION_LIFETIME_DAYS": "2"})
    assert settings.session_lifetime == timedelta(days=2)
    assert TokenSettings.from_env({"JWT_SECRET_KEY": secret}).session_lifetime == timedelta(days=30)
    for bad in ("\u0661\u0660", "\uff11\uff10", "1_0", "0", "-1", "9" * 5000, " 2\n2"):
        with pytest.raises(CNOPConfigurationException, match="JWT_SESSION_LIFETIME_DAYS"):
            TokenSettings.from_env({"JWT_SECRET_KEY": secret, "JWT_SESSION_LIFETIME_DAYS": bad})
