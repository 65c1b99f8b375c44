#!/usr/bin/env bash
# The CNOP common packages end to end. Sets up hatch/uv and the Pythons (tools/bootstrap.sh),
# then runs tools/demo.py in the default environment. Arguments pass through, e.g.
#   bash tools/demo.sh --dynamodb-endpoint http://127.0.0.1:8000 --redis-url redis://127.0.0.1:6379/0
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bootstrap.sh
source tools/bootstrap.sh
exec hatch run demo "$@"
