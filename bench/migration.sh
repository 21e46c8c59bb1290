#!/bin/sh
# Shard migration bench (issue 13).
# 1. moves one shard back and forth MIGRATION_BENCH_MOVES times (default 20) under a writer
#    on that shard: cut-over write-hold distribution, client write latency, migrate throughput;
# 2. the mixed-load test (tests/migration_load.rs) at bench size: MIGRATION_LOAD_MOVES
#    cut-overs (default 20, shards 1, 2, 0, 3 in turn, each to the other group) under
#    MIGRATION_LOAD_CLIENTS client tasks (default 8) on every shard: write hold, client write
#    latency, retryable errors by code, and the check that every acknowledged write is there.
# Usage: bench/migration.sh [moves] [rows]
set -eu
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin"
export MIGRATION_BENCH_MOVES="${1:-20}" MIGRATION_BENCH_ROWS="${2:-20000}"
cargo test --test migration_bench -- --ignored --nocapture migration_cut_over_bench
export MIGRATION_LOAD_MOVES="${MIGRATION_LOAD_MOVES:-${1:-20}}"
export MIGRATION_LOAD_CLIENTS="${MIGRATION_LOAD_CLIENTS:-8}"
export MIGRATION_LOAD_ROWS="${MIGRATION_LOAD_ROWS:-200}"
export MIGRATION_LOAD_SETTLE_MS="${MIGRATION_LOAD_SETTLE_MS:-500}"
exec cargo test --test migration_load -- --nocapture shards_migrate_under_a_mixed_load
