#!/usr/bin/env bash
# Install everything gridsvc needs on a fresh Debian machine: PostgreSQL 15 + PostGIS 3 +
# pgRouting from Debian, and the Python packages in a project-local virtualenv (.venv).
# Idempotent: re-running installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
pg_share=/usr/share/postgresql/15/extension
[ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql-15)
[ -f "$pg_share/postgis.control" ] || missing+=(postgresql-15-postgis-3)
[ -f "$pg_share/pgrouting.control" ] || missing+=(postgresql-15-pgrouting)
command -v psql >/dev/null || missing+=(postgresql-client-15)
command -v runuser >/dev/null || missing+=(util-linux)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
# the browser tests drive Debian's Chromium (Playwright never downloads a browser here), and
# the pages' Chinese needs a CJK font
# (with the two of its recommended packages that rendering can need, as recommends are off)
# tests/test_two_nodes.py puts two app nodes behind Debian's HAProxy (deploy/haproxy.cfg)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
# tests/test_pgbouncer.py runs the app through Debian's PgBouncer (deploy/pgbouncer.ini)
command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
command -v chromium >/dev/null || missing+=(chromium libgl1-mesa-dri fonts-liberation)
[ -d /usr/share/fonts/opentype/noto ] && ls /usr/share/fonts/opentype/noto/NotoSansCJK* >/dev/null 2>&1 \
  || missing+=(fonts-noto-cjk)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  mkdir -p .gridsvc/logs
  apt_log=.gridsvc/logs/setup-apt.log
  if ! { as_root apt-get update -qq \
         && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
              --no-install-recommends "${missing[@]}"; } >"$apt_log" 2>&1; then
    cat "$apt_log" >&2
    echo "setup: apt-get failed (output above, also in $apt_log)" >&2
    exit 1
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
stamp=.venv/.gridsvc-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing Python packages into .venv"
  # pip's output (its warnings too) goes to a log, shown only when something fails
  mkdir -p .gridsvc/logs
  pip_log=.gridsvc/logs/setup-pip.log
  if ! { .venv/bin/python -m pip install --upgrade pip \
         && .venv/bin/python -m pip install -e '.[dev]'; } >"$pip_log" 2>&1; then
    cat "$pip_log" >&2
    echo "setup: pip failed (output above, also in $pip_log)" >&2
    exit 1
  fi
  touch "$stamp"
fi
echo "setup: done"
