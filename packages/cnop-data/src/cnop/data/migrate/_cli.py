"""The ``migrate-from-common`` command of ``python -m cnop.data``.

Exit status: 0 when everything was copied (or, with ``--dry-run``, would be) and every
check passed; 3 when the run finished but found problems (listed in the report: refused
records, conflicts, ledger mismatches); 1 when an error stopped it (the reason on
stderr; run it again to resume); 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from cnop.data.config import DataSettings, TableNames, dynamodb_client
from cnop.data.migrate._runner import migrate_from_common
from cnop.exceptions import CNOPConfigurationException

__all__ = ["EXIT_PROBLEMS", "add_arguments", "run"]

#: The run finished and its report lists problems.
EXIT_PROBLEMS = 3

_SOURCE_ENV = {
    "users": "SOURCE_USERS_TABLE",
    "orders": "SOURCE_ORDERS_TABLE",
    "inventory": "SOURCE_INVENTORY_TABLE",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's own options (the target's --endpoint/--prefix/--region are shared)."""
    for role, variable in _SOURCE_ENV.items():
        parser.add_argument(
            f"--source-{role}-table",
            dest=f"source_{role}",
            help=f"the original's {role} table (default: {variable}, else '{role}')",
        )
    parser.add_argument(
        "--source-endpoint",
        help="DynamoDB endpoint of the source (default: SOURCE_AWS_ENDPOINT_URL_DYNAMODB, "
        "else the target's)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="read and check everything, write nothing"
    )


def _source_tables(args: argparse.Namespace) -> TableNames:
    names = {}
    for role, variable in _SOURCE_ENV.items():
        name = getattr(args, f"source_{role}") or os.environ.get(variable) or role
        try:
            TableNames(**{role: name})
        except CNOPConfigurationException:
            raise CNOPConfigurationException(
                f"{variable} (or --source-{role}-table) must be 3-255 characters of letters, "
                "digits, '_', '-' or '.'",
                details={"variable": variable},
            ) from None
        names[role] = name
    return TableNames(**names)


class _Progress:
    """Tells stderr every 1000 writes, so a long run is seen to move."""

    def __init__(self) -> None:
        self.done = 0

    def __call__(self, _: object) -> None:
        self.done += 1
        if self.done % 1000 == 0:
            print(f"{self.done} items handled", file=sys.stderr)


def run(args: argparse.Namespace, target_client: Any, target: TableNames) -> int:
    """Run the migration; print the JSON report; return the exit status."""
    source = _source_tables(args)
    source_client = target_client
    endpoint = args.source_endpoint or os.environ.get("SOURCE_AWS_ENDPOINT_URL_DYNAMODB")
    if endpoint:
        overrides: dict[str, Any] = {"endpoint_url": endpoint}
        if args.region:
            overrides["region"] = args.region
        source_client = dynamodb_client(DataSettings.from_env(**overrides))
    report = migrate_from_common(
        source_client, target_client, source, target, dry_run=args.dry_run, on_write=_Progress()
    )
    print(json.dumps(report.to_dict(), indent=2))
    return 0 if report.ok else EXIT_PROBLEMS
