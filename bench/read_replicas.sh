#!/usr/bin/env bash
# read_replicas: sysbench oltp_read_only through myshard in front of a replication group (a
# primary and 2 replicas, real MariaDB GTID replication), reads spread over the replicas
# (read policy `replicas`, or `all`) versus every read on the primary (policy `primary`).
#
#   bench/read_replicas.sh [options]
#
#   --time SECS        measured duration of each run (default 20)
#   --warmup SECS      unmeasured run before each measured run (default 3; 0 disables)
#   --rounds N         primary/replicas pairs per case, alternating (default 2)
#   --threads "LIST"   sysbench thread counts (default "8 32")
#   --ps-modes "LIST"  --db-ps-mode values: auto (prepared) and/or disable (text)
#                      (default "auto disable")
#   --table-size N     rows in the one table (default 100000)
#   --policy P         the read policy compared with `primary`: replicas (default) or all
#   --binary PATH      run this myshard binary (a debug build works) instead of building
#                      target/release/myshard
#   --no-build         use the existing target/release/myshard
#   --smoke            CI-sized check that everything works, numbers meaningless: --time 2
#                      --warmup 0 --rounds 1 --threads 4 --ps-modes auto --table-size 1000
#   --keep             keep the work directory (data, configuration, logs, sysbench output)
#   --record           also write the results to docs/BENCHMARKS.md, section
#                      "sysbench (read replicas)"
#
# What it does: starts three private MariaDB servers (lib.sh start_mariadb, with the binary
# log, distinct server ids and one gtid_domain_id), makes servers 1 and 2 replicas of server
# 0 (CHANGE MASTER TO … MASTER_USE_GTID=slave_pos, read_only), loads the table on the primary
# with sysbench prepare and waits until both replicas applied it (MASTER_GTID_WAIT). Then two
# myshard processes, identical but for the group's read_policy (`primary` on one, --policy
# on the other), take turns: per case (ps-mode × threads) and round, one run through each.
#
# sysbench runs oltp_read_only with --skip_trx=on: its reads are autocommit statements, the
# ones myshard may send to replicas (inside BEGIN … COMMIT every read goes to the write host
# by design). Per run the script reads `Com_select` on each server before and after, so the
# table shows where the reads went (the health monitor's heartbeats add a few per second); a
# run whose reads did not go where its policy says (under `primary`, over 5% on the
# replicas; otherwise under 10% on either replica), or with sysbench errors, is flagged and
# makes the script exit 1.
#
# Needs: cargo (unless --binary), mariadb-server, mariadb-client, sysbench.

set -euo pipefail

ORIGINAL_ARGS=("$@")
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/.." && pwd)
BENCH=read_replicas.sh
# shellcheck source=bench/lib.sh disable=SC2034 # several globals are read by lib.sh
source "$script_dir/lib.sh"

TIME=20
WARMUP=3
ROUNDS=2
THREADS="8 32"
PS_MODES="auto disable"
TABLE_SIZE=100000
POLICY=replicas
BINARY=""
BUILD=1
KEEP=0
RECORD=0
SMOKE=0
SECTION="sysbench (read replicas)"

while (($#)); do
	case "$1" in
	--time) TIME=${2-}; shift ;;
	--warmup) WARMUP=${2-}; shift ;;
	--rounds) ROUNDS=${2-}; shift ;;
	--threads) THREADS=${2-}; shift ;;
	--ps-modes) PS_MODES=${2-}; shift ;;
	--table-size) TABLE_SIZE=${2-}; shift ;;
	--policy) POLICY=${2-}; shift ;;
	--binary) BINARY=${2-}; shift ;;
	--no-build) BUILD=0 ;;
	--smoke) SMOKE=1 ;;
	--keep) KEEP=1 ;;
	--record) RECORD=1 ;;
	-h | --help) usage ;;
	*) die "unknown option '$1' (see --help)" ;;
	esac
	shift
done
if ((SMOKE)); then
	TIME=2 WARMUP=0 ROUNDS=1 THREADS=4 PS_MODES=auto TABLE_SIZE=1000
fi
positive_int --time "$TIME" 1
positive_int --warmup "$WARMUP" 0
positive_int --rounds "$ROUNDS" 1
positive_int --table-size "$TABLE_SIZE" 100
for t in $THREADS; do positive_int --threads "$t" 1; done
for m in $PS_MODES; do [[ "$m" == auto || "$m" == disable ]] || die "--ps-modes: auto or disable, got '$m'"; done
[[ "$POLICY" == replicas || "$POLICY" == all ]] || die "--policy: replicas or all, got '$POLICY'"
((RECORD && SMOKE)) && die "--record with --smoke would record meaningless numbers"

