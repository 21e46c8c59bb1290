#!/bin/sh
# Shard migration bench (issue 13).
# 1. moves one shard back and forth MIGRATION_BENCH_MOVES times (default 20) under a writer
#    on that shard: cut-over write-hold distribution, client write latency, migrate throughput;
# 2. the mixed-load test (tests/migration_load.rs) at bench size: MIGRATION_LOAD_MOVES
#    cut-overs (default 20, shards 1, 2, 0, 3 in turn, each to the other group) under
#    MIGRATION_LOAD_CLIENTS client tasks (default 8) on every shard: write hold, client write
#    latency, retryable errors by code, and the check that every acknowledged write is there.
# 3. with --kill [rounds]: only the SIGKILL test (tests/migration_process_kill.rs) repeated
#    MIGRATION_KILL_ROUNDS times (default 10): the real myshard process killed during copy,
#    replication, cut-over and right after the placement is persisted, restarted, checked.
# Usage: bench/migration.sh [moves] [rows] | bench/migration.sh --kill [rounds]
set -eu
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin"
if [ "${1:-}" = "--kill" ]; then
    export MIGRATION_KILL_ROUNDS="${2:-10}"
    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    cargo test --test migration_process_kill -- --nocapture
    echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
    exit 0
fi
export MIGRATION_BENCH_MOVES="${1:-20}" MIGRATION_BENCH_ROWS="${2:-20000}"
cargo test --test migration_bench -- --ignored --nocapture migration_cut_over_bench
export MIGRATION_LOAD_MOVES="${MIGRATION_LOAD_MOVES:-${1:-20}}"
export MIGRATION_LOAD_CLIENTS="${MIGRATION_LOAD_CLIENTS:-8}"
export MIGRATION_LOAD_ROWS="${MIGRATION_LOAD_ROWS:-200}"
export MIGRATION_LOAD_SETTLE_MS="${MIGRATION_LOAD_SETTLE_MS:-500}"
exec cargo test --test migration_load -- --nocapture shards_migrate_under_a_mixed_load
