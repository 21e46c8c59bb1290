#!/usr/bin/env bash
# Client matrix: sysbench oltp_read_write (mode "oltp_read_write").
#
#   sysbench.sh                    plain schema
#   sysbench.sh sharded            MYSHARD_DB shards sbtest1 on id: ids are given explicitly
#                                  (--auto_inc=off; an AUTO_INCREMENT key cannot be routed) and
#                                  of the range selects only the plain one runs (SUM, ORDER BY
#                                  and DISTINCT over a key range need cross-shard merging, which
#                                  the proxy refuses)
#   sysbench.sh sharded cleanup    only sysbench's cleanup (drops sbtest1)
#
# MYSHARD_SYSBENCH_KEEP=1 skips the final cleanup, leaving sbtest1 for the caller to inspect.
#
# sysbench (libmariadb) uses server-side prepared statements by default (--db-ps-mode=auto),
# BEGIN and COMMIT included. 1 table x 1000 rows, 4 threads for 10 seconds; fails on any
# FATAL/error line, on reconnects, or when no transaction completed.
#
# Deadlocks are not a failure: 4 threads updating and deleting in 1000 rows make InnoDB on
# plain MariaDB report some (1213; dozens in 10 s here), and sysbench retries those
# transactions. Only its default retry list is allowed (1213 deadlock, 1205 lock wait timeout,
# 1020 record changed), spelled out here; any other error stops the run with FATAL.
set -euo pipefail

client=sysbench mode=oltp_read_write
extra=()
if [[ "${1:-}" == sharded ]]; then
  client=sysbench-sharded
  extra=(--auto_inc=off --sum_ranges=0 --order_ranges=0 --distinct_ranges=0)
fi
for v in MYSHARD_HOST MYSHARD_PORT MYSHARD_USER MYSHARD_DB; do
  [[ -n "${!v+x}" ]] || { echo "FAIL $client $mode: missing environment variable $v" >&2; exit 1; }
done
fail() { echo "FAIL $client $mode: $*" >&2; exit 1; }

bench() {
  sysbench oltp_read_write --db-driver=mysql --mysql-host="$MYSHARD_HOST" \
    --mysql-port="$MYSHARD_PORT" --mysql-user="$MYSHARD_USER" \
    --mysql-password="${MYSHARD_PASSWORD-}" --mysql-db="$MYSHARD_DB" \
    --tables=1 --table-size=1000 --threads=4 --time=10 --mysql-ignore-errors=1213,1205,1020 "${extra[@]}" "$@"
}

log=$(mktemp)
trap 'rm -f "$log"' EXIT

if [[ "${2:-}" == cleanup ]]; then
  bench cleanup >"$log" 2>&1 || fail "cleanup: $(cat "$log")"
  echo "OK $client cleanup"
  exit 0
fi

# Leftovers of an interrupted run would make prepare fail.
bench cleanup >"$log" 2>&1 || fail "cleanup before prepare: $(cat "$log")"
bench prepare >"$log" 2>&1 || fail "prepare: $(cat "$log")"
status=0
bench run >"$log" 2>&1 || status=$?
result=$(cat "$log")
if [[ "${MYSHARD_SYSBENCH_KEEP:-}" != 1 ]]; then
  bench cleanup >"$log" 2>&1 || fail "cleanup: $(cat "$log")"
fi

(( status == 0 )) || fail "run exited with status $status: $result"
if grep -qiE 'FATAL|error [0-9]+|ALERT' <<<"$result"; then
  fail "run reported errors: $(grep -iE 'FATAL|error [0-9]+|ALERT' <<<"$result" | head -5)"
fi
transactions=$(sed -n 's/^ *transactions: *\([0-9]*\) .*/\1/p' <<<"$result")
ignored=$(sed -n 's/^ *ignored errors: *\([0-9]*\) .*/\1/p' <<<"$result")
reconnects=$(sed -n 's/^ *reconnects: *\([0-9]*\) .*/\1/p' <<<"$result")
[[ -n "$transactions" && -n "$ignored" && -n "$reconnects" ]] \
  || fail "could not read the run's counters from its output: $result"
[[ "$reconnects" == 0 ]] || fail "reconnects: expected 0, got $reconnects"
(( transactions > 0 )) || fail "transactions: expected more than 0, got 0"

echo "OK $client $mode ($transactions transactions, $ignored retried after deadlock)"
