#!/usr/bin/env bash
# Repeats each crash kind of the XA work RUNS times (default 20) and prints pass counts:
#   proxy_kill     the real myshard binary SIGKILLed at a random moment under 8 clients of
#                  bank transfers and restarted on the same state_dir (xa mode)
#   proxy_fault    the in-process proxy "crashed" after prepare / after the decision, restarted
#   backend_kill   a backend SIGKILLed after the decision, restarted; recovery completes it
#   failover       g0's primary SIGKILLed in the commit phase once its replica applied the
#                  XA PREPARE; the proxy promotes the replica, recovery commits there
#   best_effort    the same real kills in best_effort mode: passes when a kill caught a
#                  transfer half committed (the anomaly xa mode prevents)
# then the decision log's commit rate with and without group commit, and transactions per
# second and latency in the three modes, one group versus two
# (XA_BENCH_CLIENTS clients, default 8; XA_BENCH_SECS seconds each, default 3).
# Usage: bench/xa.sh [RUNS]. The machine may be shared: durations are indicative only.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin"
runs="${1:-20}"
export XA_KILL_CLIENTS="${XA_KILL_CLIENTS:-8}" XA_BENCH_CLIENTS="${XA_BENCH_CLIENTS:-8}"
cargo build -q --bin myshard
cargo test -q --test xa_transactions --test xa_process_kill --test xa_failover --no-run >/dev/null 2>&1
log=/tmp/xa-bench-$$.log
failed=0
kind() { # name, then the cargo test arguments
  local name=$1 pass=0 fail=0 start end i
  shift
  for i in $(seq 1 "$runs"); do
    start=$(date +%s.%N)
    if "$@" >"$log" 2>&1; then
      pass=$((pass + 1))
    else
      fail=$((fail + 1))
      cp "$log" "/tmp/xa-bench-failure-$name-$i.log"
    fi
    end=$(date +%s.%N)
    printf '%s run %2d: %s (%.1f s)\n' "$name" "$i" "$([ "$fail" -eq 0 ] && echo ok || echo "$fail failed")" "$(echo "$end - $start" | bc)"
  done
  echo "$name: $pass of $runs passed"
  [ "$fail" -eq 0 ] || failed=1
}
XA_KILL_ROUNDS=1 kind proxy_kill cargo test -q --test xa_process_kill xa_survives -- --test-threads=1
kind proxy_fault cargo test -q --test xa_transactions crash -- --test-threads=1
kind backend_kill cargo test -q --test xa_transactions backend_killed -- --test-threads=1
kind failover cargo test -q --test xa_failover -- --test-threads=1
# best_effort: a pass is a run whose kills (up to 20) caught a transfer half committed.
kind best_effort cargo test -q --test xa_process_kill best_effort_under -- --nocapture --test-threads=1
rm -f "$log"
# Group commit of the decision log in isolation: 8 threads, one fsync each vs shared.
cargo test -q -p myshard-proxy --lib decision_log_commit_rate -- --ignored --nocapture 2>&1 | grep '^decision log'
cargo test -q --test xa_transactions throughput_per_mode -- --ignored --nocapture 2>&1 | grep '^mode='
[ "$failed" -eq 0 ]
