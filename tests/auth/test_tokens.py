"""TokenManager: issuing, typed claims, lifetimes, refresh rotation, revocation, key rotation."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from jose import jwt

from cnop.auth import (
    InMemoryRevocationList,
    JWTKey,
    KeySet,
    RevocationList,
    TokenManager,
    TokenSettings,
    TokenType,
)
from cnop.exceptions import (
    CNOPConfigurationException,
    CNOPTokenExpiredException,
    CNOPTokenInvalidException,
    CNOPValidationException,
    UserRole,
)

# The tests' clock runs ahead of the real one; python-jose reads the real one.
_NO_TIME_CHECKS = {"verify_exp": False, "verify_nbf": False, "verify_iat": False}


def test_access_token_response_matches_the_token(tokens: TokenManager, secret: str) -> None:
    issued = tokens.create_access_token("alice_01")
    assert issued.token_type == "bearer"
    assert issued.expires_in == 30 * 60
    claims = tokens.verify_access_token(issued.access_token)
    assert claims.exp == issued.expires_at
    assert (claims.exp - claims.iat).total_seconds() == issued.expires_in
    assert claims.sub == claims.username == "alice_01"
    assert claims.role is UserRole.CUSTOMER
    assert claims.type is TokenType.ACCESS
    assert claims.iss == "cnop-auth"
    assert claims.aud == "cnop"
    assert claims.iat.tzinfo is timezone.utc
    assert claims.nbf == claims.iat
    assert len(claims.jti) >= 16
    # A standard JWT: python-jose alone reads it with the same secret and checks.
    decoded = jwt.decode(
        issued.access_token,
        secret,
        algorithms=["HS256"],
        audience="cnop",
        issuer="cnop-auth",
        options=_NO_TIME_CHECKS,
    )
    assert decoded["sub"] == "alice_01"


def test_expires_delta_sets_the_real_lifetime(tokens: TokenManager) -> None:
    issued = tokens.create_access_token(
        "alice_01", role="admin", expires_delta=timedelta(minutes=5)
    )
    claims = tokens.verify_access_token(issued.access_token)
    assert issued.expires_in == 300
    assert (claims.exp - claims.iat) == timedelta(minutes=5)
    assert claims.role is UserRole.ADMIN


def test_each_token_has_a_unique_jti(tokens: TokenManager) -> None:
    jtis = {
        tokens.verify_access_token(tokens.create_access_token("alice_01").access_token).jti
        for _ in range(50)
    }
    assert len(jtis) == 50


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"username": "ab"}, "username"),
        ({"username": "alice smith"}, "username"),
        ({"username": None}, "username"),
        ({"role": "superuser"}, "role"),
        ({"expires_delta": timedelta(0)}, "expires_delta"),
        ({"expires_delta": timedelta(seconds=-5)}, "expires_delta"),
        ({"expires_delta": timedelta(days=400)}, "expires_delta"),
        ({"expires_delta": 300}, "expires_delta"),
    ],
)
def test_bad_input_to_create_is_a_field_error(
    tokens: TokenManager, kwargs: dict[str, Any], field: str
) -> None:
    args: dict[str, Any] = {"username": "alice_01", **kwargs}
    with pytest.raises(CNOPValidationException) as caught:
        tokens.create_access_token(**args)
    assert caught.value.errors[0]["field"] == field


def test_expiry_honours_leeway_then_expires(tokens: TokenManager, clock: Any) -> None:
    issued = tokens.create_access_token("alice_01", expires_delta=timedelta(seconds=60))
    clock.advance(60 + 29)
    tokens.verify_access_token(issued.access_token)
    clock.advance(2)
    with pytest.raises(CNOPTokenExpiredException):
        tokens.verify_access_token(issued.access_token)


def test_pair_types_cannot_be_swapped(tokens: TokenManager) -> None:
    pair = tokens.create_token_pair("alice_01", UserRole.ADMIN)
    assert tokens.verify_refresh_token(pair.refresh_token).type is TokenType.REFRESH
    assert pair.refresh_expires_in == 7 * 24 * 3600
    with pytest.raises(CNOPTokenInvalidException, match="wrong token type"):
        tokens.verify_access_token(pair.refresh_token)
    with pytest.raises(CNOPTokenInvalidException, match="wrong token type"):
        tokens.verify_refresh_token(pair.access_token)
    with pytest.raises(CNOPTokenInvalidException):
        tokens.rotate_refresh_token(pair.access_token)


def test_rotation_issues_a_new_pair_and_retires_the_old_refresh_token(
    tokens: TokenManager,
) -> None:
    first = tokens.create_token_pair("alice_01", UserRole.ADMIN)
    second = tokens.rotate_refresh_token(first.refresh_token)
    assert tokens.verify_access_token(second.access_token).role is UserRole.ADMIN
    third = tokens.rotate_refresh_token(second.refresh_token)
    assert tokens.verify_refresh_token(third.refresh_token).sub == "alice_01"
    assert third.session_id == second.session_id == first.session_id
    # A spent refresh token presented again revokes the whole family (RFC 9700 §4.14).
    with pytest.raises(CNOPTokenInvalidException, match="revoked"):
        tokens.rotate_refresh_token(first.refresh_token)
    with pytest.raises(CNOPTokenInvalidException, match="revoked"):
        tokens.rotate_refresh_token(third.refresh_token)


def test_concurrent_rotation_of_one_refresh_token_succeeds_exactly_once(
    tokens: TokenManager,
) -> None:
    refresh = tokens.create_token_pair("alice_01").refresh_token
    winners: list[str] = []
    refused: list[Exception] = []
    unexpected: list[BaseException] = []
    start = threading.Barrier(16)

    def attempt() -> None:
        start.wait()
        try:
            winners.append(tokens.rotate_refresh_token(refresh).refresh_token)
        except CNOPTokenInvalidException as exc:
            refused.append(exc)
        except BaseException as exc:  # asserted empty below
            unexpected.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert unexpected == []
    assert len(winners) == 1
    assert len(refused) == 15


def test_revoked_access_token_is_refused(tokens: TokenManager) -> None:
    issued = tokens.create_access_token("alice_01")
    other = tokens.create_access_token("alice_01")
    claims = tokens.revoke_token(issued.access_token)
    assert claims.sub == "alice_01"
    with pytest.raises(CNOPTokenInvalidException, match="revoked"):
        tokens.verify_access_token(issued.access_token)
    tokens.verify_access_token(other.access_token)


def test_revocation_list_is_pluggable(make_tokens: Callable[..., TokenManager], clock: Any) -> None:
    class DenyAll:
        def is_revoked(self, jti: str) -> bool:
            return True

        def revoke(self, jti: str, expires_at: datetime) -> bool:
            return False

    assert isinstance(DenyAll(), RevocationList)
    issuer = make_tokens()
    denying = TokenManager(issuer.settings, revocation=DenyAll(), clock=clock)
    with pytest.raises(CNOPTokenInvalidException, match="revoked"):
        denying.verify_access_token(issuer.create_access_token("alice_01").access_token)


def test_in_memory_revocation_forgets_expired_entries(clock: Any) -> None:
    revoked = InMemoryRevocationList(clock)
    soon = datetime.fromtimestamp(clock() + 10, tz=timezone.utc)
    assert revoked.revoke("a", soon)
    assert not revoked.revoke("a", soon)
    assert revoked.is_revoked("a")
    clock.advance(120)
    assert revoked.revoke("b", soon)
    assert not revoked.is_revoked("a")
    assert len(revoked) == 1


def _rsa_key(pems: list[tuple[str, str]], index: int, kid: str, *, public: bool = False) -> JWTKey:
    return JWTKey.from_pem(pems[index][1 if public else 0], algorithm="RS256", kid=kid)


@pytest.mark.parametrize(("algorithm", "fixture"), [("RS256", "rsa_pems"), ("ES256", "ec_pems")])
def test_asymmetric_key_rotation_old_keys_verify_current_key_signs(
    request: pytest.FixtureRequest, clock: Any, algorithm: str, fixture: str
) -> None:
    pems: list[tuple[str, str]] = request.getfixturevalue(fixture)
    old_key = JWTKey.from_pem(pems[0][0], algorithm=algorithm, kid="2026-05")
    new_key = JWTKey.from_pem(pems[1][0], algorithm=algorithm, kid="2026-11")
    old_public = JWTKey.from_pem(pems[0][1], algorithm=algorithm, kid="2026-05")
    before = TokenManager(TokenSettings(keys=KeySet(old_key)), clock=clock)
    after = TokenManager(TokenSettings(keys=KeySet(new_key, [old_public])), clock=clock)
    old_token = before.create_access_token("alice_01").access_token
    new_token = after.create_access_token("alice_01").access_token
    assert jwt.get_unverified_header(new_token) == {
        "alg": algorithm,
        "kid": "2026-11",
        "typ": "JWT",
    }
    assert after.verify_access_token(old_token).sub == "alice_01"
    assert after.verify_access_token(new_token).sub == "alice_01"
    with pytest.raises(CNOPTokenInvalidException, match="unknown key id"):
        before.verify_access_token(new_token)
    # Once the old key is dropped, its tokens stop verifying.
    dropped = TokenManager(TokenSettings(keys=KeySet(new_key)), clock=clock)
    with pytest.raises(CNOPTokenInvalidException, match="unknown key id"):
        dropped.verify_access_token(old_token)

    jwks = after.jwks()
    assert [k["kid"] for k in jwks["keys"]] == ["2026-11", "2026-05"]
    assert all(k["alg"] == algorithm and k["use"] == "sig" for k in jwks["keys"])
    assert not any("d" in k for k in jwks["keys"])  # no private parts
    # The JWKS alone lets another service verify with python-jose.
    decoded = jwt.decode(
        new_token, jwks, algorithms=[algorithm], audience="cnop", options=_NO_TIME_CHECKS
    )
    assert decoded["sub"] == "alice_01"


def test_a_public_key_cannot_sign(rsa_pems: list[tuple[str, str]]) -> None:
    with pytest.raises(CNOPConfigurationException, match="private key is needed"):
        KeySet(_rsa_key(rsa_pems, 0, "k1", public=True))


def test_duplicate_kids_are_refused(rsa_pems: list[tuple[str, str]]) -> None:
    with pytest.raises(CNOPConfigurationException, match="share the kid"):
        KeySet(_rsa_key(rsa_pems, 0, "same"), [_rsa_key(rsa_pems, 1, "same", public=True)])


def test_hmac_keys_have_no_jwks(tokens: TokenManager) -> None:
    assert tokens.jwks() == {"keys": []}
    with pytest.raises(CNOPConfigurationException):
        tokens.settings.keys.signing_key.public_jwk()


# -- configuration from the environment ----------------------------------------------------


def test_a_lifetime_past_what_a_token_can_carry_is_refused_at_start(
    tokens: TokenManager,
) -> None:
    # Issuing would otherwise fail on every login (an expiry past the year 9999).
    with pytest.raises(CNOPConfigurationException, match="refresh_token_lifetime"):
        TokenSettings(keys=tokens.settings.keys, refresh_token_lifetime=timedelta(days=5_000_000))


@pytest.mark.parametrize(
    ("env", "variable", "fragment"),
    [
        ({}, "JWT_SECRET_KEY", "is not set"),
        ({"JWT_SECRET_KEY": ""}, "JWT_SECRET_KEY", "is not set"),
        ({"JWT_SECRET_KEY": "s3cr3t-but-short"}, "JWT_SECRET_KEY", "too short"),
        (
            {"JWT_SECRET_KEY": "your-secret-key-change-in-production-0123456789"},
            "JWT_SECRET_KEY",
            "placeholder",
        ),
        ({"JWT_SECRET_KEY": "a" * 64}, "JWT_SECRET_KEY", "distinct characters"),
        ({"JWT_ALGORITHM": "none"}, "JWT_ALGORITHM", "must be one of"),
        ({"JWT_ALGORITHM": "HS1"}, "JWT_ALGORITHM", "must be one of"),
        (
            {"JWT_ACCESS_TOKEN_EXPIRE_MINUTES": "soon"},
            "JWT_ACCESS_TOKEN_EXPIRE_MINUTES",
            "positive",
        ),
        ({"JWT_ACCESS_TOKEN_EXPIRE_MINUTES": "0"}, "JWT_ACCESS_TOKEN_EXPIRE_MINUTES", "positive"),
        (
            {"JWT_ACCESS_TOKEN_EXPIRE_MINUTES": "10000000000000"},
            "JWT_ACCESS_TOKEN_EXPIRE_MINUTES",
            "at most",
        ),
        ({"JWT_REFRESH_TOKEN_EXPIRE_DAYS": "5000000"}, "JWT_REFRESH_TOKEN_EXPIRE_DAYS", "at most"),
        ({"JWT_ALGORITHM": "RS256"}, "JWT_KEY_ID", "is not set"),
        ({"JWT_ALGORITHM": "RS256", "JWT_KEY_ID": "k1"}, "JWT_PRIVATE_KEY", "is not set"),
        (
            {"JWT_ALGORITHM": "RS256", "JWT_KEY_ID": "k1", "JWT_PRIVATE_KEY": "-----BEGIN junk"},
            "JWT_PRIVATE_KEY",
            "not a usable RS256 key",
        ),
    ],
)
def test_unsafe_configuration_fails_at_start_naming_the_variable(
    secret: str, env: dict[str, str], variable: str, fragment: str
) -> None:
    environ = dict(env)
    if variable != "JWT_SECRET_KEY":
        environ.setdefault("JWT_SECRET_KEY", secret)
    with pytest.raises(CNOPConfigurationException) as caught:
        TokenSettings.from_env(environ)
    assert variable in str(caught.value)
    assert fragment in str(caught.value)
    assert caught.value.details["variable"] == variable
    for name in ("JWT_SECRET_KEY", "JWT_PRIVATE_KEY"):
        if environ.get(name):
            assert environ[name] not in str(caught.value)  # a secret never reaches a message


def test_environment_sets_every_value(secret: str) -> None:
    settings = TokenSettings.from_env(
        {
            "JWT_SECRET_KEY": secret,
            "JWT_ALGORITHM": "HS512",
            "JWT_ACCESS_TOKEN_EXPIRE_MINUTES": "15",
            "JWT_REFRESH_TOKEN_EXPIRE_DAYS": "2",
            "JWT_ISSUER": "auth-service",
            "JWT_AUDIENCE": "orders",
        }
    )
    assert settings.keys.algorithms == frozenset({"HS512"})
    assert settings.access_token_lifetime == timedelta(minutes=15)
    assert settings.refresh_token_lifetime == timedelta(days=2)
    manager = TokenManager(settings)
    claims = manager.verify_access_token(manager.create_access_token("alice_01").access_token)
    assert (claims.iss, claims.aud) == ("auth-service", "orders")


def test_environment_configures_rs256_with_previous_keys(
    rsa_pems: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    old = TokenManager(TokenSettings(keys=KeySet(_rsa_key(rsa_pems, 0, "old"))))
    old_token = old.create_access_token("alice_01").access_token
    monkeypatch.setenv("JWT_ALGORITHM", "RS256")
    monkeypatch.setenv("JWT_KEY_ID", "new")
    monkeypatch.setenv("JWT_PRIVATE_KEY", rsa_pems[1][0])
    monkeypatch.setenv("JWT_PREVIOUS_PUBLIC_KEYS", json.dumps({"old": rsa_pems[0][1]}))
    monkeypatch.delenv("JWT_SECRET_KEY", raising=False)
    manager = TokenManager.from_env()
    assert manager.verify_access_token(old_token).sub == "alice_01"
    assert [k["kid"] for k in manager.jwks()["keys"]] == ["new", "old"]
    monkeypatch.setenv("JWT_PREVIOUS_PUBLIC_KEYS", "[1, 2]")
    with pytest.raises(CNOPConfigurationException, match="JWT_PREVIOUS_PUBLIC_KEYS"):
        TokenManager.from_env()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"access_token_lifetime": timedelta(0)},
        {"refresh_token_lifetime": timedelta(seconds=-1)},
        {"leeway": timedelta(seconds=-1)},
        {"max_token_bytes": 10},
    ],
)
def test_nonsensical_settings_are_refused(secret: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(CNOPConfigurationException):
        TokenSettings(keys=KeySet(JWTKey.hmac(secret)), **kwargs)


def test_manager_refuses_wrong_collaborators(tokens: TokenManager) -> None:
    with pytest.raises(CNOPConfigurationException, match="TokenSettings"):
        TokenManager("settings")  # type: ignore[arg-type]
    with pytest.raises(CNOPConfigurationException, match="revocation"):
        TokenManager(tokens.settings, revocation=object())  # type: ignore[arg-type]


def test_a_failing_revocation_store_fails_closed(
    make_tokens: Callable[..., TokenManager], clock: Any
) -> None:
    class Unreachable:
        def is_revoked(self, jti: str) -> bool:
            raise ConnectionError("store down")

        def revoke(self, jti: str, expires_at: datetime) -> bool:
            raise ConnectionError("store down")

    issuer = make_tokens()
    manager = TokenManager(issuer.settings, revocation=Unreachable(), clock=clock)
    with pytest.raises(ConnectionError):
        manager.verify_access_token(issuer.create_access_token("alice_01").access_token)
