"""Public constructors and methods meet wrong types and malformed text with typed errors.

Each case once escaped as a pydantic ``ValidationError``, a ``TypeError``, an
``AttributeError`` or a ``UnicodeEncodeError``; each must be a ``CNOPException`` whose
message names what was wrong (and never quotes a secret or a token).
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from cnop.auth import (
    AccessToken,
    GatewaySigner,
    InMemoryNonceStore,
    InMemoryRevocationList,
    JWKSClient,
    JWTKey,
    KeySet,
    PasswordManager,
    PasswordPolicy,
    TokenClaims,
    TokenManager,
    TokenPair,
    TokenSettings,
    UserContext,
)
from cnop.exceptions import (
    CNOPConfigurationException,
    CNOPTokenInvalidException,
    CNOPValidationException,
)

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)
CLAIMS: dict[str, Any] = {
    "sub": "alice_01",
    "role": "customer",
    "type": "access",
    "jti": "j1",
    "iat": NOW,
    "nbf": NOW,
    "exp": NOW + timedelta(minutes=5),
}
PAIR: dict[str, Any] = {
    "access_token": "a.b.c",
    "expires_in": 60,
    "expires_at": NOW,
    "refresh_token": "d.e.f",
    "refresh_expires_in": 60,
    "refresh_expires_at": NOW,
    "session_id": "s1",
    "session_expires_at": NOW,
}


def _fields(exc: CNOPValidationException) -> set[str]:
    return {str(error["field"]) for error in exc.errors}


# -- the models ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"sub": ""}, {"sub"}),
        ({"role": "root\n"}, {"role"}),
        ({"type": 5}, {"type"}),
        ({"iat": "yesterday", "exp": None}, {"iat", "exp"}),
        ({"nbf": datetime(2026, 12, 1)}, {"nbf"}),  # naive: no zone, no instant
        ({"sid": ""}, {"sid"}),
        ({"auth_time": object()}, {"auth_time"}),
        ({"aud": 5}, {"aud"}),
    ],
)
def test_token_claims_refuse_bad_values_listing_each_field(
    changes: dict[str, Any], fields: set[str]
) -> None:
    with pytest.raises(CNOPValidationException) as caught:
        TokenClaims(**{**CLAIMS, **changes})
    assert {f.split(".")[0] for f in _fields(caught.value)} == fields


def test_token_claims_model_validate_raises_the_same_typed_error() -> None:
    with pytest.raises(CNOPValidationException):
        TokenClaims.model_validate({**CLAIMS, "jti": None})
    with pytest.raises(CNOPValidationException):
        TokenClaims.model_validate_json('{"sub": "alice_01"}')
    texts = {name: str(value) for name, value in CLAIMS.items()}
    with pytest.raises(CNOPValidationException) as caught:
        TokenClaims.model_validate_strings({**texts, "iat": "yesterday"})
    assert _fields(caught.value) == {"iat"}


def test_a_token_response_error_never_quotes_the_token() -> None:
    token = "eyJ" + secrets.token_urlsafe(40)
    with pytest.raises(CNOPValidationException) as caught:
        AccessToken(access_token=token, expires_in="soon", expires_at=NOW)
    assert _fields(caught.value) == {"expires_in"}
    assert token not in str(caught.value)
    assert token not in repr(caught.value.details)


@pytest.mark.parametrize(
    "changes",
    [
        {"session_id": None},
        {"refresh_token": ""},
        {"refresh_expires_in": 0},
        {"expires_at": "\n"},
        {"session_expires_at": datetime(2026, 12, 1)},
    ],
)
def test_token_pair_refuses_bad_values(changes: dict[str, Any]) -> None:
    with pytest.raises(CNOPValidationException) as caught:
        TokenPair(**{**PAIR, **changes})
    assert _fields(caught.value) == set(changes)


def test_a_token_with_a_bad_claim_is_still_an_invalid_token(
    tokens: TokenManager, secret: str
) -> None:
    from jose import jws

    payload = {
        "sub": "",
        "role": "customer",
        "type": "access",
        "jti": "j1",
        "iat": 1_800_000_000,
        "nbf": 1_800_000_000,
        "exp": 1_800_000_600,
        "iss": "cnop-auth",
        "aud": "cnop",
    }
    token = jws.sign(payload, secret, algorithm="HS256")
    with pytest.raises(CNOPTokenInvalidException, match="bad or missing claims: sub"):
        tokens.verify_access_token(token)


@pytest.mark.parametrize(
    "fields",
    [
        {"authenticated": "yes", "user_id": "alice_01", "role": "customer"},
        {"authenticated": True, "user_id": 5, "role": "customer"},
        {"authenticated": True, "user_id": "alice_01", "role": "root"},
        {"authenticated": True},  # who?
        {"user_id": "alice_01", "role": "admin"},  # not authenticated, yet an admin
        {"request_id": 5},
    ],
)
def test_user_context_refuses_bad_or_inconsistent_values(fields: dict[str, Any]) -> None:
    with pytest.raises(CNOPValidationException):
        UserContext(**fields)


# -- keys and secrets ----------------------------------------------------------------------


def test_a_secret_with_a_lone_surrogate_is_a_configuration_error() -> None:
    secret = secrets.token_urlsafe(40) + "\ud800"
    with pytest.raises(CNOPConfigurationException, match=r"JWT_SECRET_KEY .*unpaired surrogate"):
        JWTKey.hmac(secret)
    with pytest.raises(CNOPConfigurationException, match="GATEWAY_SIGNING_SECRET"):
        GatewaySigner(secret)


@pytest.mark.parametrize("algorithm", [["HS256"], {"HS256": 1}, None])
def test_an_algorithm_that_is_not_text_is_refused(algorithm: Any, secret: str) -> None:
    with pytest.raises(CNOPConfigurationException, match="not an HMAC algorithm"):
        JWTKey.hmac(secret, algorithm=algorithm)
    with pytest.raises(CNOPConfigurationException, match="not an RSA/EC algorithm"):
        JWTKey.from_pem("pem", algorithm=algorithm, kid="k1")


@pytest.mark.parametrize("pem", [["-----BEGIN"], 5, {"kty": "RSA"}])
def test_a_pem_that_is_not_text_is_refused(pem: Any) -> None:
    with pytest.raises(CNOPConfigurationException, match="JWT_PRIVATE_KEY must be PEM"):
        JWTKey.from_pem(pem, algorithm="RS256", kid="k1")


@pytest.mark.parametrize("verify_only", [None, 5, object()])
def test_key_set_refuses_a_verify_only_that_is_not_iterable(verify_only: Any, secret: str) -> None:
    with pytest.raises(CNOPConfigurationException, match="iterable of JWTKey"):
        KeySet(JWTKey.hmac(secret), verify_only)
    with pytest.raises(CNOPConfigurationException, match="iterable of JWTKey"):
        KeySet.verifying(verify_only)


@pytest.mark.parametrize("kid", [["k1"], {"k1": 1}, 5])
def test_a_kid_that_is_not_text_names_no_key(kid: Any, secret: str) -> None:
    assert KeySet(JWTKey.hmac(secret, kid="k1")).for_kid(kid) is None


def test_jwks_keys_refuse_a_kid_that_is_not_text() -> None:
    jwks = JWKSClient("https://auth.invalid/jwks.json", fetch=lambda url, timeout: b"{}")
    with pytest.raises(CNOPValidationException, match="kid"):
        jwks.keys(["k1"])  # type: ignore[arg-type]
    with pytest.raises(CNOPValidationException, match="kid"):
        asyncio.run(jwks.keys_async({"k1": 1}))  # type: ignore[arg-type]


# -- settings from the environment ---------------------------------------------------------


@pytest.mark.parametrize("environ", ["JWT_SECRET_KEY=x", 5, ["JWT_SECRET_KEY"]])
def test_from_env_refuses_an_environ_that_is_not_a_mapping(environ: Any) -> None:
    with pytest.raises(CNOPConfigurationException, match="environ must be a mapping"):
        TokenSettings.from_env(environ)
    with pytest.raises(CNOPConfigurationException, match="environ must be a mapping"):
        GatewaySigner.from_env(environ)


@pytest.mark.parametrize(
    "variable", ["JWT_SECRET_KEY", "JWT_ALGORITHM", "JWT_ISSUER", "JWT_ACCESS_TOKEN_EXPIRE_MINUTES"]
)
def test_from_env_names_a_variable_whose_value_is_not_text(variable: str, secret: str) -> None:
    environ: dict[str, Any] = {"JWT_SECRET_KEY": secret, variable: 30}
    with pytest.raises(CNOPConfigurationException, match=f"{variable} must be text") as caught:
        TokenSettings.from_env(environ)
    assert caught.value.details["variable"] == variable
    with pytest.raises(CNOPConfigurationException, match="GATEWAY_SIGNING_SECRET must be text"):
        GatewaySigner.from_env({"GATEWAY_SIGNING_SECRET": secret.encode()})


# -- in-process stores ---------------------------------------------------------------------


@pytest.mark.parametrize("jti", [["j1"], None, "", "j" * 257])
def test_the_in_memory_revocation_list_refuses_a_bad_id(jti: Any) -> None:
    revoked = InMemoryRevocationList()
    with pytest.raises(CNOPValidationException, match="jti"):
        revoked.revoke(jti, NOW)
    with pytest.raises(CNOPValidationException, match="jti"):
        revoked.is_revoked(jti)


@pytest.mark.parametrize(
    "expires_at", ["2026-12-01T00:00:00Z", 1_800_000_000, datetime(2026, 12, 1)]
)
def test_the_in_memory_revocation_list_needs_an_aware_expiry(expires_at: Any) -> None:
    revoked = InMemoryRevocationList()
    with pytest.raises(CNOPValidationException, match="expires_at"):
        revoked.revoke("j1", expires_at)
    assert len(revoked) == 0


def test_session_entries_still_fit_the_in_memory_revocation_list() -> None:
    revoked = InMemoryRevocationList(clock=NOW.timestamp)
    sid_entry = "sid:" + "s" * 128
    assert revoked.revoke(sid_entry, NOW + timedelta(minutes=1))
    assert revoked.is_revoked(sid_entry)


@pytest.mark.parametrize("nonce", [["n" * 20], None, "", "n" * 20 + "\n", "n" * 129])
def test_the_in_memory_nonce_store_refuses_a_bad_nonce(nonce: Any) -> None:
    nonces = InMemoryNonceStore()
    with pytest.raises(CNOPValidationException, match="nonce"):
        nonces.use_once(nonce, 5)
    with pytest.raises(CNOPValidationException, match="nonce"):
        asyncio.run(nonces.use_once_async(nonce, 5))
    assert len(nonces) == 0


@pytest.mark.parametrize("ttl", ["5", 0, -1, 2.5, True, None])
def test_the_in_memory_nonce_store_refuses_a_bad_ttl(ttl: Any) -> None:
    nonces = InMemoryNonceStore()
    with pytest.raises(CNOPConfigurationException, match="ttl_seconds"):
        nonces.use_once("n" * 20, ttl)
    assert len(nonces) == 0


# -- passwords -----------------------------------------------------------------------------


@pytest.mark.parametrize("schemes", [None, 5, "bcrypt", b"bcrypt"])
def test_password_manager_schemes_must_be_a_sequence_of_names(schemes: Any) -> None:
    with pytest.raises(CNOPConfigurationException, match="sequence of scheme names"):
        PasswordManager(schemes)


@pytest.mark.parametrize("manager", ["bcrypt\n", None, 72, object()])
def test_password_policy_for_manager_needs_a_manager(manager: Any) -> None:
    with pytest.raises(CNOPConfigurationException, match="needs a PasswordManager"):
        PasswordPolicy.for_manager(manager)


@pytest.mark.parametrize("rules", [{"min_lenght": 8}, {"max_bytes": 100}])
def test_password_policy_for_manager_refuses_what_is_not_a_rule(
    rules: dict[str, Any], fast_passwords: PasswordManager
) -> None:
    with pytest.raises(CNOPConfigurationException, match=sorted(rules)[0]):
        PasswordPolicy.for_manager(fast_passwords, **rules)
    assert PasswordPolicy.for_manager(fast_passwords, min_length=14).min_length == 14


# -- injected collaborators ----------------------------------------------------------------


def _builders(secret: str) -> dict[str, Any]:
    settings = TokenSettings(keys=KeySet(JWTKey.hmac(secret)))
    return {
        "TokenManager": lambda clock: TokenManager(settings, clock=clock),
        "GatewaySigner": lambda clock: GatewaySigner(secret, clock=clock),
        "JWKSClient": lambda clock: JWKSClient("https://auth.invalid/jwks.json", clock=clock),
        "InMemoryRevocationList": InMemoryRevocationList,
        "InMemoryNonceStore": InMemoryNonceStore,
    }


@pytest.mark.parametrize(
    "name",
    ["TokenManager", "GatewaySigner", "JWKSClient", "InMemoryRevocationList", "InMemoryNonceStore"],
)
@pytest.mark.parametrize("clock", ["time.time", 1_800_000_000.0, None])
def test_a_clock_that_cannot_be_called_is_refused_when_built(
    name: str, clock: Any, secret: str
) -> None:
    """It used to be kept, and raised TypeError at the first token or request."""
    with pytest.raises(CNOPConfigurationException, match="clock must be callable"):
        _builders(secret)[name](clock)


def test_a_jwks_fetch_that_cannot_be_called_is_refused() -> None:
    with pytest.raises(CNOPConfigurationException, match="fetch must be callable"):
        JWKSClient("https://auth.invalid/jwks.json", fetch=b"{}")  # type: ignore[arg-type]


def test_a_key_source_without_keys_is_refused(secret: str) -> None:
    settings = TokenSettings(keys=KeySet.verifying([JWTKey.hmac(secret)]))
    with pytest.raises(CNOPConfigurationException, match="key_source must be a JWKSClient"):
        TokenManager(settings, key_source="https://auth.invalid/jwks.json")  # type: ignore[arg-type]


@pytest.mark.parametrize("executor", ["pool", 4, object()])
def test_a_password_executor_that_is_not_an_executor_is_refused(executor: Any) -> None:
    with pytest.raises(CNOPConfigurationException, match="executor must be"):
        PasswordManager(bcrypt_rounds=4, executor=executor)


def test_the_shared_stores_refuse_a_clock_that_cannot_be_called(redis_url: str) -> None:
    import redis

    from cnop.auth import DynamoDBRevocationStore, RedisNonceStore, RedisRevocationStore

    client = redis.Redis.from_url(redis_url)
    try:
        for store in (RedisRevocationStore, RedisNonceStore):
            with pytest.raises(CNOPConfigurationException, match="clock must be callable"):
                store(client, clock=0)  # type: ignore[arg-type]
    finally:
        client.close()
    with pytest.raises(CNOPConfigurationException, match="clock must be callable"):
        DynamoDBRevocationStore("revocations", client=object(), clock="now")  # type: ignore[arg-type]


@pytest.mark.parametrize("around", ["{}\n", "\n{}", " {} ", "{}\t", "{}\r\n"])
def test_a_text_secret_with_whitespace_around_it_is_refused(around: str) -> None:
    """A newline kept from a secrets file made a key the other services did not hold."""
    secret = around.format(secrets.token_urlsafe(40))
    with pytest.raises(CNOPConfigurationException, match="JWT_SECRET_KEY has leading or trail"):
        TokenSettings.from_env({"JWT_SECRET_KEY": secret})
    with pytest.raises(CNOPConfigurationException, match="GATEWAY_SIGNING_SECRET has leading") as e:
        GatewaySigner.from_env({"GATEWAY_SIGNING_SECRET": secret})
    assert secret.strip() not in str(e.value)
    assert secret.strip() not in repr(e.value.details)


def test_a_bytes_secret_may_hold_any_byte() -> None:
    raw = b"\n" + secrets.token_bytes(40) + b" "
    assert JWTKey.hmac(raw).algorithm == "HS256"
