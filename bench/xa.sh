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
#   backend_kill_load  8 clients of bank transfers; a group's mariadbd SIGKILLed at a commit
#                  decision (before any branch commits), restarted on its datadir
#   failover_load  8 clients; g0's primary (lossless semi-sync) SIGKILLed at a commit
#                  decision; the proxy promotes the replica
# then the decision log's commit rate with and without group commit, and transactions per
# second and latency in the three modes, one group versus two
# (XA_BENCH_CLIENTS clients, default 8; XA_BENCH_SECS seconds each, default 3).
# Usage: bench/xa.sh [RUNS] [KIND...]: with KINDs only those crash kinds run, no measurements.
# Each kind prints its passes, run time min/median/max and the load average before and after;
# the *_load kinds also what the clients were told (summed over the runs: in doubt = commit
# phases the kill hit). The machine may be shared: durations are indicative only.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin"
runs="${1:-20}"
shift || true
only=" $* "
export XA_KILL_CLIENTS="${XA_KILL_CLIENTS:-8}" XA_BENCH_CLIENTS="${XA_BENCH_CLIENTS:-8}"
cargo build -q --bin myshard
cargo test -q --test xa_transactions --test xa_process_kill --test xa_failover --test xa_load_kills --no-run >/dev/null 2>&1
log=/tmp/xa-bench-$$.log
failed=0
kind() { # name, then the cargo test arguments
  local name=$1 pass=0 fail=0 start end i times="" load_before
  shift
  [ "$only" = "  " ] || [[ "$only" == *" $name "* ]] || return 0
  load_before=$(cut -d' ' -f1-3 /proc/loadavg)
  : >"$log.all"
  for i in $(seq 1 "$runs"); do
    start=$(date +%s.%N)
    if "$@" >"$log" 2>&1; then
      pass=$((pass + 1))
    else
      fail=$((fail + 1))
      cp "$log" "/tmp/xa-bench-failure-$name-$i.log"
    fi
    end=$(date +%s.%N)
    times="$times $(echo "$end - $start" | bc)"
    grep -E '^(backend_kill|failover):' "$log" >>"$log.all" || true
    printf '%s run %2d: %s (%.1f s)\n' "$name" "$i" "$([ "$fail" -eq 0 ] && echo ok || echo "$fail failed")" "$(echo "$end - $start" | bc)"
  done
  echo "$name: $pass of $runs passed; run time min/median/max $(echo "$times" | tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{a[NR]=$1} END {printf "%.1f / %.1f / %.1f s", a[1], a[int((NR+1)/2)], a[NR]}'); load average $load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after; $(date -u +%FT%TZ)"
  if [ -s "$log.all" ]; then
    # "in all: acknowledged A, in doubt D, rolled back R, unknown U" summed over the runs.
    sed -n 's/.*in all: //p' "$log.all" | tr -d ',' | awk -v n="$name" '{a+=$2; d+=$5; r+=$8; u+=$10; k+=($5>0)} END {printf "%s: %d kills, %d hit a commit phase (a transfer in doubt); clients were told: acknowledged %d, in doubt %d, rolled back %d, unknown %d\n", n, NR, k, a, d, r, u}'
  fi
  [ "$fail" -eq 0 ] || failed=1
}
XA_KILL_ROUNDS=1 kind proxy_kill cargo test -q --test xa_process_kill xa_survives -- --test-threads=1
kind proxy_fault cargo test -q --test xa_transactions crash -- --test-threads=1
kind backend_kill cargo test -q --test xa_transactions backend_killed -- --test-threads=1
kind failover cargo test -q --test xa_failover -- --test-threads=1
# best_effort: a pass is a run whose kills (up to 20) caught a transfer half committed.
kind best_effort cargo test -q --test xa_process_kill best_effort_under -- --nocapture --test-threads=1
kind backend_kill_load cargo test -q --test xa_load_kills a_backend_killed -- --nocapture --test-threads=1
kind failover_load cargo test -q --test xa_load_kills a_group_failing_over -- --nocapture --test-threads=1
rm -f "$log" "$log.all"
[ "$only" = "  " ] || { [ "$failed" -eq 0 ]; exit; }
# Group commit of the decision log in isolation: 8 threads, one fsync each vs shared.
cargo test -q -p myshard-proxy --lib decision_log_commit_rate -- --ignored --nocapture 2>&1 | grep '^decision log'
cargo test -q --test xa_transactions throughput_per_mode -- --ignored --nocapture 2>&1 | grep '^mode='
[ "$failed" -eq 0 ]
