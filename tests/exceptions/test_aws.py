"""One resolution of the AWS region and the DynamoDB endpoint for every package."""

from __future__ import annotations

import pytest

from cnop.exceptions import (
    CNOPConfigurationException,
    aws_region,
    dynamodb_endpoint_url,
    find_aws_region,
)


def test_an_explicit_region_wins_then_aws_region_then_aws_default_region() -> None:
    both = {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-1"}
    assert aws_region(both, "ap-south-1") == "ap-south-1"
    assert aws_region(both) == "eu-west-1"
    assert aws_region({"AWS_DEFAULT_REGION": "us-east-1"}) == "us-east-1"
    assert find_aws_region({}) is None


def test_the_environment_is_read_when_no_mapping_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-north-1")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    assert aws_region() == "eu-north-1"


@pytest.mark.parametrize(
    "region",
    [
        "us-east-1",
        "eu-central-2",
        "us-gov-west-1",
        "cn-northwest-1",
        "us-isob-east-1",
        "ap-southeast-5",
        "eusc-de-east-1",
    ],
)
def test_real_region_names_are_accepted(region: str) -> None:
    assert aws_region({"AWS_REGION": region}) == region


def test_a_missing_region_names_aws_region() -> None:
    with pytest.raises(CNOPConfigurationException, match="set AWS_REGION") as caught:
        aws_region({})
    assert caught.value.details["variable"] == "AWS_REGION"


HOSTILE_REGIONS = [
    "",
    " ",
    "us-east-1\n",
    "\nus-east-1",
    " us-east-1",
    "us-east-1 ",
    "us-east-1\x00",
    "us-east-\x001",
    "US-EAST-1",
    "us-east-\u0661",  # an Arabic-Indic digit one
    "us-east-\uff11",  # a fullwidth digit one
    "us-e\u0430st-1",  # a Cyrillic a
    "us-east-1\ud800",  # a lone surrogate
    "us-east",
    "useast1",
    "us-east-123",
    "us-east-1.evil.com",
    "../us-east-1",
    "local",
    "x" * 100_000,
    "us-" + "east-" * 10_000 + "1",
]


@pytest.mark.parametrize("value", HOSTILE_REGIONS)
@pytest.mark.parametrize("variable", ["AWS_REGION", "AWS_DEFAULT_REGION"])
def test_a_bad_region_in_the_environment_is_refused_naming_the_variable(
    value: str, variable: str
) -> None:
    with pytest.raises(CNOPConfigurationException) as caught:
        aws_region({variable: value})
    assert caught.value.details["variable"] == variable
    assert str(caught.value).startswith(variable)
    assert len(str(caught.value)) < 200  # a huge value is not echoed whole


@pytest.mark.parametrize("value", HOSTILE_REGIONS)
def test_a_bad_explicit_region_is_refused_naming_the_argument(value: str) -> None:
    with pytest.raises(CNOPConfigurationException, match=r"^region_name"):
        aws_region({"AWS_REGION": "us-east-1"}, value)


def test_a_set_but_bad_aws_region_is_not_skipped_for_aws_default_region() -> None:
    # A typo must be reported, not silently replaced by another region.
    with pytest.raises(CNOPConfigurationException, match="AWS_REGION"):
        aws_region({"AWS_REGION": "us-east-1 ", "AWS_DEFAULT_REGION": "eu-west-1"})


def test_whitespace_is_named_as_the_problem() -> None:
    with pytest.raises(CNOPConfigurationException, match="whitespace or control"):
        aws_region({"AWS_REGION": "us-east-1\n"})


@pytest.mark.parametrize("value", [1, b"us-east-1", ["us-east-1"], True, 1.5])
def test_a_region_that_is_not_text_is_refused(value: object) -> None:
    with pytest.raises(CNOPConfigurationException, match="must be text"):
        aws_region({}, value)
    with pytest.raises(CNOPConfigurationException, match="AWS_REGION must be text"):
        aws_region({"AWS_REGION": value})  # type: ignore[dict-item]


def test_endpoint_order_explicit_then_dynamodb_then_generic() -> None:
    env = {
        "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8000",
        "AWS_ENDPOINT_URL": "http://localhost:4566",
    }
    assert dynamodb_endpoint_url(env, "https://dynamodb.example.com") == (
        "https://dynamodb.example.com"
    )
    assert dynamodb_endpoint_url(env) == "http://127.0.0.1:8000"
    assert dynamodb_endpoint_url({"AWS_ENDPOINT_URL": "http://localhost:4566"}) == (
        "http://localhost:4566"
    )
    assert dynamodb_endpoint_url({}) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8000",
        "https://dynamodb.eu-west-1.amazonaws.com",
        "http://[::1]:8000",
        "HTTP://127.0.0.1:8000/",
        "http://proxy.internal:8080/dynamodb",
    ],
)
def test_good_endpoints_are_accepted_as_they_are(url: str) -> None:
    assert dynamodb_endpoint_url({"AWS_ENDPOINT_URL_DYNAMODB": url}) == url


SECRET = "s3cr3t-Passw0rd"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "empty"),
        (" http://localhost:8000", "whitespace"),
        ("http://localhost:8000\n", "whitespace"),
        ("http://local host:8000", "whitespace"),
        ("http://localhost:8000\x00", "control"),
        ("http://localhost:8000\u2028", "whitespace"),
        ("http://\uff4cocalhost:8000", "ASCII"),  # a fullwidth l
        ("http://localhost:8000\ud800", "ASCII"),  # a lone surrogate
        ("localhost:8000", "http:// or https://"),
        ("ftp://localhost:8000", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("http://", "host"),
        ("http://:8000", "host"),
        ("http://-bad-.example", "host"),
        ("http://localhost:99999", "valid URL"),
        ("http://localhost:0", "port"),
        ("http://localhost:port", "valid URL"),
        ("http://[::1", "valid URL"),
        ("http://localhost:8000/?x=1", "query"),
        ("http://localhost:8000/#top", "fragment"),
        (f"http://admin:{SECRET}@localhost:8000", "credentials"),
        (f"http://{SECRET}@localhost:8000", "credentials"),
        (f"http://admin:{SECRET}@localhost:99999", "valid URL"),
        (f"http://admin:{SECRET}@local host", "whitespace"),
        ("http://" + "a" * 3000, "at most"),
    ],
)
@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"])
def test_bad_endpoints_are_refused_without_repeating_them(
    url: str, problem: str, variable: str
) -> None:
    with pytest.raises(CNOPConfigurationException, match=problem) as caught:
        dynamodb_endpoint_url({variable: url})
    message = str(caught.value)
    assert message.startswith(variable)
    assert SECRET not in message
    assert SECRET not in repr(caught.value.to_dict())
    assert caught.value.details == {"variable": variable}


def test_a_bad_explicit_endpoint_names_the_argument() -> None:
    with pytest.raises(CNOPConfigurationException, match=r"^endpoint_url must be text"):
        dynamodb_endpoint_url({}, 8000)
    with pytest.raises(CNOPConfigurationException, match=r"^endpoint_url must start"):
        dynamodb_endpoint_url({}, "localhost:8000")
