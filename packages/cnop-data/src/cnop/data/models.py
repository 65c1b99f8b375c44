"""Entities (pydantic v2): input models a service accepts and stored models with versions.

Constructing any model with bad values raises :class:`CNOPEntityValidationException`
listing every bad field; values are never silently rewritten (only normalised:
usernames and emails lower-case, asset ids upper-case, timestamps in UTC).

>>> UserCreate(username="Alice_01", email="Alice@Example.com", first_name="Alice",
...            last_name="Smith").username
'alice_01'
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from typing_extensions import Self

from cnop.data.enums import (
    AssetTransactionType,
    OrderStatus,
    OrderType,
    TransactionStatus,
    TransactionType,
)
from cnop.data.ids import new_id
from cnop.data.types import (
    AssetId,
    AssetName,
    Category,
    DateOfBirth,
    Description,
    Email,
    EntityId,
    ExternalReference,
    FirstName,
    LastName,
    NonNegativeDecimal,
    Phone,
    PositiveDecimal,
    SignedDecimal,
    StrictFlag,
    Timestamp,
    Username,
    Version,
    utc_now,
)
from cnop.data.validation import validate_instance
from cnop.exceptions import CNOPEntityValidationException, UserRole

__all__ = [
    "Asset",
    "AssetBalance",
    "AssetCreate",
    "AssetTransaction",
    "AssetUpdate",
    "Balance",
    "BalanceTransaction",
    "CNOPModel",
    "Order",
    "OrderCreate",
    "User",
    "UserCreate",
    "UserUpdate",
]

_VALUE_ERROR_PREFIX = "Value error, "


def entity_validation_error(model: str, error: ValidationError) -> CNOPEntityValidationException:
    """One CNOPEntityValidationException listing every field problem (never the bad values)."""
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        field = ".".join(str(part) for part in item["loc"]) or model
        message = str(item["msg"]).removeprefix(_VALUE_ERROR_PREFIX)
        problems.append({"field": field, "message": message})
    message = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return CNOPEntityValidationException(
        message or f"{model} is not valid", details={"errors": problems, "entity": model}
    )


class CNOPModel(BaseModel):
    """Base of every entity: frozen, no unknown fields, CNOP validation errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise entity_validation_error(type(self).__name__, exc) from None

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Self:
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as exc:
            raise entity_validation_error(cls.__name__, exc) from None

    @classmethod
    def model_validate_json(cls, json_data: Any, *args: Any, **kwargs: Any) -> Self:
        try:
            return super().model_validate_json(json_data, *args, **kwargs)
        except ValidationError as exc:
            raise entity_validation_error(cls.__name__, exc) from None


def _check_sign(amount: Decimal, *, positive: bool, negative: bool, what: str) -> None:
    if positive and amount < 0:
        raise ValueError(f"{what} must be positive for this transaction type")
    if negative and amount > 0:
        raise ValueError(f"{what} must be negative for this transaction type")


# --- users ------------------------------------------------------------------------


class UserCreate(CNOPModel):
    """What a service accepts to register a user (the password is hashed elsewhere)."""

    username: Username
    email: Email
    first_name: FirstName
    last_name: LastName
    phone: Phone | None = None
    date_of_birth: DateOfBirth | None = None
    marketing_emails_consent: StrictFlag = False
    role: UserRole = UserRole.CUSTOMER


