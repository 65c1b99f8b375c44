"""Region and endpoint: resolved and checked as every CNOP package does (cnop.exceptions.aws)."""

from __future__ import annotations

from typing import Any

import pytest

from cnop.data import DataSettings, dynamodb_client
from cnop.exceptions import CNOPConfigurationException, dynamodb_endpoint_url, find_aws_region
from cnop.exceptions.aws import DYNAMODB_ENDPOINT_VARIABLES, REGION_VARIABLES

LOCAL = "http://127.0.0.1:8000"


def test_only_aws_region_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    # What the process environment says is not what these settings say: theirs wins.
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", LOCAL)
    monkeypatch.setenv("AWS_ENDPOINT_URL", LOCAL)
    settings = DataSettings.from_env({"AWS_REGION": "eu-west-1"})
    assert (settings.region, settings.endpoint_url) == ("eu-west-1", None)
    client = dynamodb_client(settings)
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.endpoint_url == "https://dynamodb.eu-west-1.amazonaws.com"


def test_only_aws_default_region_is_enough() -> None:
    settings = DataSettings.from_env({"AWS_DEFAULT_REGION": "ap-southeast-2"})
    assert settings.region == "ap-southeast-2"
    assert dynamodb_client(settings).meta.region_name == "ap-southeast-2"


def test_aws_region_wins_over_aws_default_region_and_an_override_over_both() -> None:
    env = {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-1"}
    assert DataSettings.from_env(env).region == "eu-west-1"
    assert DataSettings.from_env(env, region="us-gov-west-1").region == "us-gov-west-1"


def test_the_endpoint_comes_from_either_botocore_variable() -> None:
    region = {"AWS_REGION": "us-east-1"}
    assert DataSettings.from_env({**region, "AWS_ENDPOINT_URL": LOCAL}).endpoint_url == LOCAL
    both = {**region, "AWS_ENDPOINT_URL": "http://other:1", "AWS_ENDPOINT_URL_DYNAMODB": LOCAL}
    settings = DataSettings.from_env(both)
    assert settings.endpoint_url == LOCAL
    assert dynamodb_client(settings).meta.endpoint_url == LOCAL
    # An explicit endpoint_url wins, and None means AWS's own endpoint.
    assert DataSettings.from_env(both, endpoint_url="http://x:2").endpoint_url == "http://x:2"
    aws = DataSettings.from_env(both, endpoint_url=None)
    assert aws.endpoint_url is None
    assert dynamodb_client(aws).meta.endpoint_url == "https://dynamodb.us-east-1.amazonaws.com"


ENVIRONMENTS: list[dict[str, str]] = [
    {"AWS_REGION": "eu-west-1"},
    {"AWS_DEFAULT_REGION": "eu-central-2"},
    {"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "eu-west-1"},
    {"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": LOCAL},
    {
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_DYNAMODB": LOCAL,
        "AWS_ENDPOINT_URL": "http://a:1",
    },
]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_one_resolution_for_every_package(env: dict[str, str]) -> None:
    settings = DataSettings.from_env(env)
    assert settings.region == find_aws_region(env)
    assert settings.endpoint_url == dynamodb_endpoint_url(env)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_same_as_the_dynamodb_lock_backend(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    locking = pytest.importorskip("cnop.locking.dynamodb_backend")
    for name in (*REGION_VARIABLES, *DYNAMODB_ENDPOINT_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    backend = locking.DynamoDBLockBackend.connect("locks")
    ours = dynamodb_client(DataSettings.from_env())
    assert backend.region == ours.meta.region_name
    assert backend._client.meta.endpoint_url == ours.meta.endpoint_url


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"AWS_REGION": "us-east-1\n"}, "AWS_REGION"),
        ({"AWS_REGION": " us-east-1"}, "AWS_REGION"),
        ({"AWS_REGION": "us-east-1\x00"}, "AWS_REGION"),
        ({"AWS_REGION": "US-EAST-1"}, "AWS_REGION"),
        ({"AWS_REGION": "us-east-\u0661"}, "AWS_REGION"),  # an Arabic-Indic digit
        ({"AWS_REGION": "us-east-\uff11"}, "AWS_REGION"),  # a fullwidth digit
        ({"AWS_REGION": "us-\u0435ast-1"}, "AWS_REGION"),  # a Cyrillic 'e'
        ({"AWS_REGION": "x" * 10_000}, "AWS_REGION"),
        ({"AWS_REGION": ""}, "AWS_REGION"),  # set but empty is refused, not skipped
        ({"AWS_DEFAULT_REGION": "eu-west-1\r\n"}, "AWS_DEFAULT_REGION"),
        ({"AWS_REGION": "us-east-1 ", "AWS_DEFAULT_REGION": "eu-west-1"}, "AWS_REGION"),
        ({}, "AWS_REGION"),
    ],
)
def test_a_bad_or_missing_region_names_its_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(CNOPConfigurationException, match=variable) as info:
        DataSettings.from_env(env)
    assert info.value.details["variable"] == variable


