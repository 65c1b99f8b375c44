"""DataSettings and TableNames take exactly what they say."""

from __future__ import annotations

from typing import Any

import pytest

from cnop.data import DataSettings, TableNames
from cnop.exceptions import CNOPConfigurationException


@pytest.mark.parametrize("bad", ["users\n", "users\r\n", " users", "users\x00", "us", "ü-users"])
def test_a_table_name_from_the_environment_must_be_exactly_a_table_name(bad: str) -> None:
    with pytest.raises(CNOPConfigurationException, match="USERS_TABLE"):
        TableNames.from_env("", {"USERS_TABLE": bad})


@pytest.mark.parametrize("bad", ["x" * 256, 5, None, b"users"])
def test_a_table_name_must_be_text_of_a_table_name(bad: Any) -> None:
    with pytest.raises(CNOPConfigurationException, match="ORDERS_TABLE"):
        TableNames(orders=bad)


OTHER_DIGITS = ["\u0661\u0660", "\uff11\uff10"]  # Arabic-Indic and fullwidth "10"


@pytest.mark.parametrize("bad", [*OTHER_DIGITS, "1_0", " 5", "5\n", "nan", "inf", "-1", "1e3", ""])
def test_numeric_settings_take_ascii_digits_only(bad: str) -> None:
    with pytest.raises(CNOPConfigurationException, match="CNOP_DYNAMODB_READ_TIMEOUT"):
        DataSettings.from_env(
            environ={"AWS_REGION": "us-east-1", "CNOP_DYNAMODB_READ_TIMEOUT": bad}
        )


def test_max_attempts_counts_sends_not_retries() -> None:
    settings = DataSettings.from_env(region="us-east-1", max_attempts=1)
    retries = settings.botocore_config().retries
    assert retries is not None
    assert retries.get("total_max_attempts") == 1
    assert "max_attempts" not in retries
