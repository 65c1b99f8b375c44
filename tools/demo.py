"""The CNOP common packages end to end, as a story a newcomer can read in a minute.

    bash tools/demo.sh                      # embedded: moto's in-process DynamoDB, in-memory locks
    bash tools/demo.sh --dynamodb-endpoint http://127.0.0.1:8000 --redis-url redis://127.0.0.1:6379/0

Creates the tables, registers two users (policy-checked, bcrypt-hashed passwords), logs one
in (JWT), turns signed gateway headers into a user context, then deposits, buys, sells,
refuses an oversell, runs 20 concurrent deposits under the user lock, and shows the history
newest first and the final balances. Every log line goes, as JSON, to the file it names.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

#: How long a flow waits for its user's lock (see step 9).
LOCK_WAIT = 60.0
ASSETS = (("BTC", "Bitcoin", "64000"), ("ETH", "Ether", "3200"))


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dynamodb-endpoint", help="a real DynamoDB (default: moto in-process)")
    parser.add_argument("--redis-url", help="Redis for the user locks (default: in-memory)")
    parser.add_argument("--log-file", type=Path, help="where the JSON logs go (default: temp)")
    return parser.parse_args(argv)


class Story:
    """Numbered steps on stdout."""

    def __init__(self) -> None:
        self.step = 0
        self.started = time.perf_counter()

    def title(self, text: str) -> None:
        self.step += 1
        print(f"\n{self.step}. {text}", flush=True)

    @staticmethod
    def say(text: str) -> None:
        print(f"   {text}", flush=True)


@contextlib.contextmanager
def _dynamodb(endpoint: str | None) -> Iterator[str]:
    """An embedded DynamoDB (moto) unless ``endpoint`` is given; yields a description."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "demo")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "demo")
    os.environ.setdefault("AWS_REGION", "us-east-1")
    if endpoint:
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
        yield f"DynamoDB at {endpoint}"
        return
    os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
    from moto import mock_aws

    with mock_aws():
        yield "moto's in-process DynamoDB (embedded)"


