"""PasswordManager: hashing, verification, upgrades, limits, async variants."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from cnop.auth import PasswordManager
from cnop.exceptions import (
    CNOPConfigurationException,
    CNOPInvalidCredentialsException,
    CNOPValidationException,
)

GOOD = "Correct-Horse-9x"


def test_default_is_bcrypt_cost_12_and_round_trips() -> None:
    manager = PasswordManager()
    stored = manager.hash_password(GOOD)
    assert stored.startswith("$2b$12$")
    assert manager.verify_password(GOOD, stored)
    assert not manager.verify_password(GOOD + "!", stored)


def test_hashes_are_salted(fast_passwords: PasswordManager) -> None:
    assert fast_passwords.hash_password(GOOD) != fast_passwords.hash_password(GOOD)


@pytest.mark.parametrize("bad", [None, 123, b"bytes-password", ["x"]])
def test_non_string_password_is_a_validation_error(
    fast_passwords: PasswordManager, bad: Any
) -> None:
    with pytest.raises(CNOPValidationException, match="password: must be a string"):
        fast_passwords.hash_password(bad)
    with pytest.raises(CNOPValidationException, match="password: must be a string"):
        fast_passwords.verify_password(bad, fast_passwords.hash_password(GOOD))


def test_empty_password_is_a_validation_error(fast_passwords: PasswordManager) -> None:
    with pytest.raises(CNOPValidationException, match="must not be empty") as caught:
        fast_passwords.hash_password("")
    assert caught.value.errors == [{"field": "password", "message": "must not be empty"}]


def test_non_string_stored_hash_is_a_validation_error(fast_passwords: PasswordManager) -> None:
    with pytest.raises(CNOPValidationException, match="hashed_password"):
        fast_passwords.verify_password(GOOD, None)  # type: ignore[arg-type]


def test_password_over_72_bytes_is_refused_not_truncated(
    fast_passwords: PasswordManager,
) -> None:
    exactly = "a" * 71 + "B"
    assert fast_passwords.verify_password(exactly, fast_passwords.hash_password(exactly))
    # 70 ASCII + 'é' (2 bytes) + 'x' = 73 bytes in 72 characters: bytes are what count.
    too_long = "a" * 70 + "éx"
    assert len(too_long) == 72
    with pytest.raises(CNOPValidationException, match="73 bytes long; at most 72"):
        fast_passwords.hash_password(too_long)


def test_long_password_verifies_false_against_its_72_byte_prefix(
    fast_passwords: PasswordManager,
) -> None:
    prefix = "P@ssw0rd-" + "x" * 63
    stored = fast_passwords.hash_password(prefix)
    # A truncating implementation would accept these; we must not.
    assert fast_passwords.verify_password(prefix + "anything", stored) is False
    assert fast_passwords.verify_and_update(prefix + "y" * 5000, stored) == (False, None)


def test_nul_character_is_refused_on_hash_and_false_on_verify(
    fast_passwords: PasswordManager,
) -> None:
    with pytest.raises(CNOPValidationException, match="NUL"):
        fast_passwords.hash_password("abc\x00def-GHI-123")
    stored = fast_passwords.hash_password("abc")
    assert fast_passwords.verify_password("abc\x00def", stored) is False


def test_unpaired_surrogate_is_refused_on_hash_and_false_on_verify(
    fast_passwords: PasswordManager,
) -> None:
    # JSON allows "\ud800"; such a str has no UTF-8 form, so no hash can ever hold it.
    with pytest.raises(CNOPValidationException, match="surrogate"):
        fast_passwords.hash_password("Correct-Horse-9\ud800")
    stored = fast_passwords.hash_password(GOOD)
    assert fast_passwords.verify_and_update(GOOD + "\udfff", stored) == (False, None)
    with pytest.raises(CNOPInvalidCredentialsException):
        fast_passwords.authenticate("alice_01", "\ud800", stored)


@pytest.mark.parametrize(
    "stored", ["", "not-a-hash", "$2b$04$short", "$argon2id$v=19$garbage", "$1$md5$abc"]
)
def test_corrupt_or_unknown_stored_hash_is_false(
    fast_passwords: PasswordManager, stored: str
) -> None:
    assert fast_passwords.verify_and_update(GOOD, stored) == (False, None)


def test_lower_cost_hash_is_upgraded_on_login_and_higher_is_left_alone() -> None:
    weak = PasswordManager(bcrypt_rounds=4)
    strong = PasswordManager(bcrypt_rounds=5)
    old = weak.hash_password(GOOD)
    matches, new = strong.verify_and_update(GOOD, old)
    assert matches
    assert new is not None
    assert new.startswith("$2b$05$")
    assert strong.verify_and_update(GOOD, new) == (True, None)
    # A configured cost below the stored one never "upgrades" downwards.
    assert weak.verify_and_update(GOOD, new) == (True, None)


def test_wrong_password_never_yields_a_new_hash() -> None:
    old = PasswordManager(bcrypt_rounds=4).hash_password(GOOD)
    assert PasswordManager(bcrypt_rounds=5).verify_and_update("wrong", old) == (False, None)


def test_argon2id_default_upgrades_old_bcrypt_hashes() -> None:
    bcrypt_only = PasswordManager(bcrypt_rounds=4)
    migrating = PasswordManager(("argon2", "bcrypt"), bcrypt_rounds=4)
    old = bcrypt_only.hash_password(GOOD)
    matches, new = migrating.verify_and_update(GOOD, old)
    assert matches
    assert new is not None
    assert new.startswith("$argon2id$")
    assert migrating.verify_and_update(GOOD, new) == (True, None)
    # Old bcrypt hashes still refuse wrong or over-long passwords under the new default.
    assert migrating.verify_password(GOOD + "x" * 80, old) is False
    assert migrating.max_password_bytes > 72
    long_password = "Long-Passphrase-1 " * 10
    assert migrating.verify_password(long_password, migrating.hash_password(long_password))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"schemes": ()}, "at least one"),
        ({"schemes": ("md5_crypt",)}, "Unsupported"),
        ({"schemes": ("bcrypt", "bcrypt")}, "repeated"),
        ({"bcrypt_rounds": 3}, "4-31"),
        ({"bcrypt_rounds": "12"}, "integer"),
    ],
)
def test_bad_configuration_is_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(CNOPConfigurationException, match=message):
        PasswordManager(**kwargs)


def test_authenticate_returns_upgrade_and_refuses_wrong_or_unknown() -> None:
    old = PasswordManager(bcrypt_rounds=4).hash_password(GOOD)
    manager = PasswordManager(bcrypt_rounds=5)
    new = manager.authenticate("alice_01", GOOD, old)
    assert new is not None
    assert manager.verify_password(GOOD, new)
    with pytest.raises(CNOPInvalidCredentialsException) as wrong:
        manager.authenticate("alice_01", "nope", old)
    with pytest.raises(CNOPInvalidCredentialsException) as unknown:
        manager.authenticate("nobody_99", GOOD, None)
    # Deliberately indistinguishable to the caller.
    assert str(wrong.value) == str(unknown.value) == "Invalid username or password"


async def test_async_variants_match_the_sync_core(fast_passwords: PasswordManager) -> None:
    stored = await fast_passwords.hash_password_async(GOOD)
    assert await fast_passwords.verify_password_async(GOOD, stored)
    assert not await fast_passwords.verify_password_async("other", stored)
    assert await fast_passwords.verify_and_update_async(GOOD, stored) == (True, None)
    assert await fast_passwords.authenticate_async("alice_01", GOOD, stored) is None
    with pytest.raises(CNOPValidationException):
        await fast_passwords.hash_password_async("a" * 100)


async def test_async_hashing_leaves_the_event_loop_free() -> None:
    manager = PasswordManager()  # default cost 12: tens of milliseconds per verification
    stored = manager.hash_password(GOOD)
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    results = await asyncio.gather(*(manager.verify_password_async(GOOD, stored) for _ in range(4)))
    done.set()
    await task
    assert results == [True] * 4
    # A blocked loop would tick once or twice; a free one ticks throughout the hashing.
    assert ticks >= 5


async def test_many_concurrent_async_verifications_are_all_correct(
    fast_passwords: PasswordManager,
) -> None:
    passwords = [f"User-{i}-Secret!" for i in range(16)]
    stored = [fast_passwords.hash_password(p) for p in passwords]
    checks = [
        fast_passwords.verify_password_async(passwords[i], stored[j])
        for i in range(16)
        for j in (i, (i + 1) % 16)
    ]
    results = await asyncio.gather(*checks)
    assert results == [True, False] * 16


def test_threads_share_one_manager_safely(fast_passwords: PasswordManager) -> None:
    errors: list[BaseException] = []
    outcomes: list[bool] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        try:
            password = f"Thread-{i}-Pw!"
            stored = fast_passwords.hash_password(password)
            ok = fast_passwords.verify_password(password, stored) and not (
                fast_passwords.verify_password(password + "x", stored)
            )
            with lock:
                outcomes.append(ok)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert outcomes == [True] * 12


def test_unusable_stored_hash_is_logged_without_the_hash(
    audit_lines: Any, fast_passwords: PasswordManager
) -> None:
    corrupt = "$2b$04$" + "!" * 53
    assert fast_passwords.verify_password(GOOD, corrupt) is False
    assert fast_passwords.verify_password(GOOD, "plain-text-password-in-db") is False
    reasons = [r.get("reason") for r in audit_lines.records() if r.get("action") == "auth_failed"]
    assert len(reasons) == 2
    assert "plain-text-password-in-db" not in audit_lines.text()
    assert corrupt not in audit_lines.text()
