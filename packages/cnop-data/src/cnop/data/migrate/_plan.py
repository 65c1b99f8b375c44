"""From a source snapshot to the exact items to write (pure: no I/O).

Every record is converted on its own; then the whole is checked: two records that
would become one target key (or one email), records of a user that is not copied,
and balances that are not the sum of their ledger. Items are built by cnop's own item
mappers, so they are exactly what cnop writes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from cnop.data.codec import Item
from cnop.data.config import TableNames
from cnop.data.enums import TransactionStatus
from cnop.data.layout import (
    ASSET_BALANCE_MAPPER,
    ASSET_MAPPER,
    ASSET_TRANSACTION_MAPPER,
    BALANCE_MAPPER,
    BALANCE_TRANSACTION_MAPPER,
    ORDER_MAPPER,
    USER_MAPPER,
    email_guard_key,
)
from cnop.data.migrate import _convert as convert
from cnop.data.migrate._report import Entity, MigrationReport, ProblemKind
from cnop.data.migrate._source import SourceItem, SourceSnapshot
from cnop.data.models import (
    AssetBalance,
    AssetTransaction,
    Balance,
    BalanceTransaction,
    Order,
    User,
)

__all__ = ["Plan", "Write", "build_plan"]

T = TypeVar("T")


@dataclass(frozen=True)
class Write:
    """Items to create together: one ``PutItem``, or (a user) one ``TransactWriteItems``.

    ``entities`` are what the write counts for: a user's write also carries its balance.
    """

    entities: tuple[Entity, ...]
    label: str
    table: str
    items: tuple[Item, ...]


@dataclass
class Plan:
    writes: list[Write] = field(default_factory=list)
    #: Target usernames whose ledgers are checked against their balances after the copy.
    usernames: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Converted:
    source: SourceItem
    entity: Any


def _convert_all(
    report: MigrationReport,
    entity: Entity,
    sources: Iterable[SourceItem],
    conversion: Callable[[convert.Source], T],
) -> list[_Converted]:
    done = []
    for source in sources:
        report.counts[entity].read += 1
        try:
            done.append(_Converted(source, conversion(source.item)))
        except convert.ConversionError as exc:
            _refuse(report, entity, source, exc.kind, exc.message)
    return done


def _refuse(
    report: MigrationReport, entity: Entity, source: SourceItem, kind: ProblemKind, message: str
) -> None:
    report.counts[entity].refused += 1
    report.add(kind, entity, source.label, message)


def _unique(
    report: MigrationReport,
    entity: Entity,
    records: list[_Converted],
    key: Callable[[Any], str],
    what: str,
) -> list[_Converted]:
    """The records whose ``key`` no other record shares; every sharer is refused."""
    groups: dict[str, list[_Converted]] = defaultdict(list)
    for record in records:
        groups[key(record.entity)].append(record)
    kept = []
    for value, group in groups.items():
        if len(group) == 1:
            kept.append(group[0])
            continue
        others = ", ".join(r.source.label for r in group)
        for record in group:
            _refuse(
                report,
                entity,
                record.source,
                ProblemKind.DUPLICATE,
                f"{what} {value!r} is claimed by {len(group)} source items ({others})",
            )
    return kept


def _owned(
    report: MigrationReport, entity: Entity, records: list[_Converted], users: set[str]
) -> list[_Converted]:
    kept = []
    for record in records:
        if record.entity.username in users:
            kept.append(record)
        else:
            _refuse(
                report,
                entity,
                record.source,
                ProblemKind.ORPHAN,
                f"belongs to user {record.entity.username!r}, which is not copied",
            )
    return kept


def _check_ledgers(
    report: MigrationReport,
    balances: dict[str, _Converted],
    ledgers: list[_Converted],
    holdings: list[_Converted],
    asset_ledgers: list[_Converted],
) -> None:
    """Report each source balance that is not the sum of its (completed) ledger records."""
    usd: dict[str, Decimal] = defaultdict(Decimal)
    for record in ledgers:
        tx: BalanceTransaction = record.entity
        if tx.status is TransactionStatus.COMPLETED:
            usd[tx.username] += tx.amount
        else:
            report.note("balance_transactions_not_completed_copied_not_summed")
    for username, record in balances.items():
        balance: Balance = record.entity
        if balance.balance != usd.get(username, Decimal(0)):
            report.add(
                ProblemKind.LEDGER_MISMATCH,
                Entity.BALANCE,
                record.source.label,
                f"balance {balance.balance} is not the sum of its ledger "
                f"({usd.get(username, Decimal(0))}); copied as it is",
            )
    held: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for record in asset_ledgers:
        atx: AssetTransaction = record.entity
        held[(atx.username, atx.asset_id)] += atx.quantity
    seen = set()
    for record in holdings:
        holding: AssetBalance = record.entity
        key = (holding.username, holding.asset_id)
        seen.add(key)
        if holding.quantity != held.get(key, Decimal(0)):
            report.add(
                ProblemKind.LEDGER_MISMATCH,
                Entity.ASSET_BALANCE,
                record.source.label,
                f"quantity {holding.quantity} is not the sum of its asset ledger "
                f"({held.get(key, Decimal(0))}); copied as it is",
            )
    for key, total in sorted(held.items()):
        if key not in seen and total != 0:
            report.add(
                ProblemKind.LEDGER_MISMATCH,
                Entity.ASSET_BALANCE,
                f"user {key[0]!r} asset {key[1]!r}",
                f"the asset ledger sums to {total} but the user holds no {key[1]}",
            )


def _guard_item(user: User) -> Item:
    # The same item cnop's create_user writes: it makes the email unique.
    return {**email_guard_key(user.email), "username": {"S": user.username}}


def _order_ids(sources: list[SourceItem]) -> dict[str, str]:
    """Each source order id's cnop id (for the ledger records that name orders)."""
    ids = {}
    for source in sources:
        with suppress(convert.ConversionError):  # convert_order reports it
            ids[convert.required_text(source.item, "Pk")] = convert.order_target_id(source.item)
    return ids


