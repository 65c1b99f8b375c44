"""Cursors across a fleet: one secret shared by every instance, rotated without refusals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from cnop.data import BalanceDAO, DataSettings, TransactionManager
from cnop.data.core.cursor import CursorCodec
from cnop.exceptions import CNOPConfigurationException, CNOPValidationException
from cnop.logging.testing import capture_logs

OLD, NEW, OTHER = b"o" * 8 + b"ld-secret-16+", b"n" * 8 + b"ew-secret-16+", b"x" * 24


def _two_pages(settings: DataSettings, user: str) -> str:
    flows = TransactionManager(settings=settings)
    for _ in range(3):
        flows.deposit(user, "1")
    cursor = BalanceDAO(settings=settings).list_transactions(user, limit=2).next_cursor
    assert cursor is not None
    return cursor


def test_page_two_from_another_instance_with_the_same_secret(
    data_settings: DataSettings, make_user: Callable[[], str]
) -> None:
    user = make_user()
    a = replace(data_settings, cursor_secret=NEW)
    b = replace(data_settings, cursor_secret=NEW)
    cursor = _two_pages(a, user)
    assert len(BalanceDAO(settings=b).list_transactions(user, limit=2, cursor=cursor).items) == 1


def test_a_cursor_of_another_secret_is_the_servers_configuration_error(
    data_settings: DataSettings, make_user: Callable[[], str]
) -> None:
    user = make_user()
    cursor = _two_pages(replace(data_settings, cursor_secret=OTHER), user)
    other = BalanceDAO(settings=replace(data_settings, cursor_secret=NEW))
    with pytest.raises(CNOPConfigurationException, match="CNOP_CURSOR_SECRET") as caught:
        other.list_transactions(user, limit=2, cursor=cursor)
    assert caught.value.status_code == 500  # not the client's fault


def test_a_rotation_keeps_the_previous_secrets_cursors(
    data_settings: DataSettings, make_user: Callable[[], str]
) -> None:
    user = make_user()
    cursor = _two_pages(replace(data_settings, cursor_secret=OLD), user)
    rotated = replace(data_settings, cursor_secret=NEW, previous_cursor_secrets=(OLD,))
    page = BalanceDAO(settings=rotated).list_transactions(user, limit=2, cursor=cursor)
    assert len(page.items) == 1


def test_a_tampered_cursor_is_still_the_clients_error() -> None:
    codec = CursorCodec(NEW)
    cursor = codec.encode("scope", {"pk": {"S": "USER#a"}, "sk": {"S": "BALTX#1"}})
    body = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    with pytest.raises(CNOPValidationException, match="cursor"):
        codec.decode("scope", body)
    with pytest.raises(CNOPValidationException):
        codec.decode("other-scope", cursor)


def test_settings_read_the_previous_secret_and_warn_without_a_secret() -> None:
    env = {
        "AWS_REGION": "us-east-1",
        "CNOP_CURSOR_SECRET": NEW.decode(),
        "CNOP_CURSOR_SECRET_PREVIOUS": OLD.decode(),
    }
    settings = DataSettings.from_env(env)
    assert settings.previous_cursor_secrets == (OLD,)
    with pytest.raises(CNOPConfigurationException, match="CNOP_CURSOR_SECRET_PREVIOUS"):
        DataSettings.from_env({**env, "CNOP_CURSOR_SECRET_PREVIOUS": "short"})
    from cnop.data import config

    config._warned.clear()
    with capture_logs() as lines:
        DataSettings.from_env({"AWS_REGION": "us-east-1"})  # real AWS, no shared secret
    assert any("CNOP_CURSOR_SECRET" in line["message"] for line in lines)
    config._warned.clear()
    with capture_logs() as lines:
        DataSettings.from_env(
            {"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8000"}
        )
    assert not any("CNOP_CURSOR_SECRET" in line["message"] for line in lines)
