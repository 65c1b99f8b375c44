"""Signing and verification keys, selected by ``kid``, with a JWKS export."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwk
from jose.backends.base import Key

from cnop.auth.secret_strength import require_strong_secret
from cnop.exceptions import CNOPConfigurationException

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "ES512"})
SUPPORTED_ALGORITHMS = HMAC_ALGORITHMS | ASYMMETRIC_ALGORITHMS
#: RSA moduli below this are refused (NIST SP 800-131A: 1024-bit RSA is disallowed).
MIN_RSA_BITS = 2048
#: The one curve each ECDSA algorithm is defined over (RFC 7518 §3.4).
EC_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
# JWK members that only a private or symmetric key has (RFC 7518 §6.2.2, §6.3.2, §6.4).
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


@dataclass(frozen=True)
class JWTKey:
    """One key: its ``kid``, its one algorithm, and what it can do (sign and/or verify).

    Build with :meth:`hmac` or :meth:`from_pem`; a key never serves another algorithm.
    """

    kid: str | None
    algorithm: str
    verifier: Key
    signer: Key | None

    @classmethod
    def hmac(
        cls,
        secret: str | bytes,
        *,
        algorithm: str = "HS256",
        kid: str | None = None,
        variable: str = "JWT_SECRET_KEY",
    ) -> JWTKey:
        """A shared-secret key; ``variable`` names the secret's setting in error messages."""
        if not isinstance(algorithm, str) or algorithm not in HMAC_ALGORITHMS:
            raise CNOPConfigurationException(
                f"{algorithm!r} is not an HMAC algorithm; use one of {sorted(HMAC_ALGORITHMS)}",
                details={"variable": "JWT_ALGORITHM"},
            )
        raw = require_strong_secret(variable, secret)
        key = _construct(raw, algorithm, variable)
        return cls(
            kid=_check_kid(kid, required=False), algorithm=algorithm, verifier=key, signer=key
        )

    @classmethod
    def from_pem(
        cls, pem: str | bytes, *, algorithm: str, kid: str, variable: str = "JWT_PRIVATE_KEY"
    ) -> JWTKey:
        """An RSA or EC key from PEM: a private key signs and verifies, a public one verifies."""
        if not isinstance(algorithm, str) or algorithm not in ASYMMETRIC_ALGORITHMS:
            raise CNOPConfigurationException(
                f"{algorithm!r} is not an RSA/EC algorithm; use one of "
                f"{sorted(ASYMMETRIC_ALGORITHMS)}",
                details={"variable": "JWT_ALGORITHM"},
            )
        if not pem:
            raise CNOPConfigurationException(
                f"{variable} is not set", details={"variable": variable}
            )
        if not isinstance(pem, (str, bytes)):
            raise CNOPConfigurationException(
                f"{variable} must be PEM text or bytes", details={"variable": variable}
            )
        key = _construct(pem, algorithm, variable)
        _check_asymmetric(key, algorithm, variable)
        is_public = bool(key.is_public())
        verifier = key if is_public else key.public_key()
        return cls(
            kid=_check_kid(kid, required=True),
            algorithm=algorithm,
            verifier=verifier,
            signer=None if is_public else key,
        )

    @classmethod
    def from_jwk(cls, data: Mapping[str, Any], *, variable: str = "JWKS") -> JWTKey:
        """A verify-only key from a public JWK (``kid`` and ``alg`` required).

        Refused: private key material (``d``, RSA primes, a symmetric ``k``), a ``use``
        other than ``sig``, an algorithm outside RS*/ES*, and what :meth:`from_pem`
        refuses (short RSA keys, EC keys off their algorithm's curve).
        """
        if not isinstance(data, Mapping):
            raise CNOPConfigurationException(
                f"{variable} has a key that is not an object", details={"variable": variable}
            )
        kid = data.get("kid")
        algorithm = data.get("alg")
        named = isinstance(kid, str) and kid.isprintable() and len(kid) <= 64
        label = f"{variable} key {kid!r}" if named else variable
        if _PRIVATE_MEMBERS & set(data):
            raise CNOPConfigurationException(
                f"{label} contains private key material: a JWKS must publish public keys only",
                details={"variable": variable},
            )
        if data.get("use", "sig") != "sig":
            raise CNOPConfigurationException(
                f"{label} is not a signature key (use)", details={"variable": variable}
            )
        if not isinstance(algorithm, str) or algorithm not in ASYMMETRIC_ALGORITHMS:
            raise CNOPConfigurationException(
                f"{label} needs an alg among {sorted(ASYMMETRIC_ALGORITHMS)}",
                details={"variable": variable},
            )
        expected_kty = "RSA" if algorithm.startswith("RS") else "EC"
        if data.get("kty") != expected_kty:
            raise CNOPConfigurationException(
                f"{label}: {algorithm} needs kty {expected_kty}", details={"variable": variable}
            )
        key = _construct(dict(data), algorithm, label)
        _check_asymmetric(key, algorithm, label)
        if not key.is_public():
            raise CNOPConfigurationException(
                f"{label} contains private key material", details={"variable": variable}
            )
        return cls(
            kid=_check_kid(kid, required=True), algorithm=algorithm, verifier=key, signer=None
        )

    def public_jwk(self) -> dict[str, Any]:
        """The public key as a JWK (for a JWKS endpoint). HMAC keys have no public form."""
        if self.algorithm in HMAC_ALGORITHMS:
            raise CNOPConfigurationException("An HMAC key is secret and has no public JWK")
        data: dict[str, Any] = dict(self.verifier.to_dict())
        data.update({"kid": self.kid, "use": "sig", "alg": self.algorithm})
        return data


