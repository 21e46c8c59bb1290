#!/usr/bin/env bash
# The soak (issue 8): ten minutes of concurrent random statements through the myshard binary
# with client-side timeouts, hang-ups in the middle of results and KILLs, every answer checked
# against one plain MariaDB holding the same data; then the backends must be idle and the
# proxy's RSS back within 10 % of its value after warm-up.
#
#   bench/soak.sh [options]
#
#   --secs N     how long the clients run (default: MYSHARD_SOAK_SECS, else 600)
#   --full       every fault and feature class, including the ones that the bugs of issue 8
#                break on 7348ed7 (SQL PREPARE in the sharded schema, scatter in pinned
#                sessions): sets MYSHARD_SOAK_FULL=1
#   --log FILE   also write the output there (default: tmp/soak-UTC_TIMESTAMP.log)
#
# Every other knob is an environment variable passed through to the test (MYSHARD_SOAK_CLIENTS,
# MYSHARD_SOAK_SEED, MYSHARD_SOAK_POOL_MAX, MYSHARD_SOAK_SQL_PREPARE, MYSHARD_SOAK_PINNED_SCATTER,
# MYSHARD_SOAK_KILL, MYSHARD_SOAK_KILL_MS, MYSHARD_SOAK_TIMEOUTS, MYSHARD_SOAK_DISCONNECTS,
# MYSHARD_SOAK_STALL_MS, MYSHARD_SOAK_ASSERT_RSS; see tests/soak/knobs.rs and
# docs/BENCHMARKS.md, section "Soak (issue 8)").
#
# What it does: `cargo test --release --test soak -- --nocapture`, the same test CI runs for
# 25 s in a debug build. The test starts three private MariaDB servers (two groups and the
# reference) and the release myshard binary as its own process, prints the report (answers per
# statement kind: right / error / timeout / stall / WRONG, errors per errno, the proxy's RSS,
# the backends' state) and fails on any WRONG answer, stall, crash, busy or surplus backend
# connection, or RSS growth above 10 % (asserted from five minutes up). Exit status: the
# test's.

set -euo pipefail
BENCH=soak.sh
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/.." && pwd)
# shellcheck source=bench/lib.sh
source "$script_dir/lib.sh"

secs=${MYSHARD_SOAK_SECS:-600}
log=""
while (($#)); do
	case $1 in
	--secs)
		(($# >= 2)) || usage
		positive_int --secs "$2" 1
		secs=$2
		shift 2
		;;
	--full)
		export MYSHARD_SOAK_FULL=1
		shift
		;;
	--log)
		(($# >= 2)) || usage
		log=$2
		shift 2
		;;
	*) usage ;;
	esac
done
export MYSHARD_SOAK_SECS=$secs
# The harness looks for mariadbd and mariadb-install-db on PATH.
export PATH="$PATH:/usr/sbin:/usr/local/sbin"
find_bin mariadbd >/dev/null

cd "$repo"
mkdir -p tmp
log=${log:-tmp/soak-$(date -u +%Y%m%dT%H%M%SZ).log}
{
	echo "soak: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' (plus uncommitted changes)')"
	echo "soak: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo), $(mariadbd --version 2>/dev/null | head -1)"
	echo "soak: MYSHARD_SOAK_SECS=$secs${MYSHARD_SOAK_FULL:+ MYSHARD_SOAK_FULL=$MYSHARD_SOAK_FULL}; building in release mode"
} | tee "$log"
cargo test --release --test soak --no-run 2>&1 | tail -n 3 | tee -a "$log"
status=0
cargo test --release --test soak -- --nocapture 2>&1 | tee -a "$log" || status=$?
echo "soak: report written to $log (exit status $status)"
exit "$status"
