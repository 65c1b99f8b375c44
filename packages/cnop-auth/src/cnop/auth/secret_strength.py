"""Start-up checks for shared secrets (JWT signing key, gateway HMAC key)."""

from __future__ import annotations

from cnop.exceptions import CNOPConfigurationException

MIN_SECRET_BYTES = 32

# Values copied from sample configs and tutorials; a secret containing one is not a secret.
_PLACEHOLDER_FRAGMENTS = (
    "changeme",
    "change-me",
    "change_me",
    "change-in-production",
    "change_in_production",
    "changeinproduction",
    "your-secret",
    "your_secret",
    "yoursecret",
    "replace-me",
    "replace_me",
    "placeholder",
    "secret-key-here",
    "dev-secret",
    "test-secret",
    "example",
)
# Fewer distinct characters than this means a typed filler ("aaaa...", "1234..."), not a key.
_MIN_DISTINCT_CHARACTERS = 8


def require_strong_secret(variable: str, value: str | bytes | None) -> bytes:
    """Return ``value`` as bytes, or raise ``CNOPConfigurationException`` naming ``variable``.

    Refused: missing or empty, shorter than 32 bytes, a known placeholder, or a filler with
    almost no distinct characters. The message never contains the value.
    """
    if value is not None and not isinstance(value, (str, bytes)):
        raise CNOPConfigurationException(
            f"{variable} must be text or bytes", details={"variable": variable}
        )
    if value is None or len(value) == 0:
        raise CNOPConfigurationException(f"{variable} is not set", details={"variable": variable})
    raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    if len(raw) < MIN_SECRET_BYTES:
        raise CNOPConfigurationException(
            f"{variable} is too short: it has {len(raw)} bytes, at least {MIN_SECRET_BYTES} "
            "random bytes are required",
            details={"variable": variable},
        )
    lowered = raw.decode("utf-8", errors="replace").lower()
    if any(fragment in lowered for fragment in _PLACEHOLDER_FRAGMENTS):
        raise CNOPConfigurationException(
            f"{variable} is a placeholder value; set a random secret",
            details={"variable": variable},
        )
    if len(set(raw)) < _MIN_DISTINCT_CHARACTERS:
        raise CNOPConfigurationException(
            f"{variable} has too few distinct characters to be a random secret",
            details={"variable": variable},
        )
    return raw
