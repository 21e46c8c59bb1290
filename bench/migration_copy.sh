#!/bin/sh
# Shard migration copy-speed bench (issue 13): loads one shard with sysbench-like rows
# (default 4 000 000 rows of about 250 bytes, about 1 GB), migrates it to the other group
# under a light read/write load on every shard, and prints the copy phase's rows/s and MB/s
# and the load's latency p50/p99 before and during the migration. Release build.
# Usage: bench/migration_copy.sh [rows]
set -eu
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin"
export COPY_BENCH_ROWS="${1:-4000000}"
exec cargo test --release --test migration_copy_bench -- --ignored --nocapture copy_bench
