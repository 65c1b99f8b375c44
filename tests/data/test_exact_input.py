"""Input is exactly what it says: whole-string patterns, ASCII numerals, lists that are lists.

``re.match`` with ``^...$`` accepts a trailing newline, and ``Decimal()`` reads other
scripts' digits and underscores; each case here was accepted before and is refused now,
with the field named.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from cnop.data import (
    AssetCreate,
    AssetTransaction,
    BalanceTransaction,
    OrderCreate,
    UserCreate,
    UserUpdate,
)
from cnop.data import validation as v
from cnop.data.transactions.idempotency import check_idempotency_key
from cnop.exceptions import (
    CNOPEntityAlreadyExistsException,
    CNOPEntityValidationException,
    CNOPValidationException,
)

NEWLINES = ["\n", "\r\n", "\r", " ", "\t", "\x00", "\u2028", "\u00a0"]


def _field(exc: CNOPValidationException) -> str:
    return str(exc.errors[0]["field"])


@pytest.mark.parametrize("tail", NEWLINES)
@pytest.mark.parametrize(
    ("validate", "good", "field"),
    [
        (v.validate_username, "alice_01", "username"),
        (v.validate_email, "alice@example.com", "email"),
        (v.validate_phone, "+1 555 123 4567", "phone"),
        (v.validate_asset_id, "BTC", "asset_id"),
        (lambda x: v.validate_entity_id(x, "order_id"), "01HZY4Q5J8K9M2N3P4Q5R6S7T8", "order_id"),
    ],
)
def test_a_trailing_or_leading_newline_or_space_is_refused(
    validate: Callable[[str], str], good: str, field: str, tail: str
) -> None:
    assert validate(good)
    for bad in (good + tail, tail + good):
        with pytest.raises(CNOPValidationException) as info:
            validate(bad)
        assert _field(info.value) == field


@pytest.mark.parametrize("tail", NEWLINES)
def test_category_and_idempotency_key_must_match_whole(tail: str) -> None:
    assert v.check_category("crypto") == "crypto"
    with pytest.raises(ValueError, match="category"):
        v.check_category("crypto" + tail)
    assert check_idempotency_key("key-1") == "key-1"
    for bad in ("key-1" + tail, tail + "key-1"):
        with pytest.raises(CNOPValidationException) as info:
            check_idempotency_key(bad)
        assert _field(info.value) == "idempotency_key"


@pytest.mark.parametrize(
    "bad",
    [
        "\u0430lice@example.com",  # Cyrillic a
        "alice@ex\u0430mple.com",
        "\u212aate@example.com",  # Kelvin sign: lower-cases to an ASCII "k"
        "\uff41lice@example.com",  # fullwidth a
        "alice\uff20example.com",  # fullwidth @
        "ali\u200bce@example.com",  # zero-width space
    ],
)
def test_a_look_alike_email_is_refused_not_folded(bad: str) -> None:
    with pytest.raises(CNOPValidationException) as info:
        v.validate_email(bad)
    assert _field(info.value) == "email"


@pytest.mark.parametrize(
    "bad", ["\u0661\u0660", "\uff11\uff10", "1_0", "\u0967\u0966", "1\u00a00", "\u00bd", "1e_3"]
)
def test_amounts_accept_ascii_digits_only(bad: str) -> None:
    for validate, field in (
        (v.validate_amount, "amount"),
        (v.validate_quantity, "quantity"),
        (v.validate_price, "price"),
    ):
        with pytest.raises(CNOPValidationException, match="ASCII digits") as info:
            validate(bad)
        assert _field(info.value) == field
    with pytest.raises(ValueError, match="ASCII digits"):
        v.to_decimal(bad, "total")


@pytest.mark.parametrize("good", ["10", "+10", "10.5", ".5", "5.", "1E+3", "1e-2", "-3"])
def test_ordinary_numerals_still_parse(good: str) -> None:
    assert v.to_decimal(good, "amount") == Decimal(good)


def test_a_huge_numeral_is_refused_cheaply() -> None:
    with pytest.raises(ValueError, match="at most 38 digits"):
        v.to_decimal("1" * 1_000_000, "amount")


@pytest.mark.parametrize("bad", ["\u0661\u0660", "\uff11\uff10", "1_0"])
def test_models_refuse_other_digit_scripts_naming_the_field(bad: str) -> None:
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: OrderCreate(order_type="market_buy", asset_id="BTC", quantity=bad), "quantity"),
        (
            lambda: OrderCreate(
                order_type="limit_buy", asset_id="BTC", quantity="1", limit_price=bad
            ),
            "limit_price",
        ),
        (
            lambda: AssetCreate(asset_id="BTC", name="Bitcoin", category="c", price_usd=bad),
            "price_usd",
        ),
        (
            lambda: BalanceTransaction(username="alice_01", transaction_type="deposit", amount=bad),
            "amount",
        ),
    ]
    for make, field in cases:
        with pytest.raises(CNOPEntityValidationException, match="ASCII digits") as info:
            make()
        assert _field(info.value) == field


def test_models_refuse_a_trailing_newline() -> None:
    with pytest.raises(CNOPEntityValidationException) as info:
        UserCreate(username="alice_01\n", email="a@example.com\n", first_name="A", last_name="B")
    assert {e["field"] for e in info.value.errors} == {"username", "email"}
    with pytest.raises(CNOPEntityValidationException, match="email"):
        UserUpdate(email="alice@example.com\n")
    with pytest.raises(CNOPEntityValidationException, match="asset_id"):
        OrderCreate(order_type="market_buy", asset_id="BTC\n", quantity="1")


# --- against DynamoDB Local --------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize(
    "variant",
    [
        "{local}@example.com\n",
        " {local}@example.com",
        "{local}@example.com ",
        "{upper}@EXAMPLE.com",
        "{local}@example.com\x00",
        "\uff41{local}@example.com",
        "\u0430{local}@example.com",
        "{local}@ex\u0430mple.com",
        "{local}\u212a@example.com",
    ],
)
def test_an_email_variant_cannot_register_a_second_account(
    variant: str, daos: SimpleNamespace, user_input: Callable[..., UserCreate]
) -> None:
    first = daos.users.create_user(user_input(), "hash")
    local = first.email.split("@")[0]
    address = variant.format(local=local, upper=local.upper())
    try:
        second = user_input(email=address)
    except CNOPValidationException:
        return  # refused as invalid before any write
    with pytest.raises(CNOPEntityAlreadyExistsException, match="Email"):
        daos.users.create_user(second, "hash")
    with pytest.raises(Exception, match="not found"):
        daos.users.get_user_by_username(second.username)
    assert daos.users.get_user_by_email(first.email) == first


def _records(name: str) -> list[BalanceTransaction]:
    return [BalanceTransaction(username=name, transaction_type="deposit", amount="1")]


def _generator(items: list[Any]) -> Iterator[Any]:
    yield from items


@pytest.mark.integration
@pytest.mark.parametrize("dao", ["balances", "asset_transactions"])
def test_ledger_batch_writes_refuse_what_is_not_a_list(
    dao: str, daos: SimpleNamespace, new_username: Callable[[], str]
) -> None:
    name = new_username()
    if dao == "balances":
        valid: Any = _records(name)[0]
    else:
        valid = AssetTransaction(
            username=name, asset_id="BTC", transaction_type="buy", quantity="1", price_usd="1"
        )
    target = getattr(daos, dao)
    for bad in (None, 5, 1.5, "abc", b"abc", {"a": valid}, _generator([valid]), valid, {valid}):
        with pytest.raises(CNOPValidationException) as info:
            target.create_transactions(bad)
        assert _field(info.value) == "records"
    for bad_list in ([valid, None], [valid, "x"], (valid, 5)):
        with pytest.raises(CNOPValidationException, match="item 1"):
            target.create_transactions(bad_list)
    assert target.list_transactions(name).items == []
    assert target.create_transactions((valid,)) == 1
    assert target.create_transactions([]) == 0


@pytest.mark.integration
def test_daos_and_constructors_refuse_wrong_types(data_settings: Any) -> None:
    from cnop.data import (
        Asset,
        AsyncUserDAO,
        BalanceDAO,
        Order,
        User,
        UserDAO,
    )

    for bad in ("settings", 5, {"region": "x"}):
        with pytest.raises(CNOPValidationException, match="settings"):
            UserDAO(settings=bad)  # type: ignore[arg-type]
        with pytest.raises(CNOPValidationException, match="settings"):
            AsyncUserDAO(object(), settings=bad)  # type: ignore[arg-type]
        with pytest.raises(CNOPValidationException, match="data"):
            User.new(bad, "hash")  # type: ignore[arg-type]
        with pytest.raises(CNOPValidationException, match="data"):
            Order.new("alice_01", bad)  # type: ignore[arg-type]
        with pytest.raises(CNOPValidationException, match="data"):
            Asset.new(bad)  # type: ignore[arg-type]
    users = UserDAO(settings=data_settings)
    for verifier in (None, "bcrypt", object()):
        with pytest.raises(CNOPValidationException, match="verifier"):
            users.authenticate_user("alice_01", "password", verifier)  # type: ignore[arg-type]
    assert BalanceDAO(settings=data_settings).settings is data_settings
