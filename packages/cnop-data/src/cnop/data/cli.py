"""``python -m cnop.data tables create|delete|describe``, ``health``, ``orders match|expire``
and ``migrate-from-common``.

All take ``--endpoint URL``, ``--prefix P`` and ``--region R``; ``health`` also takes
``--deadline SECONDS`` (default 2); ``orders match`` takes ``--asset ID --price P`` and
fills every waiting limit order that price crosses; ``orders expire`` expires every
waiting order past its ``expires_at``. Exit status: 0 on success (``health``: healthy),
1 when a step failed (the reason on stderr) or the health check found a problem.
``migrate-from-common`` (see MIGRATING.md) exits 3 when its report lists problems.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from cnop.data.config import DataSettings, TableNames, dynamodb_client
from cnop.data.health import DEFAULT_DEADLINE, check_health
from cnop.data.migrate import _cli as migrate
from cnop.data.tables import create_tables, delete_tables, describe_tables
from cnop.exceptions import CNOPConfigurationException, CNOPException
from cnop.exceptions.aws import DYNAMODB_ENDPOINT_VARIABLES, REGION_VARIABLES

__all__ = ["main"]

# ASCII only: float() would also take "nan", "inf" and the digits of other scripts.
_SECONDS = re.compile(r"[0-9]{1,3}(\.[0-9]{1,6})?")
_REGION = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def _seconds(text: str) -> float:
    if not _SECONDS.fullmatch(text) or float(text) <= 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds, e.g. 2 or 0.5")
    return float(text)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint",
        help="DynamoDB endpoint URL (default: AWS_ENDPOINT_URL_DYNAMODB, else AWS itself)",
    )
    parser.add_argument("--prefix", default="", help="prefix for every table name, e.g. 'dev-'")
    parser.add_argument("--region", help="AWS region (default: AWS_REGION)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cnop.data", description=__doc__)
    commands = parser.add_subparsers(dest="group", required=True)
    tables = commands.add_parser("tables", help="manage the users, orders and inventory tables")
    tables.add_argument("action", choices=("create", "delete", "describe"))
    _common(tables)
    health = commands.add_parser("health", help="check the tables within a deadline")
    _common(health)
    health.add_argument(
        "--deadline",
        type=_seconds,
        default=DEFAULT_DEADLINE,
        help=f"seconds the whole check may take (default {DEFAULT_DEADLINE:g})",
    )
    orders = commands.add_parser("orders", help="settle waiting limit orders (operators)")
    orders.add_argument("action", choices=("match", "expire"))
    orders.add_argument("--asset", help="the asset whose waiting orders to match")
    orders.add_argument("--price", help="the execution price, e.g. 64000 or 0.25")
    _common(orders)
    migration = commands.add_parser(
        "migrate-from-common", help="copy the original Common Package's tables into these"
    )
    _common(migration)
    migrate.add_arguments(migration)
    return parser


def _settle(args: argparse.Namespace, client: Any, names: TableNames) -> int:
    from cnop.data.transactions import TransactionManager  # noqa: PLC0415 - only for orders

    settings = _settings(args).with_tables(names)
    flows = TransactionManager(settings=settings, client=client)
    if args.action == "match":
        if args.asset is None or args.price is None:
            print("error: orders match needs --asset and --price", file=sys.stderr)
            return 2
        sweep = flows.match_limit_orders(args.asset, args.price)
    else:
        sweep = flows.expire_limit_orders()
    print(
        json.dumps(
            {
                "done": [r.order.order_id for r in sweep.done if r.order is not None],
                "lost": sweep.lost,
                "refused": sweep.refused,
            }
        )
    )
    return 0


def _with_flags(exc: CNOPConfigurationException) -> CNOPConfigurationException:
    """A region or endpoint error reworded to name the flag that also sets it."""
    where = str(exc.details.get("variable", ""))
    problem = exc.message[len(where) :].lstrip() if exc.message.startswith(where) else ""
    if where in ("region", *REGION_VARIABLES):
        name = "--region" if where == "region" else where
        if where != "region" and not os.environ.get(where):
            message = f"{name} must be set (e.g. us-east-1), or pass --region"
        else:
            name += "" if where == "region" else " (or --region)"
            if problem.startswith("must be"):
                message = f"{name} {problem}"
            else:
                message = f"{name} must be an AWS region name such as us-east-1: it {problem}"
    elif where in ("endpoint_url", *DYNAMODB_ENDPOINT_VARIABLES):
        name = "--endpoint" if where == "endpoint_url" else f"{where} (or --endpoint)"
        # The shared check's message never repeats the URL, so neither does this one.
        message = f"{name} must be an http(s) URL: it {problem}"
    else:
        return exc
    return CNOPConfigurationException(message, details={"variable": where})


def _settings(args: argparse.Namespace) -> DataSettings:
    overrides = {}
    if args.endpoint:
        overrides["endpoint_url"] = args.endpoint
    if args.region:
        overrides["region"] = args.region
    try:
        return DataSettings.from_env(**overrides)
    except CNOPConfigurationException as exc:
        raise _with_flags(exc) from None


def _client(args: argparse.Namespace) -> tuple[Any, TableNames]:
    settings = _settings(args)
    if not _REGION.fullmatch(settings.region):
        raise CNOPConfigurationException(
            "AWS_REGION (or --region) must be lowercase letters, digits and '-', e.g. us-east-1",
            details={"variable": "AWS_REGION"},
        )
    names = TableNames.from_env(args.prefix)
    try:
        return dynamodb_client(settings), names
    except ValueError:  # botocore refuses the endpoint; its message would echo it
        raise CNOPConfigurationException(
            "AWS_ENDPOINT_URL_DYNAMODB (or --endpoint) must be an http(s) URL",
            details={"variable": "AWS_ENDPOINT_URL_DYNAMODB"},
        ) from None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        client, names = _client(args)
        if args.group == "orders":
            return _settle(args, client, names)
        if args.group == "migrate-from-common":
            return migrate.run(args, client, names)
        if args.group == "health":
            report = check_health(client, names, deadline=args.deadline)
            print(json.dumps(report.to_dict(), indent=2))
            return 0 if report.healthy else 1
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
