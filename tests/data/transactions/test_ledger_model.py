"""A model-based test of the ledger: random flows and faults against DynamoDB Local.

Hypothesis runs random sequences of registrations, deposits, withdrawals, market buys and
sells, limit orders placed and cancelled, price changes, keyed re-sends of earlier
requests, and network faults injected on the next write (its reply lost after DynamoDB
applied it, a reset before sending, a throttle, a 500 before or after applying, and a write
whose outcome stays unknown). After every step the database must equal a plain in-memory
model: every balance, holding and open order, and balance = sum of the ledger, holding =
sum of the asset ledger.

The suite runs a bounded number of examples; a soak run sets more:

    CNOP_MODEL_EXAMPLES=200 CNOP_MODEL_STEPS=60 CNOP_MODEL_RANDOM=1 \
        hatch test tests/data/transactions/test_ledger_model.py
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, ClassVar, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from cnop.data import (
    AssetBalanceDAO,
    AssetCreate,
    AssetDAO,
    AssetUpdate,
    BalanceDAO,
    DataSettings,
    FlowResult,
    OrderCreate,
    OrderDAO,
    OrderStatus,
    OrderType,
    RetryPolicy,
    TransactionManager,
    UserCreate,
    UserDAO,
)
from cnop.data.types import utc_now
from cnop.exceptions import (
    CNOPClientException,
    CNOPException,
    CNOPInsufficientAssetBalanceException,
    CNOPInsufficientBalanceException,
    CNOPInternalException,
    CNOPOutcomeUnknownException,
)

from .invariants import check_invariants

fp = pytest.importorskip("cnop_faultproxy")

EXAMPLES = int(os.environ.get("CNOP_MODEL_EXAMPLES", "25"))
STEPS = int(os.environ.get("CNOP_MODEL_STEPS", "30"))
CENT = Decimal("0.01")
WRITE = "TransactWriteItems"

amounts = st.integers(1, 40_000).map(lambda cents: Decimal(cents) / 100)
quantities = st.integers(1, 12).map(lambda halves: Decimal(halves) / 2)
prices = st.integers(1, 300).map(Decimal)
assets = st.integers(0, 1)  # which of the two listed assets
FAULTS: dict[str, tuple[list[Any], list[Any]]] = {
    "lost-reply": ([fp.DROP_REPLY], []),
    "reset-unsent": ([fp.RESET], []),
    "throttled": ([fp.throttle()], []),
    "500-unapplied": ([fp.internal_error()], []),
    "500-applied": ([fp.internal_error(applied=True)], []),
    # Nothing definite ever comes back: every re-send and the record lookup are lost too.
    "unknown-applied": ([fp.DROP_REPLY, fp.RESET], [fp.RESET]),
    "unknown-unsent": ([fp.RESET, fp.RESET], [fp.RESET]),
}


#: Half the flows meet no fault, the rest one of FAULTS on their write.
faults = st.sampled_from(["none"] * len(FAULTS) + sorted(FAULTS))


T = TypeVar("T")


#: An index into a list only known when the rule runs. Rules draw it up front and have no
#: preconditions on what the server did: a replay whose server state differs (faults,
#: expiry times) would otherwise draw differently, which hypothesis refuses as flaky.
picks = st.integers(0, 2**16)


def _pick(which: int, choices: list[T]) -> T:
    return choices[which % len(choices)]


def cost(quantity: Decimal, price: Decimal) -> Decimal:
    return (quantity * price).quantize(CENT, ROUND_CEILING)


def proceeds(quantity: Decimal, price: Decimal) -> Decimal:
    return (quantity * price).quantize(CENT, ROUND_FLOOR)


@dataclass(frozen=True)
class OpenOrder:
    buy: bool
    asset: str
    quantity: Decimal
    limit: Decimal
    held: Decimal  # USD held by a buy (a sell holds its quantity)
    expires_at: datetime | None = None


@dataclass
class UserModel:
    balance: Decimal = Decimal(0)
    holdings: dict[str, Decimal] = field(default_factory=dict)
    open_orders: dict[str, OpenOrder] = field(default_factory=dict)
    closed_orders: set[str] = field(default_factory=set)


@dataclass
class Sent:
    """A keyed request already answered, to send again."""

    key: str
    user: str
    flow: str
    args: tuple[Any, ...]
    records: tuple[Any, ...]


class LedgerMachine(RuleBasedStateMachine):
    settings: ClassVar[DataSettings]
    proxy: ClassVar[Any]
    counts: ClassVar[dict[str, int]] = {}

    users = Bundle("users")

    def __init__(self) -> None:
        super().__init__()
        self.direct = TransactionManager(settings=self.settings)
        proxied = DataSettings.from_env(
            endpoint_url=self.proxy.url,
            tables=self.settings.tables,
            region="us-east-1",
            connect_timeout=1.0,
            read_timeout=1.0,
            max_attempts=1,  # every fault reaches the flow's own re-send logic
        )
        self.flows = TransactionManager(
            settings=proxied, retry=RetryPolicy(base_delay=0.002, max_delay=0.02, resends=1)
        )
        self.model: dict[str, UserModel] = {}
        self.prices: dict[str, Decimal] = {}
        self.sent: list[Sent] = []
        self.counts["examples"] = self.counts.get("examples", 0) + 1

    def _count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    # --- setup -------------------------------------------------------------------------

    @initialize()
    def list_assets(self) -> None:
        assets = AssetDAO(settings=self.settings)
        for price in (Decimal(10), Decimal(250)):
            asset_id = "M" + uuid.uuid4().hex[:10].upper()
            assets.create_asset(
                AssetCreate(asset_id=asset_id, name="Model asset", category="test", price_usd=price)
            )
            self.prices[asset_id] = price

    @precondition(lambda self: len(self.model) < 3)
    @rule(target=users)
    def register(self) -> str:
        name = f"m_{uuid.uuid4().hex[:14]}"
        UserDAO(settings=self.settings).create_user(
            UserCreate(
                username=name, email=f"{name}@example.com", first_name="Mo", last_name="Del"
            ),
            "not-a-real-hash",
        )
        self.direct.deposit(name, "1000")  # most flows then have something to move
        self.model[name] = UserModel(balance=Decimal(1000))
        self._count("registrations")
        return name

    # --- the flows ---------------------------------------------------------------------

    def _send(self, user: str, flow: str, args: tuple[Any, ...], key: str | None) -> Any:
        """One call as a careful client makes it: an unknown outcome is retried by its key."""
        for _ in range(3):
            try:
                return getattr(self.flows, flow)(user, *args, idempotency_key=key)
            except CNOPOutcomeUnknownException as exc:
                self._count("outcome-unknown")
                key = exc.details["idempotency_key"]
                self.proxy.clear()  # the network recovers
            except CNOPClientException as exc:
                return exc
            except CNOPInternalException as exc:
                # Told it failed: then nothing may have been applied (checked after the step).
                self._count("failed-told-not-applied")
                return exc
        raise AssertionError("an unknown outcome was not resolved by its key")

    def _arm(self, fault: str) -> None:
        """The next write (and record lookup) meets ``fault``."""
        self.proxy.clear()
        if fault != "none":
            writes, reads = FAULTS[fault]
            self.proxy.plan(WRITE, writes)
            if reads:
                self.proxy.plan("GetItem", reads)

    def _call(self, user: str, flow: str, *args: Any, keyed: bool, fault: str) -> Any:
        key = f"m-{uuid.uuid4().hex[:16]}" if keyed else None
        self._arm(fault)
        try:
            outcome = self._send(user, flow, args, key)
        finally:
            self.proxy.clear()
        if isinstance(outcome, FlowResult):
            self._count(f"committed-after:{fault}")
            if keyed and key is not None:
                self.sent.append(Sent(key, user, flow, args, outcome.records))
        return outcome

    def _expect_refusal(self, outcome: Any, kind: type[CNOPException]) -> None:
        if isinstance(outcome, CNOPInternalException):
            return  # told "not applied": the invariants check it
        assert isinstance(outcome, kind), outcome
        self._count("refused")

    @rule(user=users, amount=amounts, keyed=st.booleans(), fault=faults)
    def deposit(self, user: str, amount: Decimal, keyed: bool, fault: str) -> None:
        outcome = self._call(user, "deposit", amount, keyed=keyed, fault=fault)
        if isinstance(outcome, FlowResult):
            self.model[user].balance += amount
            assert outcome.amount == amount

    @rule(user=users, amount=amounts, keyed=st.booleans(), fault=faults)
    def withdraw(self, user: str, amount: Decimal, keyed: bool, fault: str) -> None:
        enough = self.model[user].balance >= amount
        outcome = self._call(user, "withdraw", amount, keyed=keyed, fault=fault)
        if isinstance(outcome, FlowResult):
            assert enough
            self.model[user].balance -= amount
            assert outcome.amount == -amount
        elif enough:
            assert isinstance(outcome, CNOPInternalException), outcome
        else:
            self._expect_refusal(outcome, CNOPInsufficientBalanceException)

    @rule(user=users, pick=assets, quantity=quantities, keyed=st.booleans(), fault=faults)
    def buy(self, user: str, pick: int, quantity: Decimal, keyed: bool, fault: str) -> None:
        asset = sorted(self.prices)[pick]
        usd = cost(quantity, self.prices[asset])
        enough = self.model[user].balance >= usd
        outcome = self._call(user, "buy", asset, quantity, keyed=keyed, fault=fault)
        if isinstance(outcome, FlowResult):
            assert enough
            model = self.model[user]
            model.balance -= usd
            model.holdings[asset] = model.holdings.get(asset, Decimal(0)) + quantity
            assert (outcome.amount, outcome.quantity) == (-usd, quantity)
        elif enough:
            assert isinstance(outcome, CNOPInternalException), outcome
        else:
            self._expect_refusal(outcome, CNOPInsufficientBalanceException)

    @rule(user=users, pick=assets, quantity=quantities, keyed=st.booleans(), fault=faults)
    def sell(self, user: str, pick: int, quantity: Decimal, keyed: bool, fault: str) -> None:
        asset = sorted(self.prices)[pick]
        model = self.model[user]
        enough = model.holdings.get(asset, Decimal(0)) >= quantity
        outcome = self._call(user, "sell", asset, quantity, keyed=keyed, fault=fault)
        if isinstance(outcome, FlowResult):
            assert enough
            model.balance += proceeds(quantity, self.prices[asset])
            model.holdings[asset] -= quantity
            assert (outcome.amount, outcome.quantity) == (
                proceeds(quantity, self.prices[asset]),
                -quantity,
            )
        elif enough:
            assert isinstance(outcome, CNOPInternalException), outcome
        else:
            self._expect_refusal(outcome, CNOPInsufficientAssetBalanceException)

    @rule(
        user=users,
        pick=st.integers(0, 1),
        buy=st.booleans(),
        quantity=quantities,
        limit=prices,
        keyed=st.booleans(),
        fault=faults,
        life=st.sampled_from([None, None, 0.4, 1.0]),
    )
    def place_limit(  # noqa: PLR0917 - drawn by hypothesis
        self,
        user: str,
        pick: int,
        buy: bool,
        quantity: Decimal,
        limit: Decimal,
        keyed: bool,
        fault: str,
        life: float | None,
    ) -> None:
        asset = sorted(self.prices)[pick]
        model = self.model[user]
        held = cost(quantity, limit) if buy else Decimal(0)
        held_qty = model.holdings.get(asset, Decimal(0))
        enough = model.balance >= held if buy else held_qty >= quantity
        expires_at = None if life is None else utc_now() + timedelta(seconds=life)
        order = OrderCreate(
            order_type=OrderType.LIMIT_BUY if buy else OrderType.LIMIT_SELL,
            asset_id=asset,
            quantity=quantity,
            limit_price=limit,
            expires_at=expires_at,
        )
        outcome = self._call(user, "place_limit_order", order, keyed=keyed, fault=fault)
        if isinstance(outcome, FlowResult):
            assert enough
            assert outcome.order is not None
            if buy:
                model.balance -= held
            else:
                model.holdings[asset] -= quantity
            model.open_orders[outcome.order.order_id] = OpenOrder(
                buy, asset, quantity, limit, held, expires_at
            )
        elif enough:
            assert isinstance(outcome, CNOPInternalException), outcome
        else:
            self._expect_refusal(
                outcome,
                CNOPInsufficientBalanceException if buy else CNOPInsufficientAssetBalanceException,
            )

    @rule(which=picks, keyed=st.booleans(), fault=faults)
    def cancel(self, which: int, keyed: bool, fault: str) -> None:
        waiting = sorted((u, o) for u, m in self.model.items() for o in m.open_orders)
        if not waiting:
            return
        user, order_id = _pick(which, waiting)
        model = self.model[user]
        outcome = self._call(user, "cancel_order", order_id, keyed=keyed, fault=fault)
        if isinstance(outcome, FlowResult):
            order = model.open_orders.pop(order_id)
            model.closed_orders.add(order_id)
            if order.buy:
                model.balance += order.held
            else:
                model.holdings[order.asset] += order.quantity
        else:
            assert isinstance(outcome, CNOPInternalException), outcome

    @rule(which=picks)
    def cancel_twice(self, which: int) -> None:
        closed = sorted((u, o) for u, m in self.model.items() for o in m.closed_orders)
        if not closed:
            return
        user, order_id = _pick(which, closed)
        outcome = self._call(user, "cancel_order", order_id, keyed=False, fault="none")
        self._expect_refusal(outcome, CNOPClientException)

    def _sweep(self, run: Callable[[], Any], fault: str) -> tuple[datetime, datetime]:
        """Run a sweep as an operator would (again after an unknown outcome): its time span."""
        self._arm(fault)
        started = utc_now()
        try:
            for _ in range(3):
                try:
                    run()
                except CNOPOutcomeUnknownException:
                    self._count("outcome-unknown")
                    self.proxy.clear()  # the network recovers; the operator runs it again
                    continue
                except CNOPInternalException:
                    self._count("failed-told-not-applied")
                    self.proxy.clear()
                    continue
                break
        finally:
            self.proxy.clear()
        return started, utc_now()

    def _is(self, order_id: str, status: OrderStatus) -> bool:
        """For an order whose time ran out during a sweep either outcome is right: which one?"""
        self._count("boundary")
        return OrderDAO(settings=self.settings).get_order(order_id).status is status

    def _release(self, user: str, order_id: str) -> None:
        model = self.model[user]
        order = model.open_orders.pop(order_id)
        model.closed_orders.add(order_id)
        if order.buy:
            model.balance += order.held
        else:
            model.holdings[order.asset] += order.quantity

    @rule(pick=assets, price=prices, fault=faults)
    def match(self, pick: int, price: Decimal, fault: str) -> None:
        """Fill, at ``price``, every waiting order of one asset that it crosses (not expired)."""
        asset = sorted(self.prices)[pick]
        crossing = {
            order_id: (user, order)
            for user, model in self.model.items()
            for order_id, order in model.open_orders.items()
            if order.asset == asset
            and (order.limit >= price if order.buy else order.limit <= price)
        }
        started, ended = self._sweep(lambda: self.flows.match_limit_orders(asset, price), fault)
        for order_id, (user, order) in crossing.items():
            # A fill needs time left on the order: an expired one waits for the expiry sweep.
            due = order.expires_at
            if due is not None and (
                due <= started or (due < ended and not self._is(order_id, OrderStatus.COMPLETED))
            ):
                continue
            model = self.model[user]
            model.open_orders.pop(order_id)
            model.closed_orders.add(order_id)
            if order.buy:
                model.balance += order.held - cost(order.quantity, price)
                model.holdings[asset] = model.holdings.get(asset, Decimal(0)) + order.quantity
            else:
                model.balance += proceeds(order.quantity, price)
            self._count("fills")

    @rule(fault=faults)
    def expire(self, fault: str) -> None:
        """Expire every waiting order whose time ran out, releasing its hold."""
        started, ended = self._sweep(self.flows.expire_limit_orders, fault)
        due = [
            (user, order_id, order.expires_at)
            for user, model in self.model.items()
            for order_id, order in model.open_orders.items()
            if order.expires_at is not None
        ]
        for user, order_id, expires_at in due:
            if expires_at <= started or (
                expires_at < ended and self._is(order_id, OrderStatus.EXPIRED)
            ):
                self._release(user, order_id)
                self._count("expiries")

    @rule(pick=assets, price=prices)
    def change_price(self, pick: int, price: Decimal) -> None:
        asset_id = sorted(self.prices)[pick]
        assets = AssetDAO(settings=self.settings)
        current = assets.get_asset(asset_id)
        assets.update_asset(asset_id, AssetUpdate(price_usd=price), current.version)
        self.prices[asset_id] = price
        self._count("price-changes")

    @rule(which=picks, fault=faults)
    def resend(self, which: int, fault: str) -> None:
        if not self.sent:
            return
        sent = _pick(which, self.sent)
        self._arm(fault)
        try:
            outcome = self._send(sent.user, sent.flow, sent.args, sent.key)
        finally:
            self.proxy.clear()
        if isinstance(outcome, CNOPInternalException):
            return  # told "not answered": nothing changed (checked below)
        assert isinstance(outcome, FlowResult), outcome
        assert outcome.replayed
        assert outcome.records == sent.records
        self._count(f"replayed-after:{fault}")

    # --- after every step --------------------------------------------------------------

    @invariant()
    def database_equals_model(self) -> None:
        if not self.model:
            return
        self._count("steps")
        balances, holdings = (
            BalanceDAO(settings=self.settings),
            AssetBalanceDAO(settings=self.settings),
        )
        orders = OrderDAO(settings=self.settings)
        for user, model in self.model.items():
            assert balances.get_balance(user).balance == model.balance, user
            held = {
                h.asset_id: h.quantity
                for h in holdings.list_asset_balances(user, limit=100).items
                if h.quantity
            }
            assert held == {a: q for a, q in model.holdings.items() if q}, user
            waiting = [
                o
                for o in orders.list_orders(user, limit=100).items
                if o.status is OrderStatus.QUEUED
            ]
            assert {o.order_id for o in waiting} == set(model.open_orders), user
            # Every hold belongs to a waiting order: what they hold is what the model holds.
            held_usd = sum(
                (o.total_amount or Decimal(0) for o in waiting if o.order_type.is_buy), Decimal(0)
            )
            held_qty = sum((o.quantity for o in waiting if not o.order_type.is_buy), Decimal(0))
            assert held_usd == sum((o.held for o in model.open_orders.values()), Decimal(0))
            assert held_qty == sum(
                (o.quantity for o in model.open_orders.values() if not o.buy), Decimal(0)
            )
        check_invariants(self.settings, list(self.model), None)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_ledger_matches_its_model_under_random_flows_and_faults(
    data_settings: DataSettings, dynamodb_proxy: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    LedgerMachine.settings = data_settings
    LedgerMachine.proxy = dynamodb_proxy
    LedgerMachine.counts = {}
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            derandomize=os.environ.get("CNOP_MODEL_RANDOM") is None,
        ),
    )
    counts = LedgerMachine.counts
    with capsys.disabled():
        print(f"\nledger model: {dict(sorted(counts.items()))}")
    assert counts.get("steps", 0) >= EXAMPLES
    assert any(k.startswith("committed-after:") and not k.endswith(":none") for k in counts)
