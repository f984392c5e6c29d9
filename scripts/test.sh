#!/usr/bin/env bash
# Second command: lint, format check, types, then the whole test suite against a real PostGIS (the private
# cluster unless GRIDSVC_DATABASE_URL is set), in a shuffled order whose seed is printed.
# Extra arguments go to pytest. GRIDSVC_SKIP_CHECKS=1 skips ruff and mypy;
# GRIDSVC_TEST_SEED=N replays one order (a failure's seed is printed at the start).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${GRIDSVC_SKIP_CHECKS:-0}" != 1 ]; then
  echo "test: ruff check ."
  .venv/bin/ruff check .
  echo "test: ruff format --check ."
  .venv/bin/ruff format --check .
  echo "test: mypy gridsvc tests"
  .venv/bin/mypy gridsvc tests
fi
seed="${GRIDSVC_TEST_SEED:-$(( (RANDOM << 15) | RANDOM ))}"
echo "test: pytest in shuffled order, seed $seed (replay: GRIDSVC_TEST_SEED=$seed scripts/test.sh)"
exec .venv/bin/pytest -p randomly --randomly-seed="$seed" "$@"
