#!/usr/bin/env bash
# The top_pages bench, DataFusion against DuckDB, on the same archive files:
#
#   consumers/athena/benches/top-pages.sh                          # 1,000,000 events
#   TALLY_BENCH_EVENTS=10000000 consumers/athena/benches/top-pages.sh
#
# Installs DuckDB (the Python package, pinned) into the venv ./tests/run uses, then runs
# `cargo bench -p tally-athena --bench top_pages`. The archive is generated once per size under
# $CARGO_TARGET_DIR/tally-bench/.
set -euo pipefail
cd "$(dirname "$0")/../../.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tally/target}"
DUCKDB_VERSION=1.4.2
VENV="${TALLY_VENV:-$HOME/.cache/tally/venv}"
if ! "$VENV/bin/python" -c "import duckdb, sys; sys.exit(duckdb.__version__ != '$DUCKDB_VERSION')" 2>/dev/null; then
    echo "installing duckdb $DUCKDB_VERSION into $VENV" >&2
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "duckdb==$DUCKDB_VERSION"
fi
export TALLY_VENV="$VENV"
exec cargo bench -p tally-athena --bench top_pages "$@"
