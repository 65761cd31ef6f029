#!/usr/bin/env bash
# Install Ficha with its test tools into .venv (the exact versions of constraints.txt) and run
# the whole test suite, slow tests included:
# on SQLite always, then again on PostgreSQL when FICHA_TEST_DATABASE_URL is set.
# Extra arguments go to pytest (e.g. scripts/test.sh -k ledger -x).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test]'
.venv/bin/ruff check src tests bench scripts
pg_url=${FICHA_TEST_DATABASE_URL:-}
echo "== tests on SQLite"
FICHA_TEST_DATABASE_URL= .venv/bin/python -m pytest -p no:cacheprovider --run-slow "$@"
if [ -n "$pg_url" ]; then
  echo "== tests on PostgreSQL ($pg_url)"
  FICHA_TEST_DATABASE_URL=$pg_url .venv/bin/python -m pytest -p no:cacheprovider --run-slow "$@"
else
  echo "== FICHA_TEST_DATABASE_URL is not set: the PostgreSQL pass was skipped"
fi