class KeySet:
    """The key that signs new tokens plus older keys that still verify (rotation).

    >>> keys = KeySet(JWTKey.from_pem(new_private_pem, algorithm="RS256", kid="2026-11"),
    ...               [JWTKey.from_pem(old_public_pem, algorithm="RS256", kid="2026-05")])
    """

    def __init__(self, signing: JWTKey | None, verify_only: Iterable[JWTKey] = ()) -> None:
        try:
            verify_only = tuple(verify_only)
        except TypeError:
            raise CNOPConfigurationException(
                "KeySet verify_only must be an iterable of JWTKey objects"
            ) from None
        everything = verify_only if signing is None else (signing, *verify_only)
        if not all(isinstance(k, JWTKey) for k in everything):
            raise CNOPConfigurationException("KeySet takes JWTKey objects (JWTKey.hmac/from_pem)")
        if signing is not None and signing.signer is None:
            raise CNOPConfigurationException(
                f"The signing key {signing.kid!r} is a public key; a private key is needed"
            )
        self._signing = signing
        self._by_kid: dict[str | None, JWTKey] = {}
        for key in everything:
            if key.kid in self._by_kid:
                raise CNOPConfigurationException(f"Two keys share the kid {key.kid!r}")
            self._by_kid[key.kid] = key
        self._algorithms = frozenset(k.algorithm for k in self._by_kid.values())

    @classmethod
    def verifying(cls, keys: Iterable[JWTKey]) -> KeySet:
        """Keys that only verify (a service that trusts the auth service's public keys)."""
        return cls(None, keys)

    @property
    def can_sign(self) -> bool:
        return self._signing is not None

    @property
    def signing_key(self) -> JWTKey:
        """The key that signs new tokens (a verify-only set raises a configuration error)."""
        if self._signing is None:
            raise CNOPConfigurationException(
                "These keys only verify: this TokenManager cannot issue tokens "
                "(issue them at the auth service, which holds the private key)"
            )
        return self._signing

    @property
    def algorithms(self) -> frozenset[str]:
        """The allow-list: only these ``alg`` values are ever verified."""
        return self._algorithms

    def for_kid(self, kid: str | None) -> JWTKey | None:
        """The key named ``kid`` (``None``: the one key without a kid), if there is one.

        A ``kid`` that is neither text nor ``None`` names no key.
        """
        # Checked, not trusted to the annotation: a list would raise TypeError (unhashable).
        return self._by_kid.get(kid) if _may_name_a_key(kid) else None

    def jwks(self) -> dict[str, Any]:
        """``{"keys": [...]}`` with the public part of every RSA/EC key, signing key first."""
        return {
            "keys": [
                key.public_jwk()
                for key in self._by_kid.values()
                if key.algorithm in ASYMMETRIC_ALGORITHMS
            ]
        }


def _construct(material: str | bytes | dict[str, Any], algorithm: str, variable: str) -> Key:
    try:
        return jwk.construct(material, algorithm)
    except Exception as exc:
        # The library's message may quote the key material: never pass it on.
        raise CNOPConfigurationException(
            f"{variable} is not a usable {algorithm} key", details={"variable": variable}
        ) from exc


def _check_asymmetric(key: Key, algorithm: str, variable: str) -> None:
    """Refuse a key too weak for, or not made for, ``algorithm``; then prove it works.

    python-jose accepts a 1024-bit RSA key and an EC key on any curve, and only fails later:
    on every signature (ES512 with a P-256 key) or in the JWKS export (secp256k1).
    """
    prepared = getattr(key, "prepared_key", None)
    if algorithm.startswith("RS"):
        if not isinstance(prepared, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
            raise _unusable(variable, algorithm, "it is not an RSA key")
        if prepared.key_size < MIN_RSA_BITS:
            raise _unusable(
                variable,
                algorithm,
                f"the RSA key has {prepared.key_size} bits, at least {MIN_RSA_BITS} are required",
            )
    else:
        if not isinstance(prepared, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
            raise _unusable(variable, algorithm, "it is not an EC key")
        wanted = EC_CURVES[algorithm]
        if prepared.curve.name != wanted:
            raise _unusable(
                variable,
                algorithm,
                f"the key is on curve {prepared.curve.name}, {algorithm} needs "
                f"{_CURVE_NAMES[wanted]} ({wanted})",
            )
    try:
        # A start-up self-test: whatever else the library dislikes fails here, not at login.
        public = key if key.is_public() else key.public_key()
        public.to_dict()
        if not key.is_public():
            probe = b"cnop-auth key check"
            if not public.verify(probe, key.sign(probe)):
                raise ValueError("self-test signature did not verify")
    except Exception as exc:
        raise _unusable(variable, algorithm, "it failed a signing self-test") from exc


def _unusable(variable: str, algorithm: str, why: str) -> CNOPConfigurationException:
    return CNOPConfigurationException(
        f"{variable} is not a usable {algorithm} key: {why}", details={"variable": variable}
    )


def _may_name_a_key(kid: object) -> bool:
    return kid is None or isinstance(kid, str)


def _check_kid(kid: str | None, *, required: bool) -> str | None:
    if kid is None and not required:
        return None
    if not isinstance(kid, str) or not 1 <= len(kid) <= 64 or not kid.isprintable():
        raise CNOPConfigurationException("A key id (kid) must be 1-64 printable characters")
    return kid
