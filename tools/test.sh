#!/usr/bin/env bash
# The README's test command. On a fresh machine it installs what it needs (hatch,
# uv, redis-server, DynamoDB Local), starts the servers on free loopback ports,
# runs the whole suite on Python 3.11, the suite without its slow tests on 3.10, 3.12
# and 3.13, then each distribution alone in its own environment, and stops the
# servers by PID.
#
#   bash tools/test.sh            # everything
#   bash tools/test.sh -k locking # extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/bootstrap.sh

python3 tools/testservers.py install
state=$(mktemp -d)
trap 'python3 tools/testservers.py stop --state "$state"; rm -rf "$state"' EXIT
eval "$(python3 tools/testservers.py start --state "$state")"
export AWS_ENDPOINT_URL_DYNAMODB REDIS_URL REDIS_CLUSTER_URL

# pytest exits 5 when it collected nothing: a package without tests is not a failure
# of the run, but say so loudly.
run_pytest() {
  local rc=0
  "$@" || rc=$?
  if ((rc == 5)); then
    echo "note: no tests collected by: $*" >&2
    return 0
  fi
  return "$rc"
}

# The slow tests (many processes, fault injection, model-based runs: minutes each) check
# protocols rather than the interpreter: they run once, on 3.11; every other test runs on
# every Python and again in each distribution's own environment.
echo "== full suite, Python 3.11 (slow tests included) =="
run_pytest hatch test --python 3.11 -- "$@"

for py in 3.10 3.12 3.13; do
  echo "== suite without the slow tests, Python $py =="
  run_pytest hatch test --python "$py" -- -m "not slow" "$@"
done

echo "== each distribution alone (without the slow tests) =="
for pkg in exceptions logging auth locking data; do
  echo "-- cnop-$pkg --"
  if [ ! -d "tests/$pkg" ]; then
    echo "note: cnop-$pkg has no tests/$pkg yet" >&2
    continue
  fi
  run_pytest hatch run "pkg-$pkg:test" -m "not slow" "$@"
done
