"""migrate_from_common against DynamoDB Local: a copy, a second run, a crash, bad sources."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError

from cnop.data import (
    AssetBalanceDAO,
    AssetDAO,
    AssetTransactionDAO,
    BalanceDAO,
    DataSettings,
    OrderDAO,
    TableNames,
    TransactionManager,
    UserCreate,
    UserDAO,
)
from cnop.data.migrate import Entity, MigrationReport, ProblemKind, migrate_from_common
from cnop.exceptions import CNOPConfigurationException, CNOPUserNotFoundException

from .original import Original, populate

pytestmark = pytest.mark.integration


def _settings(endpoint: str, target: TableNames) -> DataSettings:
    return DataSettings.from_env(endpoint_url=endpoint, region="us-east-1", tables=target)


def _all_pages(list_page: Any) -> list[Any]:
    items, cursor = [], None
    while True:
        page = list_page(cursor)
        items.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return items


def _scan(client: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        reply = client.scan(**params)
        items.extend(reply["Items"])
        if "LastEvaluatedKey" not in reply:
            return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))
        params["ExclusiveStartKey"] = reply["LastEvaluatedKey"]


def _target_contents(client: Any, target: TableNames) -> list[list[dict[str, Any]]]:
    return [_scan(client, name) for name in target.all()]


def _check_ledgers_through_daos(settings: DataSettings, usernames: list[str]) -> None:
    """Every balance equals its ledger, and every holding its asset ledger (read via cnop)."""
    balances = BalanceDAO(settings=settings)
    holdings = AssetBalanceDAO(settings=settings)
    moves = AssetTransactionDAO(settings=settings)
    for name in usernames:
        ledger = _all_pages(lambda c, n=name: balances.list_transactions(n, limit=2, cursor=c))
        assert balances.get_balance(name).balance == sum((t.amount for t in ledger), Decimal(0))
        pages = _all_pages(lambda c, n=name: holdings.list_asset_balances(n, limit=2, cursor=c))
        held = {h.asset_id: h.quantity for h in pages}
        records = _all_pages(lambda c, n=name: moves.list_transactions(n, limit=2, cursor=c))
        summed: dict[str, Decimal] = {}
        for record in records:
            summed[record.asset_id] = summed.get(record.asset_id, Decimal(0)) + record.quantity
        assert held == summed


def _run(client: Any, source: TableNames, target: TableNames, **kwargs: Any) -> MigrationReport:
    return migrate_from_common(client, client, source, target, **kwargs)


def test_a_copy_is_readable_through_cnop_and_every_ledger_matches(
    client: Any, source: TableNames, target: TableNames, original: Original, dynamodb_endpoint: str
) -> None:
    expected = populate(original)
    report = _run(client, source, target)
    assert report.ok, report.to_dict()["problems"]
    assert report.target_verified
    counts = report.to_dict()["counts"]
    assert counts["user"] == {"read": 3, "refused": 0, "written": 3, "present": 0, "conflicts": 0}
    assert counts["balance"]["written"] == 3
    assert counts["balance_transaction"]["written"] == 12
    assert counts["asset_balance"]["written"] == 3
    assert counts["asset_transaction"]["written"] == 6
    assert counts["order"]["written"] == 6
    assert counts["asset"]["written"] == 3
    assert report.skipped == {"lock": 1}
    assert report.notes["limit_orders_limit_price_taken_from_price"] == 3

    settings = _settings(dynamodb_endpoint, target)
    users = UserDAO(settings=settings)
    alice = users.get_user_by_email("alice_01@example.com")
    assert alice.username == "alice_01"
    assert alice.version == 1
    assert alice.is_active
    assert alice.password_hash.startswith("$2b$12$")
    for name, amount in expected["users"].items():
        assert BalanceDAO(settings=settings).get_balance(name).balance == Decimal(amount)
    for (name, asset), quantity in expected["holdings"].items():
        holding = AssetBalanceDAO(settings=settings).get_asset_balance(name, asset)
        assert holding.quantity == Decimal(quantity)
    _check_ledgers_through_daos(settings, sorted(expected["users"]))

    orders = OrderDAO(settings=settings).list_orders("alice_01", limit=10).items
    assert [o.order_type.value for o in orders] == ["limit_sell", "market_buy"]  # newest first
    ledger = BalanceDAO(settings=settings).list_transactions("alice_01", limit=10).items
    payment = next(t for t in ledger if t.transaction_type.value == "order_payment")
    assert payment.reference_id == orders[1].order_id  # references follow the new ids
    btc = AssetDAO(settings=settings).get_asset("BTC")
    assert btc.price_usd == Decimal("45000.5")
    assert AssetDAO(settings=settings).get_asset("DOGE").price_usd == Decimal("0.0712")

    # cnop's own flows work on the moved data.
    flows = TransactionManager(settings=settings)
    flows.deposit("alice_01", "10.00")
    assert BalanceDAO(settings=settings).get_balance("alice_01").balance == Decimal("639.49")


def test_a_second_run_writes_nothing_and_duplicates_nothing(
    client: Any, source: TableNames, target: TableNames, original: Original
) -> None:
    populate(original)
    assert _run(client, source, target).ok
    before = _target_contents(client, target)
    again = _run(client, source, target)
    assert again.ok, again.to_dict()["problems"]
    for entity, counts in again.counts.items():
        assert counts.written == 0, entity
        assert counts.conflicts == 0, entity
    assert again.counts[Entity.BALANCE_TRANSACTION].present == 12
    assert _target_contents(client, target) == before


class Crash(BaseException):
    """Stands for the process dying: nothing in the migration may catch it."""


class CrashingClient:
    """Passes calls to the real client and dies before the n-th write."""

    def __init__(self, client: Any, writes_before_crash: int) -> None:
        self._client = client
        self.meta = client.meta
        self.left = writes_before_crash

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name not in ("put_item", "transact_write_items"):
            return method

        def write(**params: Any) -> Any:
            if self.left == 0:
                raise Crash
            self.left -= 1
            return method(**params)

        return write


@pytest.mark.parametrize("after", [0, 2, 7, 20])
def test_a_run_stopped_by_a_crash_resumes_to_the_same_result(
    client: Any, source: TableNames, target: TableNames, original: Original, after: int
) -> None:
    writes_before_crash = after
    expected = populate(original)
    crashing = CrashingClient(client, writes_before_crash)
    with pytest.raises(Crash):
        migrate_from_common(client, crashing, source, target)
    resumed = _run(client, source, target)
    assert resumed.ok, resumed.to_dict()["problems"]
    written = sum(c.written for c in resumed.counts.values())
    present = sum(c.present for c in resumed.counts.values())
    # A user's write counts for the user and its balance: 3 users -> 3 extra counts.
    assert written + present == 3 + 3 + 12 + 3 + 6 + 6 + 3
    assert present == writes_before_crash + min(writes_before_crash, 3)
    settings = _settings(client.meta.endpoint_url, target)
    _check_ledgers_through_daos(settings, sorted(expected["users"]))


class LosingReplies:
    """Applies every write but loses the reply of the first ``n`` (a read timeout)."""

    def __init__(self, client: Any, n: int) -> None:
        self._client = client
        self.meta = client.meta
        self.left = n

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name not in ("put_item", "transact_write_items"):
            return method

        def write(**params: Any) -> Any:
            reply = method(**params)
            if self.left > 0:
                self.left -= 1
                raise ReadTimeoutError(endpoint_url="http://127.0.0.1")
            return reply

        return write


def test_lost_replies_are_resent_and_counted_once(
    client: Any, source: TableNames, target: TableNames, original: Original
) -> None:
    populate(original)
    report = migrate_from_common(client, LosingReplies(client, 40), source, target)
    assert report.ok, report.to_dict()["problems"]
    assert report.counts[Entity.USER].written == 3
    assert report.counts[Entity.BALANCE_TRANSACTION].written == 12
    assert all(c.present == 0 for c in report.counts.values())
    assert len(_scan(client, target.users)) == 3 * 3 + 12


def test_a_dry_run_writes_nothing_and_predicts_the_run(
    client: Any, source: TableNames, target: TableNames, original: Original
) -> None:
    populate(original)
    dry = _run(client, source, target, dry_run=True)
    assert dry.ok
    assert dry.to_dict()["counts"]["balance_transaction"]["would_write"] == 12
    assert not dry.target_verified
    assert _target_contents(client, target) == [[], [], []]
    real = _run(client, source, target)
    assert {e: c.written for e, c in real.counts.items()} == {
        e: c.written for e, c in dry.counts.items()
    }
    again = _run(client, source, target, dry_run=True)
    assert sum(c.written for c in again.counts.values()) == 0


def _kinds(report: MigrationReport) -> set[tuple[str, str]]:
    return {(p.kind.value, p.source) for p in report.problems}


def test_bad_amounts_and_ledger_mismatches_are_reported_never_fixed(
    client: Any, source: TableNames, target: TableNames, original: Original, dynamodb_endpoint: str
) -> None:
    populate(original)
    original.user("dave_004", "dave@example.com")
    original.ledger("dave_004", "deposit", "50.00")
    original.balance("dave_004", "55.00")  # the ledger says 50.00
    original.user("erin_005", "erin@example.com")
    original.ledger("erin_005", "deposit", "NaN")
    original.ledger("erin_005", "deposit", "10.005")
    original.ledger("erin_005", "withdraw", "12.00")  # a withdrawal must be negative
    original.balance("erin_005", "0.1234")
    original.user("fred_006", "fred@example.com")
    original.holding("fred_006", "ETH", "1.5")  # no asset ledger at all
    report = _run(client, source, target)
    assert not report.ok
    problems = report.to_dict()["problems"]
    mismatches = [p for p in problems if p["kind"] == "ledger_mismatch"]
    assert any("55.00 is not the sum of its ledger (50.00)" in p["message"] for p in mismatches)
    assert any("1.5 is not the sum of its asset ledger" in p["message"] for p in mismatches)
    invalid = [p["message"] for p in problems if p["kind"] == "invalid"]
    assert any("finite" in m for m in invalid)
    assert any("10.005 has more than 2 decimal places" in m for m in invalid)
    assert any("must be negative" in m for m in invalid)
    assert any("0.1234 has more than 2 decimal places" in m for m in invalid)
    # Dave is copied exactly as he was (55.00, not "fixed"); the target check says so too.
    settings = _settings(dynamodb_endpoint, target)
    assert BalanceDAO(settings=settings).get_balance("dave_004").balance == Decimal("55.00")
    assert report.problem_count(ProblemKind.TARGET_LEDGER_MISMATCH) == 2  # dave and fred
    # Erin's balance cannot be kept, so neither is she (nor her ledger).
    with pytest.raises(CNOPUserNotFoundException):
        UserDAO(settings=settings).get_user_by_username("erin_005")
    # The healthy users are all there.
    _check_ledgers_through_daos(settings, ["alice_01", "bob_0002", "carol_03"])


def test_hostile_users_are_reported_and_not_copied(
    client: Any, source: TableNames, target: TableNames, original: Original, dynamodb_endpoint: str
) -> None:
    populate(original)
    original.user("mallory_1\n", "mallory@example.com")
    original.ledger("mallory_1\n", "deposit", "5.00")
    original.user("trudy\x00_01", "trudy@example.com")
    original.user("grace_07", "alice_01@example.com")  # alice's email again
    original.user("heidi_08", "Heidi@Example.com")
    original.user("ivan_009", "heidi@example.com")  # the same address, other case
    original.order(
        "ord_open",
        "alice_01",
        "limit_buy",
        asset_id="BTC",
        quantity="1",
        price="40000",
        total="40000.00",
        status="queued",
    )
    original.put(source.users, {"Pk": {"S": "SOMETHING"}, "Sk": {"S": "ELSE"}})
    report = _run(client, source, target)
    assert not report.ok
    by_kind: dict[str, list[str]] = {}
    for problem in report.problems:
        by_kind.setdefault(problem.kind.value, []).append(problem.source)
    assert any('"mallory_1\\n"' in s for s in by_kind["invalid"])
    assert any('"trudy\\u0000_01"' in s for s in by_kind["invalid"])
    assert any('"TRANS#mallory_1\\n"' in s for s in by_kind["invalid"])
    duplicates = by_kind["duplicate"]
    assert len(duplicates) == 4  # alice and grace, heidi and ivan
    assert any('"heidi_08"' in s for s in duplicates)
    assert any('"ord_open"' in s for s in by_kind["unsupported"])
    assert any('"SOMETHING"' in s for s in by_kind["unrecognised"])
    # Alice (a claimant of a duplicated email) is held back with her records.
    settings = _settings(dynamodb_endpoint, target)
    users = UserDAO(settings=settings)
    for name in ("alice_01", "grace_07", "heidi_08", "ivan_009"):
        with pytest.raises(CNOPUserNotFoundException):
            users.get_user_by_username(name)
    assert "orphan" in by_kind
    _check_ledgers_through_daos(settings, ["bob_0002", "carol_03"])
    # No item of the target carries a control character in a key.
    for table in _target_contents(client, target):
        for item in table:
            assert "\n" not in item["pk"]["S"]
            assert "\x00" not in item["pk"]["S"]


def test_an_existing_different_item_is_a_conflict_and_is_kept(
    client: Any, source: TableNames, target: TableNames, original: Original, dynamodb_endpoint: str
) -> None:
    populate(original)
    assert _run(client, source, target).ok
    settings = _settings(dynamodb_endpoint, target)
    TransactionManager(settings=settings).deposit("bob_0002", "1.00")  # bob moves on in cnop
    report = _run(client, source, target)
    conflicts = [p for p in report.problems if p.kind is ProblemKind.CONFLICT]
    assert len(conflicts) == 1
    assert '"bob_0002"' in conflicts[0].source
    assert "differs in balance, updated_at, version" in conflicts[0].message
    assert BalanceDAO(settings=settings).get_balance("bob_0002").balance == Decimal("630.49")


def test_source_and_target_must_be_different_tables(client: Any, source: TableNames) -> None:
    with pytest.raises(CNOPConfigurationException, match="must differ"):
        _run(client, source, source)


def test_a_missing_source_is_named_as_the_source(client: Any, target: TableNames) -> None:
    missing = TableNames("gone-users", "gone-orders", "gone-inventory")
    with pytest.raises(CNOPConfigurationException, match="source table 'gone-users' does not"):
        _run(client, missing, target)


def test_a_missing_target_is_a_configuration_error(client: Any, source: TableNames) -> None:
    with pytest.raises(CNOPConfigurationException, match="tables create"):
        _run(client, source, TableNames("nope-users", "nope-orders", "nope-inventory"))


def _cli(endpoint: str, source: TableNames, prefix: str, *args: str) -> Any:
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "SOURCE_USERS_TABLE": source.users,
        "SOURCE_ORDERS_TABLE": source.orders,
        "SOURCE_INVENTORY_TABLE": source.inventory,
    }
    return subprocess.run(
        [sys.executable, "-m", "cnop.data", "migrate-from-common", "--prefix", prefix, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_command_exits_0_when_clean_and_3_when_problems_were_found(
    client: Any, source: TableNames, target: TableNames, original: Original
) -> None:
    populate(original)
    prefix = target.users.removesuffix("users")
    dry = _cli(client.meta.endpoint_url, source, prefix, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["counts"]["user"]["would_write"] == 3
    done = _cli(client.meta.endpoint_url, source, prefix)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ok"] is True
    again = _cli(client.meta.endpoint_url, source, prefix)
    assert again.returncode == 0
    assert json.loads(again.stdout)["counts"]["user"]["present"] == 3

    original.ledger("alice_01", "deposit", "Infinity")
    bad = _cli(client.meta.endpoint_url, source, prefix)
    assert bad.returncode == 3
    report = json.loads(bad.stdout)
    assert report["ok"] is False
    assert report["problem_counts"] == {"invalid": 1}
    assert "Infinity" not in bad.stdout.split('"problems"')[0]

    same = _cli(client.meta.endpoint_url, source, source.users.removesuffix("users"))
    assert same.returncode == 1
    assert "must differ" in same.stderr
    bad_name = _cli(client.meta.endpoint_url, source, prefix, "--source-users-table", "a b")
    assert bad_name.returncode == 1
    assert "SOURCE_USERS_TABLE" in bad_name.stderr


def test_an_email_already_registered_in_the_target_is_a_conflict(
    client: Any, source: TableNames, target: TableNames, original: Original, dynamodb_endpoint: str
) -> None:
    populate(original)
    original.user("Bob_0002", "other@example.com")  # "bob_0002" twice once lower-cased
    settings = _settings(dynamodb_endpoint, target)
    users = UserDAO(settings=settings)
    users.create_user(
        UserCreate(
            username="zed_0001",
            email="alice_01@example.com",
            first_name="Zed",
            last_name="Ng",
        ),
        password_hash="$2b$12$" + "z" * 53,
    )
    report = _run(client, source, target)
    conflicts = [p for p in report.problems if p.kind is ProblemKind.CONFLICT]
    assert len(conflicts) == 1
    assert '"alice_01"' in conflicts[0].source
    assert "EMAIL#alice_01@example.com/EMAIL differs in username" in conflicts[0].message
    assert "$2b$" not in json.dumps(report.to_dict())  # no password hash in the report
    assert users.get_user_by_email("alice_01@example.com").username == "zed_0001"
    with pytest.raises(CNOPUserNotFoundException):
        users.get_user_by_username("alice_01")
    duplicates = [p.source for p in report.problems if p.kind is ProblemKind.DUPLICATE]
    assert len(duplicates) == 4  # both users and both balances: neither is chosen
    assert any('"Bob_0002" "USER"' in s for s in duplicates)
    with pytest.raises(CNOPUserNotFoundException):
        users.get_user_by_username("bob_0002")
    # Carol is untouched by the others' problems.
    _check_ledgers_through_daos(settings, ["carol_03"])


PLANNED = {
    Entity.USER: 3,
    Entity.BALANCE: 3,
    Entity.BALANCE_TRANSACTION: 12,
    Entity.ASSET_BALANCE: 3,
    Entity.ASSET_TRANSACTION: 6,
    Entity.ORDER: 6,
    Entity.ASSET: 3,
}


def test_two_runs_at_once_write_everything_once(
    client: Any, source: TableNames, target: TableNames, original: Original
) -> None:
    populate(original)
    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(lambda _: _run(client, source, target), range(2)))
    for report in reports:
        assert report.ok, report.to_dict()["problems"]
        for entity, planned in PLANNED.items():
            assert report.counts[entity].written + report.counts[entity].present == planned
    for entity, planned in PLANNED.items():
        assert sum(r.counts[entity].written for r in reports) == planned, entity
    assert len(_scan(client, target.users)) == 3 * 3 + 12
