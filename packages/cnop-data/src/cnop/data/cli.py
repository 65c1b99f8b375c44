"""``python -m cnop.data tables create|delete|describe [--endpoint URL] [--prefix P]``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from cnop.data.config import DataSettings, TableNames, dynamodb_client
from cnop.data.tables import create_tables, delete_tables, describe_tables
from cnop.exceptions import CNOPException

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cnop.data", description=__doc__)
    commands = parser.add_subparsers(dest="group", required=True)
    tables = commands.add_parser("tables", help="manage the users, orders and inventory tables")
    tables.add_argument("action", choices=("create", "delete", "describe"))
    tables.add_argument(
        "--endpoint",
        help="DynamoDB endpoint URL (default: AWS_ENDPOINT_URL_DYNAMODB, else AWS itself)",
    )
    tables.add_argument("--prefix", default="", help="prefix for every table name, e.g. 'dev-'")
    tables.add_argument("--region", help="AWS region (default: AWS_REGION)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        overrides = {}
        if args.endpoint:
            overrides["endpoint_url"] = args.endpoint
        if args.region:
            overrides["region"] = args.region
        settings = DataSettings.from_env(**overrides)
        names = TableNames.from_env(args.prefix)
        client = dynamodb_client(settings)
        if args.action == "create":
            created = create_tables(client, names)
            existing = [n for n in names.all() if n not in created]
            print(json.dumps({"created": created, "already_existed": existing}))
        elif args.action == "delete":
            deleted = delete_tables(client, names)
            print(json.dumps({"deleted": deleted}))
        else:
            print(json.dumps(describe_tables(client, names), indent=2, default=str))
    except CNOPException as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return 0
