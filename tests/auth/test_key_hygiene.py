"""Keys and secrets that would weaken or break tokens are refused at start-up.

Each refusal is a ``CNOPConfigurationException`` naming the setting; python-jose's own
errors (raised later, at every signature or at the JWKS export) never reach a caller.
"""

from __future__ import annotations

import base64
import json
import random
import secrets
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cnop.auth import GatewaySigner, JWTKey, KeySet, TokenManager, TokenSettings
from cnop.exceptions import CNOPConfigurationException


def _private_pem(key: Any) -> str:
    return str(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
    )


def _public_pem(key: Any) -> str:
    return str(
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def rsa_1024() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (the weak key under test)


@pytest.fixture(scope="module")
def ec_keys() -> dict[str, Any]:
    return {
        "P-256": ec.generate_private_key(ec.SECP256R1()),
        "P-384": ec.generate_private_key(ec.SECP384R1()),
        "P-521": ec.generate_private_key(ec.SECP521R1()),
        "secp256k1": ec.generate_private_key(ec.SECP256K1()),
    }


def _refused(variable: str, fragment: str, **env: str) -> CNOPConfigurationException:
    with pytest.raises(CNOPConfigurationException) as caught:
        TokenSettings.from_env(env)
    assert variable in str(caught.value)
    assert caught.value.details["variable"] == variable
    assert fragment in str(caught.value)
    for name in ("JWT_SECRET_KEY", "JWT_PRIVATE_KEY", "JWT_PREVIOUS_PUBLIC_KEYS"):
        if name in env:
            assert env[name] not in str(caught.value)  # a secret never reaches a message
    return caught.value


@pytest.mark.parametrize("algorithm", ["RS256", "RS384", "RS512"])
def test_rsa_keys_under_2048_bits_are_refused(rsa_1024: Any, algorithm: str) -> None:
    _refused(
        "JWT_PRIVATE_KEY",
        "1024 bits",
        JWT_ALGORITHM=algorithm,
        JWT_KEY_ID="k1",
        JWT_PRIVATE_KEY=_private_pem(rsa_1024),
    )


def test_a_weak_retired_rsa_public_key_is_refused_too(
    rsa_1024: Any, rsa_pems: list[tuple[str, str]]
) -> None:
    _refused(
        "JWT_PREVIOUS_PUBLIC_KEYS",
        "1024 bits",
        JWT_ALGORITHM="RS256",
        JWT_KEY_ID="k2",
        JWT_PRIVATE_KEY=rsa_pems[0][0],
        JWT_PREVIOUS_PUBLIC_KEYS=json.dumps({"k1": _public_pem(rsa_1024)}),
    )


@pytest.mark.parametrize(
    ("algorithm", "curve"),
    [
        ("ES256", "P-384"),
        ("ES256", "P-521"),
        ("ES384", "P-256"),
        ("ES512", "P-256"),
        ("ES512", "P-384"),
        ("ES256", "secp256k1"),
        ("ES384", "secp256k1"),
    ],
)
def test_an_ec_key_on_the_wrong_curve_is_refused(
    ec_keys: dict[str, Any], algorithm: str, curve: str
) -> None:
    _refused(
        "JWT_PRIVATE_KEY",
        "curve",
        JWT_ALGORITHM=algorithm,
        JWT_KEY_ID="k1",
        JWT_PRIVATE_KEY=_private_pem(ec_keys[curve]),
    )
    with pytest.raises(CNOPConfigurationException, match="JWT_PUBLIC_KEY"):
        JWTKey.from_pem(
            _public_pem(ec_keys[curve]), algorithm=algorithm, kid="k1", variable="JWT_PUBLIC_KEY"
        )


@pytest.mark.parametrize(
    ("algorithm", "curve"), [("ES256", "P-256"), ("ES384", "P-384"), ("ES512", "P-521")]
)
def test_each_ec_algorithm_works_with_its_curve(
    ec_keys: dict[str, Any], algorithm: str, curve: str
) -> None:
    key = JWTKey.from_pem(_private_pem(ec_keys[curve]), algorithm=algorithm, kid="k1")
    manager = TokenManager(TokenSettings(keys=KeySet(key)))
    token = manager.create_access_token("alice_01").access_token
    assert manager.verify_access_token(token).sub == "alice_01"
    assert manager.jwks()["keys"][0]["crv"] == curve


def test_an_rsa_key_for_an_ec_algorithm_and_the_reverse_are_refused(
    ec_keys: dict[str, Any], rsa_pems: list[tuple[str, str]]
) -> None:
    with pytest.raises(CNOPConfigurationException, match="JWT_PRIVATE_KEY"):
        JWTKey.from_pem(rsa_pems[0][0], algorithm="ES256", kid="k1")
    with pytest.raises(CNOPConfigurationException, match="JWT_PRIVATE_KEY"):
        JWTKey.from_pem(_private_pem(ec_keys["P-256"]), algorithm="RS256", kid="k1")


@pytest.mark.parametrize(
    "weak",
    [
        "abcdefgh" * 4,
        "0123456789" * 4,
        "AbCd1234" * 4,
        "Password123!Password123!Password",
        "Tr0ub4dor&3-Tr0ub4dor&3-Tr0ub4do",
        "correcthorsebatterystaplesunrise",  # one character class: typed words
        "31415926535897932384626433832795",  # digits only
        "qwertyuiopasdfghjklzxcvbnmqwerty",
        "kkkkkkkkabcdefghijklmnopqrstuvwxyz123",
    ],
)
def test_low_entropy_hmac_secrets_are_refused(weak: str) -> None:
    _refused("JWT_SECRET_KEY", "entropy", JWT_SECRET_KEY=weak)
    with pytest.raises(CNOPConfigurationException, match="GATEWAY_SIGNING_SECRET"):
        GatewaySigner(weak)


def _random_secrets(seed: int) -> list[str | bytes]:
    rng = random.Random(seed)
    raw = rng.randbytes(32)
    return [
        base64.urlsafe_b64encode(raw).rstrip(b"=").decode(),
        base64.b64encode(raw).decode(),
        raw.hex(),
        raw.hex().upper(),
        raw,
        base64.urlsafe_b64encode(rng.randbytes(24)).decode(),  # 32 characters
    ]


def test_random_32_byte_secrets_pass_in_every_usual_encoding() -> None:
    from cnop.auth.secret_strength import estimated_entropy_bits

    # Seeded, so the test is the same every run; 3000 seeds x 6 encodings.
    for seed in range(3000):
        for value in _random_secrets(seed):
            assert (
                estimated_entropy_bits(value if isinstance(value, bytes) else value.encode()) >= 128
            ), (seed, value)
    for _ in range(20):  # and what the README says to run
        assert TokenSettings.from_env({"JWT_SECRET_KEY": secrets.token_urlsafe(32)})
        assert TokenSettings.from_env({"JWT_SECRET_KEY": secrets.token_hex(32)})


def test_es512_with_a_p256_key_never_reaches_the_library() -> None:
    # Before: accepted at start-up, then every create_access_token raised jose's JWSError.
    pem = _private_pem(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(CNOPConfigurationException, match="JWT_PRIVATE_KEY"):
        JWTKey.from_pem(pem, algorithm="ES512", kid="k1")


def test_secp256k1_never_reaches_the_jwks_export() -> None:
    # Before: accepted at start-up, then jwks() raised KeyError.
    pem = _private_pem(ec.generate_private_key(ec.SECP256K1()))
    with pytest.raises(CNOPConfigurationException, match="JWT_PRIVATE_KEY"):
        JWTKey.from_pem(pem, algorithm="ES256", kid="k1")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("access_token_lifetime", 30),
        ("refresh_token_lifetime", "7 days"),
        ("leeway", 30),
        ("leeway", timedelta(days=1)),
        ("leeway", timedelta(seconds=-1)),
        ("max_token_bytes", "8192"),
        ("max_token_bytes", True),
        ("max_token_bytes", 10),
        ("issuer", ""),
        ("issuer", 5),
        ("audience", "cnop\n"),
    ],
)
def test_mistyped_settings_fields_are_refused_naming_the_field(
    secret: str, field: str, value: Any
) -> None:
    with pytest.raises(CNOPConfigurationException) as caught:
        TokenSettings(keys=KeySet(JWTKey.hmac(secret)), **{field: value})
    assert f"TokenSettings.{field}" in str(caught.value)


@pytest.mark.parametrize(
    "variable", ["JWT_ACCESS_TOKEN_EXPIRE_MINUTES", "JWT_REFRESH_TOKEN_EXPIRE_DAYS"]
)
@pytest.mark.parametrize("value", ["\u0661\u0660", "\uff11\uff10", "1_0", "9" * 5000])
def test_numeric_settings_take_ascii_digits_only(secret: str, variable: str, value: str) -> None:
    # int() reads other scripts' digits, full-width digits and underscores; 5000 digits
    # is past what int() parses at all.
    with pytest.raises(CNOPConfigurationException, match=variable):
        TokenSettings.from_env({"JWT_SECRET_KEY": secret, variable: value})
