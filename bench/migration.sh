#!/bin/sh
# Shard migration bench (issue 13): moves one shard back and forth MIGRATION_BENCH_MOVES
# times (default 20) under a writer on that shard and prints the cut-over write-hold
# distribution, the client-seen write latency and the migrate throughput.
# Usage: bench/migration.sh [moves] [rows]
set -eu
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin"
export MIGRATION_BENCH_MOVES="${1:-20}" MIGRATION_BENCH_ROWS="${2:-20000}"
exec cargo test --test migration_bench -- --ignored --nocapture migration_cut_over_bench
