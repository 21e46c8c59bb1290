#!/usr/bin/env bash
# Repeats the XA crash tests (proxy crashed after prepare / after the decision and restarted
# on the same state dir; best_effort's partial commit) RUNS times (default 20) and reports
# how many runs passed and how long each took, then measures transactions per second and
# latency in the three modes, one group versus two. Usage: bench/xa.sh [RUNS]
# The machine may be shared: durations are indicative only.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin"
runs="${1:-20}"
cargo test --test xa_transactions --no-run >/dev/null 2>&1
pass=0
fail=0
for i in $(seq 1 "$runs"); do
  start=$(date +%s.%N)
  if cargo test -q --test xa_transactions crash -- --test-threads=1 >/tmp/xa-bench-$$.log 2>&1 &&
     cargo test -q --test xa_transactions best_effort_shows -- --test-threads=1 >>/tmp/xa-bench-$$.log 2>&1; then
    pass=$((pass + 1)); verdict=ok
  else
    fail=$((fail + 1)); verdict=FAILED
    cp /tmp/xa-bench-$$.log "/tmp/xa-bench-failure-$i.log"
  fi
  end=$(date +%s.%N)
  printf 'run %2d: %s (%.1f s)\n' "$i" "$verdict" "$(echo "$end - $start" | bc)"
done
rm -f /tmp/xa-bench-$$.log
echo "crash runs: $pass passed, $fail failed (failure logs in /tmp/xa-bench-failure-*.log)"
# Throughput and latency: 4 clients per mode, one group versus two (XA_BENCH_SECS each).
cargo test -q --test xa_transactions throughput_per_mode -- --ignored --nocapture 2>&1 | grep '^mode='
[ "$fail" -eq 0 ]
