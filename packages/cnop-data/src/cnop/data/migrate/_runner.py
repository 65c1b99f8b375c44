"""``migrate_from_common``: read the original tables, plan, copy, verify, report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cnop.data.config import TableNames
from cnop.data.executors import SyncExecutor
from cnop.data.migrate._plan import Write, build_plan
from cnop.data.migrate._report import MigrationReport, ProblemKind
from cnop.data.migrate._source import read_source
from cnop.data.migrate._verify import verify_target
from cnop.data.migrate._writer import Outcome, write_planned
from cnop.data.tables import checked_tables, verify_tables
from cnop.exceptions import CNOPConfigurationException, CNOPValidationException

__all__ = ["migrate_from_common"]


def _endpoint(client: Any) -> tuple[Any, Any]:
    meta = getattr(client, "meta", None)
    return getattr(meta, "endpoint_url", None), getattr(meta, "region_name", None)


def _check_tables(source: Any, target: Any, same_endpoint: bool) -> tuple[TableNames, TableNames]:
    if not isinstance(source, TableNames):
        raise CNOPValidationException.for_field(
            "source", f"must be a TableNames, not {type(source).__name__}"
        )
    if len(set(source.all())) != 3:
        raise CNOPConfigurationException("the three source tables must have different names")
    checked = checked_tables(target)
    shared = sorted(set(source.all()) & set(checked.all()))
    if same_endpoint and shared:
        raise CNOPConfigurationException(
            "the source and target tables must differ (both name "
            + ", ".join(repr(n) for n in shared)
            + "): give the target a --prefix or other *_TABLE names",
            details={"tables": shared},
        )
    return source, checked


def migrate_from_common(
    source_client: Any,
    target_client: Any,
    source: TableNames,
    target: TableNames,
    *,
    dry_run: bool = False,
    on_write: Callable[[Write], None] | None = None,
) -> MigrationReport:
    """Copy the original package's tables ``source`` into cnop's tables ``target``.

    Safe to run again, and to resume after a crash: target ids come from the source
    keys, and an item already in the target exactly as planned counts as ``present``
    (a different one is a ``conflict`` and is left alone). With ``dry_run`` nothing is
    written; the report says what would be. The target tables must exist (``python -m
    cnop.data tables create``). ``on_write`` is called after each write (progress).
    Raises CNOPConfigurationException for unusable tables, and the data layer's
    errors when a database stays unreachable (run again to resume).
    """
    same = source_client is target_client or _endpoint(source_client) == _endpoint(target_client)
    source, target = _check_tables(source, target, same)
    verify_tables(target_client, target)
    report = MigrationReport(dry_run=bool(dry_run))
    try:
        snapshot = SyncExecutor(source_client).run(read_source(source))
    except CNOPConfigurationException as exc:
        if exc.details.get("dynamodb_error") != "ResourceNotFoundException":
            raise
        raise CNOPConfigurationException(
            f"the source table {exc.details.get('table')!r} does not exist "
            "(name the original's tables with --source-users-table, --source-orders-table, "
            "--source-inventory-table or SOURCE_*_TABLE)",
            details={"table": exc.details.get("table")},
        ) from None
    plan = build_plan(snapshot, target, report)
    writer = SyncExecutor(target_client)
    for write in plan.writes:
        result = writer.run(write_planned(write, dry_run=dry_run))
        for entity in write.entities:
            counts = report.counts[entity]
            if result.outcome is Outcome.WRITTEN:
                counts.written += 1
            elif result.outcome is Outcome.PRESENT:
                counts.present += 1
            else:
                counts.conflicts += 1
        if result.outcome is Outcome.CONFLICT:
            report.add(
                ProblemKind.CONFLICT,
                write.entities[0],
                write.label,
                f"the target already holds a different item ({result.detail}); left as it is",
            )
        if on_write is not None:
            on_write(write)
    if not dry_run:
        writer.run(verify_target(target, plan.usernames, report))
    return report
