"""Start-up checks for shared secrets (JWT signing key, gateway HMAC key)."""

from __future__ import annotations

import math

from cnop.exceptions import CNOPConfigurationException

MIN_SECRET_BYTES = 32
#: What an HMAC key must be estimated to hold at least (NIST SP 800-107: the security of
#: HMAC is bounded by the key's entropy; 128 bits is the floor for new keys).
MIN_ESTIMATED_BITS = 128

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

    Refused: not text or bytes, text with no UTF-8 form or with whitespace around it,
    missing or empty, shorter than 32 bytes, a known placeholder, a filler with almost no
    distinct characters, or an estimated entropy under 128 bits (see
    :func:`estimated_entropy_bits`). The message never contains the value.
    """
    if value is not None and not isinstance(value, (str, bytes)):
        raise CNOPConfigurationException(
            f"{variable} must be text or bytes", details={"variable": variable}
        )
    if value is None or len(value) == 0:
        raise CNOPConfigurationException(f"{variable} is not set", details={"variable": variable})
    if isinstance(value, str) and value != value.strip():
        # Almost always a newline kept from a file or a paste: a service that strips it
        # and one that does not would hold different keys, and refuse each other's tokens.
        raise CNOPConfigurationException(
            f"{variable} has leading or trailing whitespace (a newline from a file?); remove it",
            details={"variable": variable},
        )
    try:
        raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    except UnicodeEncodeError:
        # An unpaired surrogate (from a JSON "\ud800" escape, say) has no UTF-8 form.
        raise CNOPConfigurationException(
            f"{variable} is not valid text: it contains an unpaired surrogate",
            details={"variable": variable},
        ) from None
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
    bits = estimated_entropy_bits(raw)
    if bits < MIN_ESTIMATED_BITS:
        raise CNOPConfigurationException(
            f"{variable} looks typed rather than random (repeated blocks, runs, few distinct "
            f"characters or one kind of character): about {int(bits)} bits of entropy, at "
            f"least {MIN_ESTIMATED_BITS} are required; generate it with "
            "secrets.token_urlsafe(32)",
            details={"variable": variable},
        )
    return raw


def estimated_entropy_bits(raw: bytes) -> float:
    """A deliberately pessimistic estimate of how many random bits ``raw`` holds.

    Each byte that a simple guesser could not predict counts for ``log2`` of the alphabet
    its character classes imply (digits 10, lower case 26, upper case 26, ASCII symbols 32,
    any other byte 161; hex digits alone 16). A byte is predictable when it continues a run
    of constant step ("aaaa", "abcd", "9876") or completes a three-byte sequence seen
    earlier (a repeated block). A value of a single class (only letters of one case, only
    digits) is what people type (words, numbers), so it counts half. A random 32-byte key,
    raw, hex or base64, estimates above 200 bits; "abcdefgh" * 4 about 10.
    """
    alphabet = _alphabet_size(raw)
    if alphabet < 2:
        return 0.0
    per_byte = math.log2(alphabet)
    if _classes(raw) in _SINGLE_CLASSES:
        per_byte /= 2
    seen: set[bytes] = set()
    surprising = 0
    for i, byte in enumerate(raw):
        if i >= 2:
            gram = raw[i - 2 : i + 1]
            run = byte - raw[i - 1] == raw[i - 1] - raw[i - 2]
            repeated = gram in seen
            seen.add(gram)
            if run or repeated:
                continue
        surprising += 1
    return surprising * per_byte


_DIGITS = frozenset(b"0123456789")
_LOWER = frozenset(b"abcdefghijklmnopqrstuvwxyz")
_UPPER = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SYMBOLS = frozenset(range(0x21, 0x7F)) - _DIGITS - _LOWER - _UPPER
_CLASS_SIZES = {"digits": 10, "lower": 26, "upper": 26, "symbols": 32, "other": 161}
_SINGLE_CLASSES = (frozenset({"digits"}), frozenset({"lower"}), frozenset({"upper"}))
_HEX = (_DIGITS | frozenset(b"abcdef"), _DIGITS | frozenset(b"ABCDEF"))


def _classes(raw: bytes) -> frozenset[str]:
    present = set(raw)
    found = {
        name
        for name, members in (
            ("digits", _DIGITS),
            ("lower", _LOWER),
            ("upper", _UPPER),
            ("symbols", _SYMBOLS),
        )
        if present & members
    }
    if present - _DIGITS - _LOWER - _UPPER - _SYMBOLS:
        found.add("other")
    return frozenset(found)


def _alphabet_size(raw: bytes) -> int:
    present = set(raw)
    if any(present <= hex_digits for hex_digits in _HEX) and not present <= _DIGITS:
        return 16
    return sum(_CLASS_SIZES[name] for name in _classes(raw))