MARIADBD=$(find_bin mariadbd)
INSTALL_DB=$(find_bin mariadb-install-db)
CLIENT=$(find_bin mariadb)
SYSBENCH=$(find_bin sysbench)
CLK_TCK=$(getconf CLK_TCK)

mkdir -p "$repo/tmp"
WORK=$(mktemp -d "$repo/tmp/bench-read-replicas.XXXXXX")
MARIADB_PIDS=()
HELPER_PIDS=()
PROXY_PID=""
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# myshard binary

if [[ -n "$BINARY" ]]; then
	MYSHARD=$(cd "$(dirname "$BINARY")" && pwd)/$(basename "$BINARY")
	[[ -x "$MYSHARD" ]] || die "--binary $BINARY is not an executable"
else
	build_myshard
fi

# ---------------------------------------------------------------------------------------------
# MariaDB: a primary and two GTID replicas

DB_USER=sbtest
DB_PASSWORD=sbtest-secret
DOMAIN=11
BUFFER_POOL_MB=$((TABLE_SIZE * 400 / 1048576 + 128))
DB_PORTS=()
DB_SOCKETS=()
for n in 0 1 2; do
	# Later options win over lib.sh's --skip-log-bin.
	MARIADB_EXTRA_ARGS=(--log-bin="$WORK/db$n/binlog" --server-id=$((n + 1))
		--gtid-domain-id="$DOMAIN" --gtid-strict-mode=ON --binlog-format=ROW)
	start_mariadb "$n"
done
# Each server created the benchmark account itself: the replicas start from the primary's
# position now instead of replaying that.
START_POS=$(sql_on 0 -e 'SELECT @@gtid_binlog_pos')
for n in 1 2; do
	sql_on "$n" <<-SQL || die "server $n does not replicate from server 0"
		RESET MASTER;
		SET GLOBAL gtid_slave_pos='$START_POS';
		CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${DB_PORTS[0]},
		  MASTER_USER='$DB_USER', MASTER_PASSWORD='$DB_PASSWORD', MASTER_CONNECT_RETRY=1,
		  MASTER_USE_GTID=slave_pos;
		SET GLOBAL read_only=1;
		START SLAVE;
	SQL
done
sql_on 0 -e 'CREATE DATABASE sbtest'
MARIADB_VERSION=$(sql_on 0 -e 'SELECT VERSION()')

sb() {
	local port=$1 test=$2
	shift 2
	"$SYSBENCH" "$test" --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$port" \
		--mysql-user="$DB_USER" --mysql-password="$DB_PASSWORD" --mysql-db=sbtest \
		--tables=1 --table-size="$TABLE_SIZE" "$@"
}

echo "loading 1 table x $TABLE_SIZE rows on the primary" >&2
sb "${DB_PORTS[0]}" oltp_read_only prepare >"$WORK/prepare.log" 2>&1 || {
	cat "$WORK/prepare.log" >&2
	die "sysbench prepare failed"
}
sql_on 0 -e 'ANALYZE TABLE sbtest.sbtest1' >/dev/null
POS=$(sql_on 0 -e 'SELECT @@gtid_binlog_pos')
for n in 1 2; do
	waited=$(sql_on "$n" -e "SELECT MASTER_GTID_WAIT('$POS', 60)")
	[[ "$waited" == 0 ]] || {
		KEEP=1
		sql_on "$n" -e 'SHOW SLAVE STATUS\G' | grep -E 'Running|Last_.*Error' >&2 || true
		die "replica $n did not apply the table (see $WORK/db$n/mariadbd.err)"
	}
	rows=$(sql_on "$n" -e 'SELECT COUNT(*) FROM sbtest.sbtest1')
	[[ "$rows" == "$TABLE_SIZE" ]] || die "replica $n has $rows rows, not $TABLE_SIZE"
done

# ---------------------------------------------------------------------------------------------
# Two myshard processes: policy primary, and POLICY

