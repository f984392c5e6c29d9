#!/usr/bin/env bash
# Second command: the whole test suite against a real PostGIS (the private cluster unless
# GRIDSVC_DATABASE_URL is set). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