def _plan_users(
    report: MigrationReport, src: dict[Entity, list[SourceItem]], target: TableNames, plan: Plan
) -> dict[str, _Converted]:
    """Plan each user with its email guard and balance; returns the kept balances."""
    users = _convert_all(report, Entity.USER, src[Entity.USER], convert.convert_user)
    users = _unique(report, Entity.USER, users, lambda u: u.username, "username")
    users = _unique(report, Entity.USER, users, lambda u: u.email, "email")
    balances = _convert_all(report, Entity.BALANCE, src[Entity.BALANCE], convert.convert_balance)
    balances = _unique(report, Entity.BALANCE, balances, lambda b: b.username, "balance of")
    # A balance that cannot be copied keeps its user back: they are written together.
    kept_sources = {id(b.source) for b in balances}
    refused_balances = {
        (convert.text(s.item, "Pk", required=False) or "").lower()
        for s in src[Entity.BALANCE]
        if id(s) not in kept_sources
    }
    by_user = {b.entity.username: b for b in balances}
    copied: set[str] = set()
    for record in users:
        user: User = record.entity
        if user.username in refused_balances:
            _refuse(
                report,
                Entity.USER,
                record.source,
                ProblemKind.ORPHAN,
                "not copied: its balance is refused (see the balance's problem)",
            )
            continue
        held = by_user.get(user.username)
        entities: tuple[Entity, ...] = (Entity.USER, Entity.BALANCE)
        if held is None:
            # cnop keeps a balance for every user; the ledger check still applies.
            report.note("users_without_balance_given_zero")
            entities = (Entity.USER,)
            balance = Balance(
                username=user.username, created_at=user.created_at, updated_at=user.created_at
            )
        else:
            balance = held.entity
        copied.add(user.username)
        items = (USER_MAPPER.to_item(user), _guard_item(user), BALANCE_MAPPER.to_item(balance))
        plan.writes.append(Write(entities, record.source.label, target.users, items))
    plan.usernames = sorted(copied)
    _owned(report, Entity.BALANCE, balances, copied)
    return {u: r for u, r in by_user.items() if u in copied}