class _PartialUpdate(CNOPModel):
    """An update that sets only the fields given; ``_keep`` lists those that cannot be cleared."""

    _keep: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _something_to_change(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("an update must change at least one field")
        for name in sorted(self._keep & self.model_fields_set):
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be cleared")
        return self

    def changes(self) -> dict[str, Any]:
        """The fields this update sets (None for a field to clear)."""
        return {name: getattr(self, name) for name in sorted(self.model_fields_set)}


class UserUpdate(_PartialUpdate):
    """Changes to a user; only fields given are changed (``phone=None`` clears the phone)."""

    email: Email | None = None
    first_name: FirstName | None = None
    last_name: LastName | None = None
    phone: Phone | None = None
    date_of_birth: DateOfBirth | None = None
    marketing_emails_consent: StrictFlag | None = None
    role: UserRole | None = None
    is_active: StrictFlag | None = None

    _keep = frozenset(
        {"email", "first_name", "last_name", "marketing_emails_consent", "role", "is_active"}
    )


class User(CNOPModel):
    """A stored user. ``password_hash`` never appears in ``repr``."""

    username: Username
    email: Email
    first_name: FirstName
    last_name: LastName
    phone: Phone | None = None
    date_of_birth: DateOfBirth | None = None
    marketing_emails_consent: StrictFlag = False
    role: UserRole = UserRole.CUSTOMER
    is_active: StrictFlag = True
    password_hash: str = Field(repr=False, min_length=1, max_length=1024)
    created_at: Timestamp = Field(default_factory=utc_now)
    updated_at: Timestamp = Field(default_factory=utc_now)
    version: Version = 1

    @classmethod
    def new(cls, data: UserCreate, password_hash: str) -> User:
        """A version-1 user from validated input and a password hash."""
        validate_instance(data, UserCreate, "data")
        now = utc_now()
        return cls(**data.model_dump(), password_hash=password_hash, created_at=now, updated_at=now)


# --- balances ---------------------------------------------------------------------


class Balance(CNOPModel):
    """A user's USD balance; never negative."""

    username: Username
    balance: NonNegativeDecimal = Decimal(0)
    currency: Literal["USD"] = "USD"
    created_at: Timestamp = Field(default_factory=utc_now)
    updated_at: Timestamp = Field(default_factory=utc_now)
    version: Version = 1


class BalanceTransaction(CNOPModel):
    """An immutable ledger entry: ``amount`` is + for a credit and - for a debit."""

    transaction_id: EntityId = Field(default_factory=new_id)
    username: Username
    transaction_type: TransactionType
    amount: SignedDecimal
    status: TransactionStatus = TransactionStatus.COMPLETED
    description: Description | None = None
    #: The order (or other record of ours) this entry belongs to.
    reference_id: EntityId | None = None
    #: An outside system's id for it (e.g. the payment provider's), as the caller gave it.
    external_reference: ExternalReference | None = None
    created_at: Timestamp = Field(default_factory=utc_now)

    @model_validator(mode="after")
    def _sign_matches_type(self) -> Self:
        kind = self.transaction_type
        _check_sign(
            self.amount,
            positive=kind in (TransactionType.DEPOSIT, TransactionType.ORDER_SALE),
            negative=kind in (TransactionType.WITHDRAW, TransactionType.ORDER_PAYMENT),
            what="amount",
        )
        return self


# --- orders -----------------------------------------------------------------------


def _check_limit_fields(
    order_type: OrderType, limit_price: Decimal | None, expires_at: datetime | None
) -> None:
    if order_type.is_limit:
        if limit_price is None or limit_price <= 0:
            raise ValueError("limit_price is required for a limit order and must be > 0")
    elif limit_price is not None or expires_at is not None:
        raise ValueError("limit_price and expires_at apply only to limit orders")


class OrderCreate(CNOPModel):
    """What a service accepts to place an order."""

    order_type: OrderType
    asset_id: AssetId
    quantity: PositiveDecimal
    limit_price: NonNegativeDecimal | None = None
    expires_at: Timestamp | None = None

    @model_validator(mode="after")
    def _limit_fields(self) -> Self:
        _check_limit_fields(self.order_type, self.limit_price, self.expires_at)
        if self.expires_at is not None and self.expires_at <= utc_now():
            raise ValueError("expires_at must be in the future")
        return self


class Order(CNOPModel):
    """A stored order; ``status`` changes only as :data:`ORDER_TRANSITIONS` allows."""

    order_id: EntityId = Field(default_factory=new_id)
    username: Username
    order_type: OrderType
    asset_id: AssetId
    quantity: PositiveDecimal
    price: NonNegativeDecimal | None = None
    limit_price: NonNegativeDecimal | None = None
    expires_at: Timestamp | None = None
    total_amount: NonNegativeDecimal | None = None
    status: OrderStatus = OrderStatus.PENDING
    status_reason: Description | None = None
    created_at: Timestamp = Field(default_factory=utc_now)
    updated_at: Timestamp = Field(default_factory=utc_now)
    version: Version = 1

    @model_validator(mode="after")
    def _limit_fields(self) -> Self:
        _check_limit_fields(self.order_type, self.limit_price, self.expires_at)
        return self

    @classmethod
    def new(cls, username: str, data: OrderCreate, **fields: Any) -> Order:
        """A pending version-1 order for ``username`` from validated input."""
        validate_instance(data, OrderCreate, "data")
        now = utc_now()
        return cls(username=username, **data.model_dump(), created_at=now, updated_at=now, **fields)


# --- assets -----------------------------------------------------------------------


class AssetCreate(CNOPModel):
    """What an admin service accepts to list an asset."""

    asset_id: AssetId
    name: AssetName
    description: Description | None = None
    category: Category
    price_usd: NonNegativeDecimal
    is_active: StrictFlag = True


class AssetUpdate(_PartialUpdate):
    """Changes to an asset; only fields given are changed."""

    name: AssetName | None = None
    description: Description | None = None
    category: Category | None = None
    price_usd: NonNegativeDecimal | None = None
    is_active: StrictFlag | None = None

    _keep = frozenset({"name", "category", "price_usd", "is_active"})


class Asset(CNOPModel):
    """A stored tradable asset."""

    asset_id: AssetId
    name: AssetName
    description: Description | None = None
    category: Category
    price_usd: NonNegativeDecimal
    is_active: StrictFlag = True
    created_at: Timestamp = Field(default_factory=utc_now)
    updated_at: Timestamp = Field(default_factory=utc_now)
    version: Version = 1

    @classmethod
    def new(cls, data: AssetCreate) -> Asset:
        """A version-1 asset from validated input."""
        validate_instance(data, AssetCreate, "data")
        now = utc_now()
        return cls(**data.model_dump(), created_at=now, updated_at=now)


class AssetBalance(CNOPModel):
    """How much of one asset a user holds; never negative."""

    username: Username
    asset_id: AssetId
    quantity: NonNegativeDecimal = Decimal(0)
    created_at: Timestamp = Field(default_factory=utc_now)
    updated_at: Timestamp = Field(default_factory=utc_now)
    version: Version = 1


class AssetTransaction(CNOPModel):
    """An immutable holdings ledger entry: ``quantity`` is + for a buy and - for a sell."""

    transaction_id: EntityId = Field(default_factory=new_id)
    username: Username
    asset_id: AssetId
    transaction_type: AssetTransactionType
    quantity: SignedDecimal
    price_usd: NonNegativeDecimal
    order_id: EntityId | None = None
    created_at: Timestamp = Field(default_factory=utc_now)

    @model_validator(mode="after")
    def _sign_matches_type(self) -> Self:
        kind = self.transaction_type
        _check_sign(
            self.quantity,
            positive=kind is AssetTransactionType.BUY,
            negative=kind is AssetTransactionType.SELL,
            what="quantity",
        )
        return self