SECRET = "hunter2-s3cret"
BAD_ENDPOINTS = [
    f"http://admin:{SECRET}@localhost:8000",
    f"https://{SECRET}@dynamodb.internal",
    f"http://localhost:8000/?token={SECRET}",
    f"http://localhost:8000\n{SECRET}",
    f" http://{SECRET}:8000",
    f"ftp://{SECRET}.example",
    f"http://{SECRET}\u0430.example",  # a Cyrillic 'a'
    f"http://{SECRET}:0",
    f"http://{SECRET}:99999",
    "http://" + SECRET * 300,
    "",
]


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"])
@pytest.mark.parametrize("url", BAD_ENDPOINTS)
def test_a_bad_endpoint_names_its_variable_and_never_echoes_it(variable: str, url: str) -> None:
    with pytest.raises(CNOPConfigurationException, match=variable) as info:
        DataSettings.from_env({"AWS_REGION": "us-east-1", variable: url})
    assert info.value.details["variable"] == variable
    text = f"{info.value} {info.value!r} {info.value.details}"
    assert SECRET not in text


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"region": "us-east-1\n"}, "region"),
        ({"region": "eu-west-\uff11"}, "region"),
        ({"region": 1}, "region"),
        ({"endpoint_url": f"http://u:{SECRET}@localhost:8000"}, "endpoint_url"),
        ({"endpoint_url": f"http://localhost:8000 {SECRET}"}, "endpoint_url"),
        ({"endpoint_url": ""}, "endpoint_url"),
        ({"endpoint_url": 8000}, "endpoint_url"),
    ],
)
def test_overrides_and_the_constructor_are_checked_the_same_way(
    overrides: dict[str, Any], field: str
) -> None:
    env = {"AWS_REGION": "us-east-1"}
    with pytest.raises(CNOPConfigurationException, match=rf"^{field} ") as info:
        DataSettings.from_env(env, **overrides)
    assert info.value.details["variable"] == field
    assert SECRET not in f"{info.value} {info.value!r} {info.value.details}"
    direct = {"region": "us-east-1", **overrides}
    with pytest.raises(CNOPConfigurationException, match=rf"^{field} ") as info:
        DataSettings(**direct)
    assert SECRET not in f"{info.value} {info.value!r} {info.value.details}"


def test_a_good_override_hides_a_bad_environment_value() -> None:
    env = {"AWS_REGION": "bad region", "AWS_ENDPOINT_URL_DYNAMODB": "not a url"}
    settings = DataSettings.from_env(env, region="eu-west-1", endpoint_url=LOCAL)
    assert (settings.region, settings.endpoint_url) == ("eu-west-1", LOCAL)


def test_a_missing_region_in_the_constructor_says_what_to_set() -> None:
    for region in ("", None):
        with pytest.raises(CNOPConfigurationException, match="AWS_REGION must be set"):
            DataSettings(region=region)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (["--region", "us-east-1\n"], {}, "--region must be an AWS region name"),
        (["--region", "us-east-1", "--endpoint", f"http://u:{SECRET}@h:1"], {}, "--endpoint must"),
        ([], {"AWS_DEFAULT_REGION": "eu-west-\uff11"}, "AWS_DEFAULT_REGION (or --region) must"),
        (
            [],
            {"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://{SECRET}@h"},
            "AWS_ENDPOINT_URL",
        ),
        ([], {}, "AWS_REGION must be set"),
    ],
)
def test_the_cli_names_the_variable_or_flag_and_never_echoes_the_url(
    argv: list[str],
    env: dict[str, str],
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cnop.data.cli import main

    for name in (*REGION_VARIABLES, *DYNAMODB_ENDPOINT_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["tables", "describe", *argv]) == 1
    err = capsys.readouterr().err
    assert expected in err
    assert SECRET not in err