def _records(
    report: MigrationReport,
    entity: Entity,
    sources: list[SourceItem],
    conversion: Callable[[convert.Source], Any],
    copied: set[str],
) -> list[_Converted]:
    return _owned(report, entity, _convert_all(report, entity, sources, conversion), copied)


def build_plan(snapshot: SourceSnapshot, target: TableNames, report: MigrationReport) -> Plan:
    """Convert and check everything; the returned writes are what may be copied."""
    report.skipped["lock"] = snapshot.locks
    for entity, source in snapshot.unrecognised:
        report.add(
            ProblemKind.UNRECOGNISED,
            entity,
            source.label,
            "not an item the original package writes; left where it is",
        )
    src = snapshot.by_entity
    order_ids = _order_ids(src[Entity.ORDER])
    plan = Plan()
    balances = _plan_users(report, src, target, plan)
    copied = set(plan.usernames)

    def ledger(item: convert.Source) -> BalanceTransaction:
        return convert.convert_balance_transaction(item, order_ids)

    def asset_ledger(item: convert.Source) -> AssetTransaction:
        return convert.convert_asset_transaction(item, order_ids)

    ledgers = _records(
        report, Entity.BALANCE_TRANSACTION, src[Entity.BALANCE_TRANSACTION], ledger, copied
    )
    holding = convert.convert_asset_balance
    holdings = _records(report, Entity.ASSET_BALANCE, src[Entity.ASSET_BALANCE], holding, copied)
    holdings = _unique(
        report, Entity.ASSET_BALANCE, holdings, lambda h: f"{h.username}/{h.asset_id}", "holding"
    )
    asset_ledgers = _records(
        report, Entity.ASSET_TRANSACTION, src[Entity.ASSET_TRANSACTION], asset_ledger, copied
    )
    orders = _records(report, Entity.ORDER, src[Entity.ORDER], convert.convert_order, copied)
    assets = _convert_all(report, Entity.ASSET, src[Entity.ASSET], convert.convert_asset)
    assets = _unique(report, Entity.ASSET, assets, lambda a: a.asset_id, "asset_id")
    _check_ledgers(report, balances, ledgers, holdings, asset_ledgers)
    _notes(report, orders, src[Entity.ASSET])
    for entity, table, records, mapper in (
        (Entity.BALANCE_TRANSACTION, target.users, ledgers, BALANCE_TRANSACTION_MAPPER),
        (Entity.ASSET_BALANCE, target.orders, holdings, ASSET_BALANCE_MAPPER),
        (Entity.ASSET_TRANSACTION, target.orders, asset_ledgers, ASSET_TRANSACTION_MAPPER),
        (Entity.ORDER, target.orders, orders, ORDER_MAPPER),
        (Entity.ASSET, target.inventory, assets, ASSET_MAPPER),
    ):
        for record in records:
            item = mapper.to_item(record.entity)
            plan.writes.append(Write((entity,), record.source.label, table, (item,)))
    return plan


#: Inventory attributes of the original that cnop's Asset does not keep.
_ASSET_FIELDS_NOT_CARRIED = frozenset(
    {
        "amount",
        "symbol",
        "image",
        "market_cap_rank",
        "current_price",
        "high_24h",
        "low_24h",
        "circulating_supply",
        "total_supply",
        "max_supply",
        "price_change_24h",
        "price_change_percentage_24h",
        "price_change_percentage_7d",
        "price_change_percentage_30d",
        "market_cap",
        "market_cap_change_24h",
        "market_cap_change_percentage_24h",
        "total_volume_24h",
        "volume_change_24h",
        "ath",
        "ath_change_percentage",
        "ath_date",
        "atl",
        "atl_change_percentage",
        "atl_date",
        "last_updated",
        "sparkline_7d",
    }
)


def _notes(report: MigrationReport, orders: list[_Converted], assets: list[SourceItem]) -> None:
    for record in orders:
        order: Order = record.entity
        if order.order_type.is_limit:
            report.note("limit_orders_limit_price_taken_from_price")
    for source in assets:
        if _ASSET_FIELDS_NOT_CARRIED & set(source.item):
            report.note("assets_with_market_data_not_carried")
