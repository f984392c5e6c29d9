#!/usr/bin/env bash
# First command: set everything up and bring up the demo (private PostGIS cluster, demo
# jurisdiction from real OSM data, grid map, API on http://127.0.0.1:8000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/gridsvc up "$@"
