#!/usr/bin/env bash
# Runs the client matrix against the server given by MYSHARD_HOST, MYSHARD_PORT, MYSHARD_USER,
# MYSHARD_PASSWORD (may be empty) and MYSHARD_DB.
#
#   tests/clients/run.sh CLIENT|all      CLIENT: cli pymysql connector go java node sysbench
#                                                go-sharded sysbench-sharded paging-sharded
#
# The *-sharded clients need MYSHARD_DB to be a sharded schema with their tables' rules (see
# tests/client_matrix.rs); `all` leaves them out. paging-sharded runs the paging scenario of
# PAGING.md once per driver that prepares server-side (the mode names the driver); it also
# needs a plain MariaDB: MYSHARD_REF_PORT, MYSHARD_REF_USER, MYSHARD_REF_PASSWORD, MYSHARD_REF_DB.
#
# Every mode of a client is its own run (own process, own connection, own table cm_*).
# Prints one line per run and a summary; exits non-zero if any run failed. Run setup.sh first.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
py="$here/.venv/bin/python"
# The mysql-connector C extension needs the OpenSSL shipped in its own wheel (only there:
# the CLI and sysbench keep the system's).
connector="env LD_LIBRARY_PATH=$(echo "$here"/.venv/lib/python3*/site-packages/mysql/vendor) $py"
jcp="$here/build/java:/usr/share/java/mariadb-java-client.jar"

# client | mode | command
RUNS="
cli|batch|bash $here/cli.sh
pymysql|text|$py $here/py_pymysql.py
connector|text|$connector $here/py_connector.py text
connector|prepared|$connector $here/py_connector.py prepared
connector|cext-text|$connector $here/py_connector.py cext-text
connector|cext-prepared|$connector $here/py_connector.py cext-prepared
go|prepared|$here/build/go-client prepared
go|interpolate|$here/build/go-client interpolate
java|server-prep|java -cp $jcp ClientMatrix server-prep
java|client-prep|java -cp $jcp ClientMatrix client-prep
node|query|node $here/node/matrix.js query
node|execute|node $here/node/matrix.js execute
sysbench|oltp_read_write|bash $here/sysbench.sh
go-sharded|prepared|$here/build/go-client sharded
sysbench-sharded|oltp_read_write|bash $here/sysbench.sh sharded
paging-sharded|go-prepared|$here/build/go-client paging
paging-sharded|java-server-prep|java -cp $jcp Paging
paging-sharded|node-execute|node $here/node/paging.js
paging-sharded|connector-prepared|$connector $here/py_paging.py prepared
paging-sharded|connector-cext-prepared|$connector $here/py_paging.py cext-prepared
"
clients=$(cut -d'|' -f1 <<<"$RUNS" | sort -u | xargs)

usage() { echo "usage: $0 CLIENT|all   (CLIENT: $clients)" >&2; exit 2; }
(( $# == 1 )) || usage
[[ "$1" == all || " $clients " == *" $1 "* ]] || usage
for v in MYSHARD_HOST MYSHARD_PORT MYSHARD_USER MYSHARD_DB; do
  [[ -n "${!v:-}" ]] || { echo "run.sh: set $v (and MYSHARD_PASSWORD)" >&2; exit 2; }
done
export MYSHARD_HOST MYSHARD_PORT MYSHARD_USER MYSHARD_DB MYSHARD_PASSWORD="${MYSHARD_PASSWORD-}"

echo "client matrix against $MYSHARD_USER@$MYSHARD_HOST:$MYSHARD_PORT/$MYSHARD_DB"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
passed=0 failed=0 failures=()
while IFS='|' read -r client mode command; do
  [[ -n "$client" && ( ( "$1" == all && "$client" != *-sharded ) || "$1" == "$client" ) ]] || continue
  start=$SECONDS
  # A hung connection must not hang the matrix: sysbench alone needs about 25 s.
  read -r -a argv <<<"$command"
  timeout 300 "${argv[@]}" >"$out" 2>&1
  status=$?
  secs=$((SECONDS - start))
  # Success is exit status 0 and the program's own closing line "OK <client> <mode>".
  if (( status == 0 )) && grep -q "^OK " "$out"; then
    passed=$((passed + 1))
    printf 'PASS %-16s %-24s %3ss  %s\n' "$client" "$mode" "$secs" "$(grep '^OK ' "$out" | tail -1)"
  else
    failed=$((failed + 1)) failures+=("$client $mode")
    printf 'FAIL %-16s %-24s %3ss  exit status %s\n' "$client" "$mode" "$secs" "$status"
    sed 's/^/    /' "$out" | tail -40
  fi
done <<<"$RUNS"

(( failed == 0 )) || echo "failed: $(printf '%s, ' "${failures[@]}" | sed 's/, $//')"
echo "$passed passed, $failed failed"
(( failed == 0 ))
