"""Import time of the cnop packages against what they are built on, in the same run.

Each statement runs in a fresh interpreter (``python -c``) that times only the import
(``time.perf_counter`` around it: the interpreter's own start-up is left out). Rounds
alternate between all statements, each round in a rotated order, so load that drifts
during the run hits every statement alike; the median of the rounds is reported, with
the minimum beside it (the figure least disturbed by other processes).

Bytecode is cached as in any installed environment: ``PYTHONDONTWRITEBYTECODE`` is
dropped for the children and their caches go to a temporary ``PYTHONPYCACHEPREFIX``
(nothing is written into the environment); one unmeasured warm-up round fills it. Without
that, every import would compile its modules from source, and compile time would swamp
what is measured.

Targets (recorded in the summary table):

- ``import cnop.exceptions``: at most 25 ms (absolute: it depends on the standard
  library only);
- ``import cnop.auth``: at most 1.5x ``import jose.jwt`` (python-jose, what a service
  would otherwise use for its tokens);
- ``import cnop.logging``: at most loguru + 10 ms.

For information (printed only): ``from cnop.auth import TokenManager, PasswordManager``
(what a service imports first); ``import enum, http`` (the standard library that
cnop.exceptions builds on: the floor under its figure); the first token of a process
(import, issue, verify: where the pieces deferred at import are paid) beside
python-jose's import, encode and decode; ``cnop.data`` beside ``boto3`` and
``cnop.locking`` beside ``redis``.

Options (as ``--name=value``): ``--rounds`` (default 15); ``--budget`` seconds (default
40): no new round starts after it, once 5 rounds are done.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the type checker sees tools/ as a package; a run has this folder on sys.path
    from tools.bench import summary
else:
    import summary

#: name shown -> the statement timed.
STATEMENTS = {
    "cnop.exceptions": "import cnop.exceptions",
    # What cnop.exceptions cannot do without (its enums and HTTP statuses): the floor.
    "stdlib enum+http": "import enum, http",
    "cnop.auth": "import cnop.auth",
    "jose.jwt": "import jose.jwt",
    "cnop.auth TokenManager+PasswordManager": (
        "from cnop.auth import PasswordManager, TokenManager"
    ),
    # The whole cost of a first token, where the deferred pieces (pydantic, the claim
    # models, the logging library at the first refusal) are paid: import, issue, verify.
    "cnop.auth first token issued+verified": (
        "import secrets\n"
        "from cnop.auth import TokenManager, TokenSettings\n"
        "key = {'JWT_SECRET_KEY': secrets.token_urlsafe(32)}\n"
        "tokens = TokenManager(TokenSettings.from_env(key))\n"
        "tokens.verify_access_token(tokens.create_access_token('alice_01').access_token)"
    ),
    "jose.jwt first token encoded+decoded": (
        "import secrets\n"
        "from jose import jwt\n"
        "key = secrets.token_urlsafe(32)\n"
        "jwt.decode(jwt.encode({'sub': 'alice_01'}, key, algorithm='HS256'), key,"
        " algorithms=['HS256'])"
    ),
    "cnop.logging": "import cnop.logging",
    "loguru": "import loguru",
    "cnop.data": "import cnop.data",
    "boto3": "import boto3",
    "cnop.locking": "import cnop.locking",
    "redis": "import redis",
}
EXCEPTIONS_LIMIT_MS = 25.0
AUTH_LIMIT_RATIO = 1.5
LOGGING_LIMIT_MS = 10.0
MIN_ROUNDS = 5

_TIMER = (
    "import time\n_t = time.perf_counter()\n{statement}\nprint((time.perf_counter() - _t) * 1000)\n"
)


def import_ms(statement: str, env: dict[str, str]) -> float:
    """Wall time of ``statement`` in a fresh interpreter, in ms."""
    done = subprocess.run(
        [sys.executable, "-c", _TIMER.format(statement=statement)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if done.returncode != 0:
        raise SystemExit(f"{statement!r} failed:\n{done.stderr}")
    return float(done.stdout.strip().splitlines()[-1])


def measure(rounds: int, budget: float) -> tuple[dict[str, list[float]], int]:
    """Samples (ms) of every statement, and the number of rounds run."""
    names = list(STATEMENTS)
    samples: dict[str, list[float]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="bench-imports-") as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        for name in names:  # warm-up: compiles every module once, into the cache
            import_ms(STATEMENTS[name], env)
        started = time.monotonic()
        done = 0
        for done in range(1, rounds + 1):
            shift = (done - 1) % len(names)
            for name in names[shift:] + names[:shift]:  # rotate: nobody always goes first
                samples[name].append(import_ms(STATEMENTS[name], env))
            if done >= MIN_ROUNDS and time.monotonic() - started > budget:
                break
    return samples, done


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench imports")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--budget", type=float, default=40.0)
    options = parser.parse_args(argv)

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average before: {load}")
    samples, rounds = measure(max(options.rounds, 1), options.budget)
    median = {name: statistics.median(values) for name, values in samples.items()}
    fastest = {name: min(values) for name, values in samples.items()}
    print(
        f"import time in a fresh interpreter (bytecode cached), median (min) of {rounds} "
        "alternating rounds"
    )
    for name in STATEMENTS:
        print(f"  {name:<40} {median[name]:>8.1f} ms  ({fastest[name]:.1f} ms)")

    exceptions_ms = median["cnop.exceptions"]
    auth_ratio = median["cnop.auth"] / median["jose.jwt"]
    usage_ratio = median["cnop.auth TokenManager+PasswordManager"] / median["jose.jwt"]
    first_ratio = (
        median["cnop.auth first token issued+verified"]
        / median["jose.jwt first token encoded+decoded"]
    )
    logging_extra = median["cnop.logging"] - median["loguru"]
    print(f"  cnop.exceptions = {exceptions_ms:.1f} ms (target <= {EXCEPTIONS_LIMIT_MS:.0f} ms)")
    print(f"  cnop.auth / jose.jwt = {auth_ratio:.2f}x (target <= {AUTH_LIMIT_RATIO}x)")
    print(f"  TokenManager+PasswordManager / jose.jwt = {usage_ratio:.2f}x (for information)")
    print(f"  first token, cnop.auth / jose.jwt = {first_ratio:.2f}x (for information)")
    print(
        f"  cnop.logging - loguru = {logging_extra:+.1f} ms (target <= +{LOGGING_LIMIT_MS:.0f} ms)"
    )
    print(f"  cnop.data / boto3 = {median['cnop.data'] / median['boto3']:.2f}x (for information)")
    print(
        f"  cnop.locking / redis = {median['cnop.locking'] / median['redis']:.2f}x "
        "(for information)"
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average after: {load}")

    summary.add(
        "cnop-exceptions",
        "import cnop.exceptions",
        cnop=f"{exceptions_ms:.1f} ms",
        peer="(absolute)",
        ratio=None,
        target=f"<= {EXCEPTIONS_LIMIT_MS:.0f} ms",
        met=exceptions_ms <= EXCEPTIONS_LIMIT_MS,
    )
    summary.add(
        "cnop-auth",
        "import cnop.auth",
        cnop=f"{median['cnop.auth']:.1f} ms",
        peer=f"{median['jose.jwt']:.1f} ms (import jose.jwt)",
        ratio=auth_ratio,
        target=f"<= {AUTH_LIMIT_RATIO}x",
        met=auth_ratio <= AUTH_LIMIT_RATIO,
    )
    summary.add(
        "cnop-logging",
        "import cnop.logging",
        cnop=f"{median['cnop.logging']:.1f} ms",
        peer=f"{median['loguru']:.1f} ms (import loguru)",
        ratio=median["cnop.logging"] / median["loguru"],
        target=f"<= loguru + {LOGGING_LIMIT_MS:.0f} ms",
        met=logging_extra <= LOGGING_LIMIT_MS,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
