"""Every way a token can be wrong is refused with one of the two token exceptions.

Tokens here are forged by hand (HMAC/RSA over chosen header and claims) so that each
test changes exactly one thing about an otherwise valid token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jose import jws

from cnop.auth import JWTKey, KeySet, TokenManager, TokenSettings
from cnop.exceptions import (
    CNOPAuthenticationException,
    CNOPTokenExpiredException,
    CNOPTokenInvalidException,
)

TOKEN_ERRORS = (CNOPTokenInvalidException, CNOPTokenExpiredException)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: Any) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def forge_hs(header: dict[str, Any], claims: Any, key: bytes, digest: Any = hashlib.sha256) -> str:
    signing_input = f"{segment(header)}.{segment(claims)}"
    signature = hmac.new(key, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64(signature)}"


def good_claims(now: float, **changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": "alice_01",
        "role": "customer",
        "type": "access",
        "jti": "jti-0123456789abcdef",
        "iat": int(now),
        "nbf": int(now),
        "exp": int(now) + 600,
        "iss": "cnop-auth",
        "aud": "cnop",
    }
    for name, value in changes.items():
        if value is _DROP:
            claims.pop(name)
        else:
            claims[name] = value
    return claims


_DROP = object()
HS256 = {"alg": "HS256", "typ": "JWT"}


@pytest.fixture
def forge(secret: str, clock: Any) -> Callable[..., str]:
    """``forge(header=HS256, **claim_changes)``: a token signed with the real secret."""

    def make(header: dict[str, Any] = HS256, **changes: Any) -> str:
        return forge_hs(header, good_claims(clock(), **changes), secret.encode())

    return make


def test_the_forger_makes_valid_tokens(tokens: TokenManager, forge: Callable[..., str]) -> None:
    # Guards every test below: each refusal comes from the one change it makes.
    assert tokens.verify_access_token(forge()).sub == "alice_01"


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", ""])
def test_alg_none_is_refused(tokens: TokenManager, clock: Any, alg: str) -> None:
    unsigned = f"{segment({'alg': alg, 'typ': 'JWT'})}.{segment(good_claims(clock()))}."
    with pytest.raises(CNOPTokenInvalidException):
        tokens.verify_access_token(unsigned)
    with pytest.raises(CNOPTokenInvalidException, match="algorithm not allowed"):
        tokens.verify_access_token(unsigned + "c2ln")


def test_missing_alg_is_refused(tokens: TokenManager, forge: Callable[..., str]) -> None:
    with pytest.raises(CNOPTokenInvalidException, match="algorithm not allowed"):
        tokens.verify_access_token(forge({"typ": "JWT"}))


def test_algorithm_outside_the_allow_list_is_refused(
    tokens: TokenManager, secret: str, clock: Any
) -> None:
    # Correctly signed with the right secret, but HS512 is not what this service accepts.
    token = forge_hs({"alg": "HS512"}, good_claims(clock()), secret.encode(), hashlib.sha512)
    with pytest.raises(CNOPTokenInvalidException, match="algorithm not allowed"):
        tokens.verify_access_token(token)


def test_hs_rs_key_confusion_is_refused(rsa_pems: list[tuple[str, str]], clock: Any) -> None:
    private_pem, public_pem = rsa_pems[0]
    manager = TokenManager(
        TokenSettings(keys=KeySet(JWTKey.from_pem(private_pem, algorithm="RS256", kid="k1"))),
        clock=clock,
    )
    assert manager.verify_access_token(manager.create_access_token("alice_01").access_token)
    # The classic attack: HMAC-sign with the (public) RSA key as the shared secret.
    for header in ({"alg": "HS256", "kid": "k1"}, {"alg": "HS256"}):
        forged = forge_hs(header, good_claims(clock()), public_pem.encode())
        with pytest.raises(CNOPTokenInvalidException, match="algorithm not allowed"):
            manager.verify_access_token(forged)


def test_rs_token_against_an_hs_service_is_refused(
    tokens: TokenManager, rsa_pems: list[tuple[str, str]], clock: Any
) -> None:
    token = jws.sign(good_claims(clock()), rsa_pems[0][0], algorithm="RS256")
    with pytest.raises(CNOPTokenInvalidException, match="algorithm not allowed"):
        tokens.verify_access_token(token)


def test_rs256_token_with_another_kid_keys_signature_is_refused(
    rsa_pems: list[tuple[str, str]], clock: Any
) -> None:
    manager = TokenManager(
        TokenSettings(keys=KeySet(JWTKey.from_pem(rsa_pems[0][0], algorithm="RS256", kid="k1"))),
        clock=clock,
    )
    # Signed by a different private key but claiming the trusted kid.
    forged = jws.sign(
        good_claims(clock()), rsa_pems[1][0], headers={"kid": "k1"}, algorithm="RS256"
    )
    with pytest.raises(CNOPTokenInvalidException, match="signature verification failed"):
        manager.verify_access_token(forged)


def test_bad_signature_is_refused(tokens: TokenManager, forge: Callable[..., str]) -> None:
    token = forge()
    head, body, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    wrong_key = forge_hs(HS256, json.loads(base64.urlsafe_b64decode(body + "==")), b"k" * 40)
    for bad in (f"{head}.{body}.{flipped}", wrong_key, f"{head}.{body}.", f"{head}.{body}.AAAA"):
        with pytest.raises(CNOPTokenInvalidException):
            tokens.verify_access_token(bad)


def test_tampered_claims_are_refused(tokens: TokenManager, forge: Callable[..., str]) -> None:
    head, _, signature = forge().split(".")
    admin = segment(good_claims(1_800_000_000, role="admin"))
    with pytest.raises(CNOPTokenInvalidException, match="signature verification failed"):
        tokens.verify_access_token(f"{head}.{admin}.{signature}")


def test_expired_is_its_own_exception(
    tokens: TokenManager, forge: Callable[..., str], clock: Any
) -> None:
    with pytest.raises(CNOPTokenExpiredException):
        tokens.verify_access_token(forge(exp=int(clock()) - 31))
    assert tokens.verify_access_token(forge(exp=int(clock()) - 29))  # within leeway


def test_not_yet_valid_is_refused(
    tokens: TokenManager, forge: Callable[..., str], clock: Any
) -> None:
    with pytest.raises(CNOPTokenInvalidException, match="not yet valid"):
        tokens.verify_access_token(forge(nbf=int(clock()) + 120))


def test_iat_in_the_future_beyond_leeway_is_refused(
    tokens: TokenManager, forge: Callable[..., str], clock: Any
) -> None:
    with pytest.raises(CNOPTokenInvalidException, match="issued in the future"):
        tokens.verify_access_token(forge(iat=int(clock()) + 3600, nbf=int(clock())))
    assert tokens.verify_access_token(forge(iat=int(clock()) + 20))


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf", "sub", "role", "jti", "type"])
def test_missing_required_claim_is_refused(
    tokens: TokenManager, forge: Callable[..., str], claim: str
) -> None:
    with pytest.raises(CNOPTokenInvalidException, match=claim):
        tokens.verify_access_token(forge(**{claim: _DROP}))


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"aud": _DROP}, "audience"),
        ({"aud": "other-service"}, "audience"),
        ({"aud": ["other", "more"]}, "audience"),
        ({"aud": None}, "audience"),
        ({"iss": _DROP}, "issuer"),
        ({"iss": "evil-issuer"}, "issuer"),
    ],
)
def test_missing_or_wrong_audience_and_issuer_are_refused(
    tokens: TokenManager, forge: Callable[..., str], changes: dict[str, Any], reason: str
) -> None:
    with pytest.raises(CNOPTokenInvalidException, match=reason):
        tokens.verify_access_token(forge(**changes))


def test_audience_list_containing_ours_is_accepted(
    tokens: TokenManager, forge: Callable[..., str]
) -> None:
    assert tokens.verify_access_token(forge(aud=["billing", "cnop"])).aud == ["billing", "cnop"]


@pytest.mark.parametrize(
    "changes",
    [
        {"type": "refresh"},
        {"type": "id"},
        {"role": "root"},
        {"sub": ""},
        {"sub": 42},
        {"exp": "tomorrow"},
        {"exp": True},
        {"exp": 1e300},
        {"exp": 10**400},  # an int too large for a float
        {"nbf": -(10**400)},
        {"iat": -5},
        {"jti": ""},
    ],
)
def test_wrong_type_or_mistyped_claims_are_refused(
    tokens: TokenManager, forge: Callable[..., str], changes: dict[str, Any]
) -> None:
    with pytest.raises(CNOPTokenInvalidException):
        tokens.verify_access_token(forge(**changes))


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "..",
        "!!!.###.$$$",
        f"{segment([1, 2])}.{segment({})}.c2ln",
        f"{b64(b'{not json')}.{segment({})}.c2ln",
        f"{segment(HS256)}.{b64(b'not json')}.c2ln",
        f"{segment(HS256)}.{segment([1])}.c2ln",
        f"{segment({'alg': 'HS256', 'kid': 5})}.{segment({})}.c2ln",
        f"{segment({'alg': 'HS256', 'kid': 'nope'})}.{segment({})}.c2ln",
        "é.é.é",
    ],
)
def test_malformed_tokens_are_refused(tokens: TokenManager, token: str) -> None:
    with pytest.raises(CNOPTokenInvalidException):
        tokens.verify_access_token(token)


def test_malformed_payload_behind_a_valid_signature_is_refused(
    tokens: TokenManager, secret: str
) -> None:
    signing_input = f"{segment(HS256)}.{b64(b'[1, 2, 3]')}"
    signature = b64(hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest())
    with pytest.raises(CNOPTokenInvalidException, match="payload is not a JSON object"):
        tokens.verify_access_token(f"{signing_input}.{signature}")


@pytest.mark.parametrize("bad", [None, 12, 3.5, ["a.b.c"], {"token": "x"}, b"\xff\xfe"])
def test_non_string_tokens_are_refused(tokens: TokenManager, bad: Any) -> None:
    with pytest.raises(CNOPTokenInvalidException):
        tokens.verify_access_token(bad)


def test_token_over_the_size_limit_is_refused_before_parsing(
    tokens: TokenManager, forge: Callable[..., str]
) -> None:
    padded = forge(padding="x" * 9000)
    with pytest.raises(CNOPTokenInvalidException, match="longer than 8192 bytes"):
        tokens.verify_access_token(padded)


def test_critical_header_extensions_are_refused(
    tokens: TokenManager, forge: Callable[..., str]
) -> None:
    with pytest.raises(CNOPTokenInvalidException, match="critical"):
        tokens.verify_access_token(forge({"alg": "HS256", "crit": ["exp"]}))


def test_revoked_jti_is_refused(tokens: TokenManager, forge: Callable[..., str]) -> None:
    token = forge()
    tokens.revoke_token(token)
    with pytest.raises(CNOPTokenInvalidException, match="revoked"):
        tokens.verify_access_token(token)


# -- fuzzing: whatever comes in, only the two token exceptions come out -----------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _only_token_errors(manager: TokenManager, token: Any) -> None:
    try:
        manager.verify_access_token(token)
    except TOKEN_ERRORS:
        return
    pytest.fail(f"accepted a fuzzed token: {token!r:.200}")


@FUZZ
@given(data=st.binary(max_size=400))
def test_fuzz_random_bytes(tokens: TokenManager, data: bytes) -> None:
    _only_token_errors(tokens, data)
    _only_token_errors(tokens, data.decode("latin-1"))


@FUZZ
@given(parts=st.lists(st.text(max_size=60), min_size=1, max_size=5))
def test_fuzz_random_dotted_text(tokens: TokenManager, parts: list[str]) -> None:
    _only_token_errors(tokens, ".".join(parts))


@FUZZ
@given(header=json_values, claims=json_values)
def test_fuzz_random_json_header_and_claims_signed_with_the_real_key(
    tokens: TokenManager, secret: str, header: Any, claims: Any
) -> None:
    signing_input = f"{segment(header)}.{segment(claims)}"
    signature = b64(hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest())
    _only_token_errors(tokens, f"{signing_input}.{signature}")


@FUZZ
@given(extra=st.dictionaries(st.text(max_size=10), json_values, max_size=5))
def test_fuzz_random_header_fields_around_a_valid_alg(
    tokens: TokenManager, forge: Callable[..., str], extra: dict[str, Any]
) -> None:
    header = {**extra, "alg": "HS256"}
    token = forge(header)
    try:
        claims = tokens.verify_access_token(token)
    except TOKEN_ERRORS:
        # Refused only for a reason the header gives: a kid we do not have, or crit.
        assert extra.get("kid") is not None or "crit" in extra
        return
    assert claims.sub == "alice_01"


@FUZZ
@given(
    claim=st.sampled_from(["exp", "iat", "nbf", "sub", "role", "jti", "type", "iss", "aud"]),
    value=json_values,
)
def test_fuzz_random_claim_values_signed_with_the_real_key(
    tokens: TokenManager, forge: Callable[..., str], claim: str, value: Any
) -> None:
    try:
        tokens.verify_access_token(forge(**{claim: value}))
    except TOKEN_ERRORS:
        return


# -- one token, one string ---------------------------------------------------------------------

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _non_canonical_twins(segment_text: str) -> list[str]:
    """Spellings of the same bytes with non-zero trailing bits in the last character."""
    unused_bits = {2: 4, 3: 2}[len(segment_text) % 4]
    index = _ALPHABET.index(segment_text[-1])
    mask = (1 << unused_bits) - 1
    return [segment_text[:-1] + _ALPHABET[(index & ~mask) | low] for low in range(1, mask + 1)]


def test_non_canonical_signature_encoding_is_refused(
    tokens: TokenManager, forge: Callable[..., str]
) -> None:
    head, body, signature = forge().split(".")
    twins = _non_canonical_twins(signature)
    assert twins  # HS256: 32 bytes, 43 characters, two unused bits
    for twin in twins:
        assert base64.urlsafe_b64decode(twin + "=") == base64.urlsafe_b64decode(signature + "=")
        with pytest.raises(CNOPTokenInvalidException, match="signature is not canonical"):
            tokens.verify_access_token(f"{head}.{body}.{twin}")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: s + "=",
        lambda s: s + "==",
        lambda s: s.replace("-", "+").replace("_", "/") if ("-" in s or "_" in s) else s + "+",
        lambda s: s[:10] + " " + s[10:],
        lambda s: s + "\n",
        lambda s: s[:10] + "\x00" + s[10:],
        lambda s: s[:-1] + "\uff21",  # FULLWIDTH A
        lambda s: s + "A" * ((1 - len(s)) % 4),  # a length no base64 string has (4n + 1)
    ],
)
@pytest.mark.parametrize("part", [0, 1, 2])
def test_every_segment_must_be_strict_base64url(
    tokens: TokenManager, forge: Callable[..., str], part: int, mutate: Callable[[str], str]
) -> None:
    parts = forge().split(".")
    parts[part] = mutate(parts[part])
    with pytest.raises(CNOPTokenInvalidException, match="base64url"):
        tokens.verify_access_token(".".join(parts))


def test_non_canonical_header_and_payload_are_refused(
    tokens: TokenManager, forge: Callable[..., str]
) -> None:
    parts = forge().split(".")
    for index in (0, 1):
        if len(parts[index]) % 4 == 0:
            continue  # no unused bits in this segment's last character
        for twin in _non_canonical_twins(parts[index]):
            changed = list(parts)
            changed[index] = twin
            with pytest.raises(CNOPTokenInvalidException, match="not canonical"):
                tokens.verify_access_token(".".join(changed))


# -- sessions: a stolen refresh token, a session stretched forever, a user who lost access --


def test_a_stolen_refresh_token_replayed_after_rotation_ends_the_session(
    tokens: TokenManager,
) -> None:
    stolen = tokens.create_token_pair("alice_01")
    current = tokens.rotate_refresh_token(stolen.refresh_token)
    with pytest.raises(CNOPTokenInvalidException, match="reused"):
        tokens.rotate_refresh_token(stolen.refresh_token)
    # Before: the rotated family lived on, so a thief who rotated first kept the session.
    with pytest.raises(CNOPTokenInvalidException, match="revoked"):
        tokens.rotate_refresh_token(current.refresh_token)
    with pytest.raises(CNOPTokenInvalidException, match="revoked"):
        tokens.verify_access_token(current.access_token)


def test_rotation_cannot_stretch_a_session_past_its_absolute_lifetime(
    make_tokens: Callable[..., TokenManager], clock: Any
) -> None:
    tokens = make_tokens(session_lifetime=timedelta(days=3))
    pair = tokens.create_token_pair("alice_01")
    end = pair.session_expires_at
    for _ in range(5):
        clock.advance(20 * 3600)
        try:
            pair = tokens.rotate_refresh_token(pair.refresh_token)
        except CNOPTokenExpiredException:
            break
        assert tokens.verify_refresh_token(pair.refresh_token).exp <= end
    else:
        pytest.fail("rotation kept a 3-day session alive for 100 hours")


def test_a_disabled_user_cannot_refresh_and_a_demoted_one_loses_the_role(
    make_tokens: Callable[..., TokenManager], clock: Any
) -> None:
    roles: dict[str, str | None] = {"alice_01": None, "bob_01": "customer"}
    tokens = TokenManager(make_tokens().settings, on_refresh=roles.get, clock=clock)
    disabled = tokens.create_token_pair("alice_01", "admin")
    with pytest.raises(CNOPTokenInvalidException):
        tokens.rotate_refresh_token(disabled.refresh_token)
    demoted = tokens.create_token_pair("bob_01", "admin")
    fresh = tokens.rotate_refresh_token(demoted.refresh_token)
    assert tokens.verify_access_token(fresh.access_token).role.value == "customer"


def test_a_forged_session_token_without_auth_time_is_refused(
    tokens: TokenManager, forge: Callable[..., str]
) -> None:
    with pytest.raises(CNOPTokenInvalidException, match="auth_time"):
        tokens.verify_access_token(forge(sid="s-1"))
    with pytest.raises(CNOPTokenInvalidException, match="sid"):
        tokens.verify_access_token(forge(auth_time=1_800_000_000))


@pytest.mark.integration
def test_a_token_logged_out_on_one_instance_is_refused_on_another(
    make_tokens: Callable[..., TokenManager], clock: Any, redis_url: str, unique_name: Any
) -> None:
    from cnop.auth import RedisRevocationStore

    prefix = unique_name("auth-attack")
    settings = make_tokens().settings
    a_store = RedisRevocationStore.from_url(redis_url, prefix=prefix)
    b_store = RedisRevocationStore.from_url(redis_url, prefix=prefix)
    a = TokenManager(settings, revocation=a_store, clock=clock)
    b = TokenManager(settings, revocation=b_store, clock=clock)
    pair = a.create_token_pair("alice_01")
    a.logout(pair.access_token)
    # Before: each instance kept its own revocations, so the stolen token worked on B.
    with pytest.raises(CNOPTokenInvalidException, match="revoked"):
        b.verify_access_token(pair.access_token)
    with pytest.raises(CNOPTokenInvalidException, match="revoked"):
        b.rotate_refresh_token(pair.refresh_token)
    a_store.close()
    b_store.close()


# -- gateway headers: replayed, or carried to another route -----------------------------------


def test_captured_gateway_headers_cannot_be_replayed(secret: str, clock: Any) -> None:
    from cnop.auth import GatewaySigner

    signer = GatewaySigner(secret, clock=clock)
    request = {"method": "POST", "target": "/withdrawals", "body": b'{"amount":"100"}'}
    captured = signer.sign(
        {"X-User-ID": "alice_01", "X-User-Role": "customer", "X-Authenticated": "true"},
        **request,
    )
    signer.authenticate(captured, **request)
    # Before: the same headers were accepted again and again for 60 seconds.
    with pytest.raises(CNOPAuthenticationException, match="nonce already used"):
        signer.authenticate(captured, **request)


def test_gateway_headers_moved_to_another_route_are_refused(secret: str, clock: Any) -> None:
    from cnop.auth import GatewaySigner

    signer = GatewaySigner(secret, clock=clock)
    captured = signer.sign(
        {"X-User-ID": "alice_01", "X-User-Role": "customer", "X-Authenticated": "true"},
        method="GET",
        target="/orders",
    )
    # Before: the signature covered only the headers, so it opened any route.
    for method, target, body in (
        ("DELETE", "/orders", b""),
        ("GET", "/admin/users", b""),
        ("GET", "/orders?user=bob_01", b""),
        ("POST", "/orders", b'{"qty":"1"}'),
    ):
        with pytest.raises(CNOPAuthenticationException, match="bad signature"):
            signer.authenticate(captured, method=method, target=target, body=body)