def _shown(url: str) -> str:
    """``url`` without a password, fit to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _secrets() -> None:
    # Fresh random secrets for this run, unless the caller configured real ones.
    os.environ.setdefault("JWT_SECRET_KEY", secrets.token_urlsafe(48))
    os.environ.setdefault("GATEWAY_SIGNING_SECRET", secrets.token_urlsafe(48))


def run(args: argparse.Namespace) -> int:  # noqa: PLR0915 - one linear story
    from cnop.auth import GatewaySigner, PasswordManager, PasswordPolicy, TokenManager
    from cnop.data import (
        AssetBalanceDAO,
        AssetCreate,
        AssetDAO,
        AssetTransactionDAO,
        AssetUpdate,
        BalanceDAO,
        DataSettings,
        OrderCreate,
        OrderType,
        TransactionManager,
        UserCreate,
        UserDAO,
        create_tables,
        dynamodb_client,
    )
    from cnop.exceptions import CNOPException, CNOPValidationException
    from cnop.locking import LockManager
    from cnop.logging import configure_logging, request_context

    log_file: Path = args.log_file or Path(tempfile.mkdtemp(prefix="cnop-demo-")) / "demo.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    configure_logging(service="cnop-demo", level="INFO", fmt="json", sink=str(log_file))
    _secrets()
    story = Story()
    print("CNOP common packages: an end-to-end demo")
    with _dynamodb(args.dynamodb_endpoint) as where:
        # Twenty deposits queue for one user's lock: the last waits for the other nineteen,
        # so give waiters far more than the default 5 s on a slow or busy machine.
        locks = (
            LockManager.from_url(args.redis_url, default_wait=LOCK_WAIT)
            if args.redis_url
            else LockManager.in_memory(default_wait=LOCK_WAIT)
        )
        print(f"   data: {where}")
        print(
            f"   locks: {'Redis at ' + _shown(args.redis_url) if args.redis_url else 'in-memory'}"
        )
        print(f"   JSON logs: {log_file}")

        # A fresh set of tables per run, so a real server can be used again and again.
        settings = DataSettings.from_env(table_prefix=f"demo-{uuid.uuid4().hex[:6]}-")
        story.title("Create the tables")
        create_tables(dynamodb_client(settings), settings.tables)
        story.say(f"users, orders, inventory: {', '.join(settings.tables.all())}")
        assets = AssetDAO(settings=settings)
        for asset_id, name, price in ASSETS:
            assets.create_asset(
                AssetCreate(
                    asset_id=asset_id, name=name, category="crypto", price_usd=Decimal(price)
                )
            )
        story.say("listed " + ", ".join(f"{a} at {p} USD" for a, _, p in ASSETS))

        story.title("Register two users (password policy, bcrypt cost 12)")
        passwords = PasswordManager()
        policy = PasswordPolicy.for_manager(passwords)
        users = UserDAO(settings=settings)
        suffix = uuid.uuid4().hex[:6]
        password = f"Cnop-demo-{secrets.token_hex(4)}-9X"  # fresh per run; passes the policy
        alice, bob = f"alice_{suffix}", f"bob_{suffix}"
        try:
            policy.validate("password1", username=alice)
        except CNOPValidationException as exc:
            story.say(
                f"a weak password is refused: {len(exc.errors)} rules broken, e.g. "
                f"'{exc.errors[0]['message']}'"
            )
        for name, first in ((alice, "Alice"), (bob, "Bob")):
            policy.validate(password, username=name)
            user = users.create_user(
                UserCreate(
                    username=name,
                    email=f"{name}@example.com",
                    first_name=first,
                    last_name="Demo",
                ),
                passwords.hash_password(password),
            )
            story.say(f"registered {user.username} <{user.email}> with a zero USD balance")

        story.title("Log in: check the password, issue a JWT")
        user = users.authenticate_user(alice, password, passwords)
        tokens = TokenManager.from_env()
        issued = tokens.create_access_token(user.username, role=user.role.value)
        claims = tokens.verify_access_token(issued.access_token)
        story.say(
            f"access token for {claims.sub} (role {claims.role.value}), "
            f"expires in {issued.expires_in} s"
        )

        story.title("The gateway forwards signed headers; the service checks them")
        gateway = GatewaySigner.from_env()
        headers = gateway.sign(
            {
                "X-Request-ID": f"req-{uuid.uuid4().hex[:12]}",
                "X-User-ID": claims.sub,
                "X-User-Role": claims.role.value,
                "X-Authenticated": "true",
            },
            method="GET",
            target="/orders",
        )
        context = gateway.authenticate(headers, method="GET", target="/orders")
        story.say(
            f"user context: {context.user_id} ({context.role.value if context.role else '-'})"
            f", request {context.request_id}"
        )
        try:
            gateway.authenticate({**headers, "X-User-ID": bob}, method="GET", target="/orders")
        except CNOPException as exc:
            story.say(f"the same headers naming {bob} are refused: {exc.message}")

        flows = TransactionManager(settings=settings, locks=locks)
        balances, holding_dao = BalanceDAO(settings=settings), AssetBalanceDAO(settings=settings)

        def now_holds(user: str) -> str:
            cash = balances.get_balance(user).balance
            btc = holding_dao.get_asset_balance(user, "BTC").quantity
            return f"balance {cash} USD, holding {btc} BTC"

        me = context.user_id or alice
        with request_context(context.request_id, user=me):
            story.title("Deposit 10,000.00 USD (sent twice with one idempotency key)")
            key = f"dep-{uuid.uuid4().hex[:12]}"
            deposit = flows.deposit(me, "10000.00", idempotency_key=key)
            again = flows.deposit(me, "10000.00", idempotency_key=key)
            story.say(
                f"credited {deposit.amount} USD; the repeat was replayed={again.replayed}, "
                f"balance {balances.get_balance(me).balance} USD"
            )

            story.title("Buy 0.05 BTC at the market price")
            bought = flows.buy(me, "BTC", "0.05")
            status = bought.order.status.value if bought.order else "-"
            story.say(
                f"paid {-bought.amount} USD at {bought.price}; {now_holds(me)}, order {status}"
            )

            story.title("Sell 0.02 BTC")
            sold = flows.sell(me, "BTC", "0.02")
            story.say(f"received {sold.amount} USD; {now_holds(me)}")

            story.title("Try to sell 1 BTC (more than held)")
            try:
                flows.sell(me, "BTC", "1")
            except CNOPException as exc:
                story.say(f"refused ({exc.code}, HTTP {exc.status_code}): {exc.message}")
            else:
                story.say("ERROR: the oversell went through")
                return 1

            story.title("A limit buy of 0.01 BTC at 62,000 waits; the price falls; it fills")
            placed = flows.place_limit_order(
                me,
                OrderCreate(
                    order_type=OrderType.LIMIT_BUY,
                    asset_id="BTC",
                    quantity=Decimal("0.01"),
                    limit_price=Decimal(62000),
                ),
            )
            story.say(f"held {-placed.amount} USD; balance {balances.get_balance(me).balance} USD")
            assets = AssetDAO(settings=settings)
            btc = assets.get_asset("BTC")
            assets.update_asset("BTC", AssetUpdate(price_usd=Decimal(61000)), btc.version)
            fills = flows.match_limit_orders("BTC", "61000").done
            ids = [f.order.order_id for f in fills if f.order]
            if placed.order is None or ids != [placed.order.order_id]:
                story.say("ERROR: the limit buy did not fill")
                return 1
            story.say(
                f"filled at {fills[0].price}: paid {-placed.amount - fills[0].amount} USD, "
                f"the unused {fills[0].amount} USD "
                f"of the hold came back; {now_holds(me)}"
            )

            story.title("A limit sell of 0.01 BTC at 90,000 expires after a second")
            waiting = flows.place_limit_order(
                me,
                OrderCreate(
                    order_type=OrderType.LIMIT_SELL,
                    asset_id="BTC",
                    quantity=Decimal("0.01"),
                    limit_price=Decimal(90000),
                    expires_at=datetime.now(timezone.utc) + timedelta(seconds=1),
                ),
            )
            story.say(f"{-(waiting.quantity or 0)} BTC held; {now_holds(me)}")
            time.sleep(1.2)
            expired = flows.expire_limit_orders().done
            if not expired:
                story.say("ERROR: the limit sell did not expire")
                return 1
            story.say(f"expired: {expired[0].quantity} BTC returned; {now_holds(me)}")

        story.title(f"20 concurrent deposits of 5.00 USD for {bob}, under the user lock")
        with ThreadPoolExecutor(20) as pool:
            results = list(pool.map(lambda _: flows.deposit(bob, "5.00"), range(20)))
        final_bob = BalanceDAO(settings=settings).get_balance(bob).balance
        story.say(
            f"{len(results)} deposits committed, none lost: balance {final_bob} USD "
            f"(expected {Decimal('5.00') * 20})"
        )
        if final_bob != Decimal("100.00"):
            return 1

        story.title(f"History of {alice}, newest first (USD and asset ledgers)")
        cash = BalanceDAO(settings=settings).list_transactions(me, limit=10).items
        moves = AssetTransactionDAO(settings=settings).list_transactions(me, limit=10).items
        lines = [
            (r.transaction_id, f"{r.transaction_type.value:<14}{r.amount:>12} USD") for r in cash
        ] + [
            (m.transaction_id, f"{m.transaction_type.value:<14}{m.quantity:>12} {m.asset_id}")
            for m in moves
        ]
        # Ids sort by time (ULIDs): the newest is the greatest.
        for _, line in sorted(lines, reverse=True):
            story.say(line)

        story.title("Final balances")
        for name in (alice, bob):
            balance = BalanceDAO(settings=settings).get_balance(name).balance
            held = AssetBalanceDAO(settings=settings).list_asset_balances(name).items
            holdings = ", ".join(f"{h.quantity} {h.asset_id}" for h in held) or "no assets"
            story.say(f"{name}: {balance} USD; {holdings}")
        locks.close()

    logged = [json.loads(line) for line in log_file.read_text().splitlines()]
    commits = sum(1 for entry in logged if entry.get("action") == "transaction_commit")
    print(
        f"\nDone in {time.perf_counter() - story.started:.1f} s. "
        f"{len(logged)} JSON log lines ({commits} committed flows) in {log_file}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    from cnop.exceptions import CNOPException

    try:
        return run(_parse(sys.argv[1:] if argv is None else argv))
    except CNOPException as exc:
        print(f"\nThe demo stopped: {exc.message} ({exc.code})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