declare -A PORT_OF PID_OF
for side in primary "$POLICY"; do
	free_port
	PORT_OF[$side]=$FREE_PORT
	{
		echo "# Generated by bench/read_replicas.sh."
		echo "listen: 127.0.0.1:$FREE_PORT"
		echo "users:"
		echo "  - {name: $DB_USER, password: $DB_PASSWORD, schemas: [sbtest]}"
		echo "groups:"
		echo "  - name: g0"
		echo "    user: $DB_USER"
		echo "    password: $DB_PASSWORD"
		echo "    write_hosts: ['127.0.0.1:${DB_PORTS[0]}']"
		echo "    read_hosts: ['127.0.0.1:${DB_PORTS[1]}', '127.0.0.1:${DB_PORTS[2]}']"
		echo "    read_policy: $side"
		echo "    pool: {max: 64}"
		echo "schemas:"
		echo "  - {name: sbtest, group: g0, database: sbtest}"
	} >"$WORK/myshard-$side.yaml"
	"$MYSHARD" check --config "$WORK/myshard-$side.yaml" >/dev/null || die "generated configuration is invalid"
	PROXY_PORT=$FREE_PORT
	PROXY_SOCKET=""
	start_myshard "$WORK/myshard-$side.yaml" "$WORK/myshard-$side.log"
	PID_OF[$side]=$PROXY_PID
	HELPER_PIDS+=("$PROXY_PID")
done
PROXY_PID=""

# Warm every path once.
for side in primary "$POLICY"; do
	sb "${PORT_OF[$side]}" oltp_read_only --skip_trx=on --threads=2 --time=1 run >/dev/null 2>&1 || true
done

# ---------------------------------------------------------------------------------------------
# Runs

com_selects() {
	local n
	for n in 0 1 2; do sql_on "$n" -e "SHOW GLOBAL STATUS LIKE 'Com_select'" | awk '{ printf "%s ", $2 }'; done
}

declare -A Q S P95 N BAD SEL PT
FAILED=0
run_one() {
	local mode=$1 threads=$2 side=$3 round=$4 key="$1|$2|$3"
	local log="$WORK/run-$mode-$threads-$side-$round.log"
	local args=(--skip_trx=on --threads="$threads" --db-ps-mode="$mode" --percentile=95 --histogram=off)
	if ((WARMUP > 0)); then
		sb "${PORT_OF[$side]}" oltp_read_only "${args[@]}" --time="$WARMUP" run >"$log.warmup" 2>&1 || true
	fi
	local before after pu0 py0 pu1 py1 status=0 problem=""
	read -r -a before <<<"$(com_selects)"
	read -r pu0 py0 < <(cpu_ticks "${PID_OF[$side]}")
	sb "${PORT_OF[$side]}" oltp_read_only "${args[@]}" --time="$TIME" run >"$log" 2>&1 || status=$?
	read -r pu1 py1 < <(cpu_ticks "${PID_OF[$side]}")
	read -r -a after <<<"$(com_selects)"
	local d0=$((after[0] - before[0])) d1=$((after[1] - before[1])) d2=$((after[2] - before[2]))
	local queries secs p95 errors
	queries=$(field "$log" queries)
	secs=$(sed -n 's/^ *total time: *\([0-9.]*\)s.*/\1/p' "$log" | head -1)
	p95=$(field "$log" "95th percentile")
	errors=$(field "$log" "ignored errors")
	((status == 0)) || problem+="exit status $status; "
	grep -qE 'FATAL|ALERT' "$log" && problem+="$(grep -m1 -E 'FATAL|ALERT' "$log" | cut -c1-120); "
	[[ -n "$queries" && -n "$secs" && -n "$p95" ]] || problem+="no summary; "
	[[ "${errors:-0}" == 0 ]] || problem+="$errors errors; "
	kill -0 "${PID_OF[$side]}" 2>/dev/null || problem+="myshard died; "
	# The health monitor's heartbeats are selects too: a few per second on every server.
	local total=$((d0 + d1 + d2))
	if [[ "$side" == primary ]]; then
		((20 * (d1 + d2) <= total)) || problem+="replicas took reads under policy primary; "
	else
		((10 * d1 >= total && 10 * d2 >= total)) || problem+="the replicas did not both take reads; "
	fi
	if [[ -n "$problem" ]]; then
		BAD[$key]="${BAD[$key]-}$problem"
		FAILED=1
		KEEP=1
		echo "  $key round $round: PROBLEM: $problem (log kept in $log)" >&2
	fi
	Q[$key]=$((${Q[$key]-0} + ${queries:-0}))
	S[$key]=$(awk -v a="${S[$key]-0}" -v b="${secs:-0}" 'BEGIN { print a + b }')
	P95[$key]=$(awk -v a="${P95[$key]-0}" -v b="${p95:-0}" 'BEGIN { print a + b }')
	PT[$key]=$((${PT[$key]-0} + pu1 + py1 - pu0 - py0))
	N[$key]=$((${N[$key]-0} + 1))
	local sel=(${SEL[$key]-0 0 0})
	SEL[$key]="$((sel[0] + d0)) $((sel[1] + d1)) $((sel[2] + d2))"
	printf '  oltp_read_only %-7s %3s threads policy %-8s round %s: %8s queries in %6ss  p95 %6s ms  Com_select primary/replica1/replica2 %s/%s/%s\n' \
		"$mode" "$threads" "$side" "$round" "${queries:-?}" "${secs:-?}" "${p95:-?}" "$d0" "$d1" "$d2" >&2
}

LOAD_BEFORE=$(background_load)
echo "background CPU load before the runs: $LOAD_BEFORE of $(nproc) CPUs" >&2
for mode in $PS_MODES; do
	for threads in $THREADS; do
		for ((round = 1; round <= ROUNDS; round++)); do
			for side in primary "$POLICY"; do
				run_one "$mode" "$threads" "$side" "$round"
			done
		done
	done
done
LOAD_AFTER=$(background_load)

# ---------------------------------------------------------------------------------------------
# Report

table() {
	echo "| ps-mode | threads | primary QPS | $POLICY QPS | $POLICY/primary | primary p95 ms | $POLICY p95 ms | myshard CPU µs / query primary → $POLICY | reads on primary / replica 1 / replica 2 ($POLICY runs) | problems |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---|---|"
	local mode threads p r
	for mode in $PS_MODES; do
		for threads in $THREADS; do
			p="$mode|$threads|primary"
			r="$mode|$threads|$POLICY"
			awk -v mode="$mode" -v threads="$threads" -v hz="$CLK_TCK" -v sel="${SEL[$r]}" \
				-v pq="${Q[$p]}" -v ps="${S[$p]}" -v pp="${P95[$p]}" -v pn="${N[$p]}" -v pt="${PT[$p]}" \
				-v rq="${Q[$r]}" -v rs="${S[$r]}" -v rp="${P95[$r]}" -v rn="${N[$r]}" -v rt="${PT[$r]}" \
				-v bad="${BAD[$p]-}${BAD[$r]-}" '
				function per(t, q) { return q > 0 ? t / hz / q * 1e6 : 0 }
				BEGIN {
					pqps = ps > 0 ? pq / ps : 0; rqps = rs > 0 ? rq / rs : 0
					split(sel, s, " "); tot = s[1] + s[2] + s[3]
					share = tot > 0 ? sprintf("%.0f%% / %.0f%% / %.0f%%", 100 * s[1] / tot, 100 * s[2] / tot, 100 * s[3] / tot) : "-"
					printf "| %s | %s | %.0f | %.0f | %.2f | %.2f | %.2f | %.1f → %.1f | %s | %s |\n",
						mode, threads, pqps, rqps, (pqps > 0 ? rqps / pqps : 0), pp / pn, rp / rn,
						per(pt, pq), per(rt, rq), share, bad == "" ? "none" : bad
				}'
		done
	done
}

{
	echo "## $SECTION"
	echo
	recorded_line bench/read_replicas.sh ${ORIGINAL_ARGS[@]+"${ORIGINAL_ARGS[@]}"}
	echo
	echo "Machine: $(machine_line); MariaDB $MARIADB_VERSION; myshard $(basename "$MYSHARD") at $MYSHARD;" \
		"background CPU load $LOAD_BEFORE before, $LOAD_AFTER after (of $(nproc) CPUs)."
	echo "sysbench oltp_read_only --skip_trx=on (autocommit reads), 1 table x $TABLE_SIZE rows," \
		"$TIME s per run after $WARMUP s warm-up, $ROUNDS round(s), policies alternating;" \
		"a primary and 2 GTID replicas on this machine (client, proxy and servers share the CPUs)."
	echo
	table
} >"$WORK/section.md"
echo >&2
cat "$WORK/section.md"
if ((RECORD)); then
	record_section "$SECTION" "$WORK/section.md"
	echo "recorded in docs/BENCHMARKS.md" >&2
fi
if ((FAILED)); then
	echo "some runs had problems (see above); work directory kept: $WORK" >&2
	exit 1
fi
