#!/usr/bin/env bash
# sysbench: myshard versus direct MariaDB (the "foundation" benchmark), and with --sharded the
# "sharding" benchmark.
#
#   bench/sysbench.sh [options]
#
#   --time SECS        measured duration of each run (default 20)
#   --warmup SECS      unmeasured run before each measured run, same target and settings
#                      (default 3; 0 disables)
#   --rounds N         direct/myshard pairs per case; runs alternate direct, myshard, direct,
#                      myshard… so drift of the machine affects both sides (default 2)
#   --threads "LIST"   sysbench thread counts (default "8 32")
#   --tests "LIST"     sysbench tests (default "oltp_point_select oltp_read_only")
#   --ps-modes "LIST"  --db-ps-mode values: auto = server-side prepared statements (sysbench's
#                      default), disable = text protocol (default "auto disable")
#   --table-size N     rows in the one table (default 100000)
#   --transports "LIST" how sysbench connects, each a separate row: tcp = TCP to MariaDB and to
#                      myshard; socket = MariaDB's Unix socket and myshard's `listen_socket`
#                      (default "tcp socket")
#   --backend KIND     how myshard reaches MariaDB: unix = `unix:/path/to/mariadbd.sock` (a proxy
#                      on the same machine as its server; default), tcp = 127.0.0.1:port
#   --sharded          the sharding benchmark: two MariaDB servers (groups g0 and g1) and
#                      sbtest1 sharded on `id` over 16 shards (0-7 on g0, 8-15 on g1), loaded by
#                      sysbench prepare through myshard (CREATE TABLE broadcast, multi-row
#                      INSERTs split per shard), against direct MariaDB holding the whole table
#                      in one server; tests default to "oltp_point_select"; --record writes
#                      section "sysbench (sharding)"
#   --baseline-two-servers
#                      the unsharded benchmark on the same two servers the sharded one uses, so
#                      that `--sharded` and this load the machine alike: schema `sbtest` on g0
#                      (server 0) and a second unsharded schema `sbtest_g1` on g1 (server 1),
#                      each with the whole table in its database `sbtest`; every run is two
#                      sysbench processes at once with half the threads each, one per server
#                      (direct: server 0 and server 1; myshard: schema sbtest and sbtest_g1).
#                      QPS is their sum, p95 their mean. Why: the sharded case spreads its point
#                      selects evenly over two mariadbd processes on the same CPUs, where the
#                      plain unsharded case runs one; comparing those measures the second
#                      server's cost as much as myshard's. Thread counts must be even; not with
#                      --sharded or --socat
#   --socat            also run every case through socat (a process per connection relaying
#                      bytes to MariaDB, no protocol work: the cost of the extra hop alone),
#                      alternating direct, socat, myshard; the table gains socat columns
#   --proxy-workers N  myshard's worker threads (TOKIO_WORKER_THREADS; default: one per CPU)
#   --server-status    also read SHOW GLOBAL STATUS of every server before and after each
#                      measured myshard run and print, per case, what the servers did per
#                      query (summed over the servers): the counters that moved (Com_*,
#                      Handler_*, Opened_tables, Table_open_cache_*, Bytes_*, …), the gauges
#                      Prepared_stmt_count, Open_tables and Threads_connected at the end, and
#                      mariadbd's user and system CPU per query; kept in the work directory
#                      as status-*.txt. What the proxy asks of the backends, to compare the
#                      sharded and unsharded cases statement by statement
#   --no-build         use the existing target/release/myshard
#   --binary PATH      use this myshard binary (implies --no-build): to compare two builds
#   --keep             keep the work directory (data, configuration, logs, raw sysbench output)
#   --hold             set everything up, print the ports and process ids, then wait (no runs)
#                      until interrupted: for profiling by hand
#   --record           also write the results to docs/BENCHMARKS.md, section
#                      "sysbench (foundation)" (replaced in place if present, appended otherwise)
#
# What it does: builds myshard in release mode, starts one private MariaDB (mariadb-install-db
# into a fresh directory under tmp/ of the repository, a free port and a Unix socket,
# --no-defaults) and myshard in front of it with a generated configuration (one user, one group
# with a pool of at most 64 connections, one unsharded schema `sbtest`; myshard listens on TCP
# and on a Unix socket), loads 1 table with sysbench oltp_point_select prepare, then runs every
# case (test × ps-mode × threads × transport) against MariaDB directly and through myshard,
# alternately. The servers are killed at the end, whatever happens.
#
# Per case it reports QPS (sysbench's queries per second; for oltp_read_only that counts
# BEGIN and COMMIT too), the 95th percentile latency, the ratio myshard/direct, the CPU time
# (user + system, from /proc/PID/stat) myshard spent per 1,000 queries and per query, and the
# CPU time of mariadbd per query on both paths. Several rounds are pooled: QPS = all queries /
# all time, p95 = mean of the rounds' p95, CPU = all CPU / all queries.
#
# A run with sysbench errors, reconnects or a non-zero exit status is flagged in the table and
# makes the script exit with status 1 (after printing everything). Client, proxy and server
# share the machine's CPUs; that is the point (it is how PRODUCT.md's numbers were taken).
#
# Needs: cargo, mariadb-server, mariadb-client, sysbench (Debian: apt-get install
# mariadb-server mariadb-client sysbench).

set -euo pipefail

ORIGINAL_ARGS=("$@")
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/.." && pwd)
BENCH=sysbench.sh
# shellcheck source=bench/lib.sh disable=SC2034 # several globals are read by lib.sh
source "$script_dir/lib.sh"

TIME=20
WARMUP=3
ROUNDS=2
THREADS="8 32"
TESTS="oltp_point_select oltp_read_only"
PS_MODES="auto disable"
TABLE_SIZE=100000
TRANSPORTS="tcp socket"
BACKEND=unix
SHARDED=0
TWO_SERVERS=0
TESTS_SET=0
PROXY_WORKERS=""
SOCAT=0
BUILD=1
KEEP=0
RECORD=0
HOLD=0
SERVER_STATUS=0
BINARY=""

while (($#)); do
	case "$1" in
	--time) positive_int "$1" "${2-}" 1 && TIME=$2 && shift ;;
	--warmup) positive_int "$1" "${2-}" 0 && WARMUP=$2 && shift ;;
	--rounds) positive_int "$1" "${2-}" 1 && ROUNDS=$2 && shift ;;
	--threads) [[ -n "${2-}" ]] || die "--threads needs a list" && THREADS=$2 && shift ;;
	--tests) [[ -n "${2-}" ]] || die "--tests needs a list" && TESTS=$2 && TESTS_SET=1 && shift ;;
	--ps-modes) [[ -n "${2-}" ]] || die "--ps-modes needs a list" && PS_MODES=$2 && shift ;;
	--table-size) positive_int "$1" "${2-}" 1 && TABLE_SIZE=$2 && shift ;;
	--transports) [[ -n "${2-}" ]] || die "--transports needs a list" && TRANSPORTS=$2 && shift ;;
	--backend) [[ "${2-}" == unix || "${2-}" == tcp ]] || die "--backend needs unix or tcp" && BACKEND=$2 && shift ;;
	--sharded) SHARDED=1 ;;
	--baseline-two-servers) TWO_SERVERS=1 ;;
	--socat) SOCAT=1 ;;
	--proxy-workers) positive_int "$1" "${2-}" 1 && PROXY_WORKERS=$2 && shift ;;
	--server-status) SERVER_STATUS=1 ;;
	--no-build) BUILD=0 ;;
	--binary) [[ -x "${2-}" ]] || die "--binary needs an executable" && BINARY=$2 && BUILD=0 && shift ;;
	--keep) KEEP=1 ;;
	--hold) HOLD=1 ;;
	--record) RECORD=1 ;;
	-h | --help) usage ;;
	*) die "unknown option '$1' (see --help)" ;;
	esac
	shift
done
for t in $THREADS; do positive_int "--threads" "$t" 1; done
for m in $PS_MODES; do
	[[ "$m" == auto || "$m" == disable ]] || die "--ps-modes: '$m' is not auto or disable"
done
for t in $TRANSPORTS; do
	[[ "$t" == tcp || "$t" == socket ]] || die "--transports: '$t' is not tcp or socket"
done
((SHARDED && !TESTS_SET)) && TESTS="oltp_point_select"
if ((TWO_SERVERS)); then
	((!SHARDED)) || die "--baseline-two-servers is the unsharded comparison; not with --sharded"
	((!SOCAT)) || die "--baseline-two-servers and --socat together are not supported"
	for t in $THREADS; do
		((t >= 2 && t % 2 == 0)) || die "--baseline-two-servers splits the threads over two servers: '$t' is not even"
	done
fi
SHARDS=16
SECTION="sysbench (foundation)"
((SHARDED)) && SECTION="sysbench (sharding)"
((TWO_SERVERS)) && SECTION="sysbench (foundation, two servers)"

MARIADBD=$(find_bin mariadbd)
INSTALL_DB=$(find_bin mariadb-install-db)
CLIENT=$(find_bin mariadb)
SYSBENCH=$(find_bin sysbench)
CLK_TCK=$(getconf CLK_TCK)
TARGETS="direct proxy"
if ((SOCAT)); then
	SOCAT_BIN=$(find_bin socat)
	TARGETS="direct socat proxy"
fi

# ---------------------------------------------------------------------------------------------
# Work directory and cleanup

mkdir -p "$repo/tmp"
WORK=$(mktemp -d "$repo/tmp/bench-sysbench.XXXXXX")
MARIADB_PIDS=()
HELPER_PIDS=()
PROXY_PID=""

trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# Build

build_myshard
[[ -n "$BINARY" ]] && MYSHARD=$BINARY

# ---------------------------------------------------------------------------------------------
# MariaDB

DB_USER=sbtest
DB_PASSWORD=sbtest-secret
free_port
PROXY_PORT=$FREE_PORT

# The buffer pool holds the whole table with room to spare (a row is about 200 bytes).
BUFFER_POOL_MB=$((TABLE_SIZE * 400 / 1048576 + 128))

# Servers 0, 1, …: lib.sh start_mariadb sets DB_PORTS, DB_SOCKETS, MARIADB_PIDS.
DB_PORTS=()
DB_SOCKETS=()
sql() { sql_on 0 "$@"; }

NSERVERS=1
((SHARDED || TWO_SERVERS)) && NSERVERS=2
for ((n = 0; n < NSERVERS; n++)); do start_mariadb "$n"; done
# Direct runs use server 0, which holds the whole table in database sbtest (with
# --baseline-two-servers server 1 holds another copy, and half the threads go there).
sql -e 'CREATE DATABASE sbtest'
((TWO_SERVERS)) && sql_on 1 -e 'CREATE DATABASE sbtest'
DB_PORT=${DB_PORTS[0]}
DB_SOCKET=${DB_SOCKETS[0]}
MARIADB_VERSION=$(sql -e 'SELECT VERSION()')

# ---------------------------------------------------------------------------------------------
# myshard

PROXY_SOCKET=$(short_socket "$WORK/myshard.sock" proxy)
# backend_host N — how myshard reaches server N.
backend_host() {
	if [[ "$BACKEND" == unix ]]; then
		echo "unix:${DB_SOCKETS[$1]}"
	else
		echo "127.0.0.1:${DB_PORTS[$1]}"
	fi
}
{
	echo "# Generated by bench/sysbench.sh."
	echo "listen: 127.0.0.1:$PROXY_PORT"
	echo "listen_socket: $PROXY_SOCKET"
	echo "users:"
	if ((TWO_SERVERS)); then
		echo "  - {name: $DB_USER, password: $DB_PASSWORD, schemas: [sbtest, sbtest_g1]}"
	else
		echo "  - {name: $DB_USER, password: $DB_PASSWORD, schemas: [sbtest]}"
	fi
	echo "groups:"
	for ((n = 0; n < NSERVERS; n++)); do
		echo "  - {name: g$n, user: $DB_USER, password: $DB_PASSWORD, write_hosts: ['$(backend_host "$n")'], pool: {max: 64}}"
	done
	echo "schemas:"
	if ((SHARDED)); then
		echo "  - name: sbtest"
		echo "    shards: $SHARDS"
		echo "    placement: [{group: g0, shards: '0-$((SHARDS / 2 - 1))'}, {group: g1, shards: '$((SHARDS / 2))-$((SHARDS - 1))'}]"
		echo "    tables: [{name: sbtest1, shard_key: id}]"
	else
		echo "  - {name: sbtest, group: g0, database: sbtest}"
		((TWO_SERVERS)) && echo "  - {name: sbtest_g1, group: g1, database: sbtest}"
	fi
} >"$WORK/myshard.yaml"
"$MYSHARD" check --config "$WORK/myshard.yaml" >/dev/null || die "generated configuration is invalid"
if ((SHARDED)); then
	"$MYSHARD" init --config "$WORK/myshard.yaml" >"$WORK/init.log" 2>&1 || {
		cat "$WORK/init.log" >&2
		die "myshard init failed"
	}
fi
if [[ -n "$PROXY_WORKERS" ]]; then
	export TOKIO_WORKER_THREADS=$PROXY_WORKERS
else
	unset TOKIO_WORKER_THREADS
fi
start_myshard "$WORK/myshard.yaml" "$WORK/myshard.log"

# socat in front of server 0 (the direct target): TCP to TCP and Unix socket to Unix socket,
# TCP_NODELAY on both legs as sysbench and myshard set it.
if ((SOCAT)); then
	free_port
	SOCAT_PORT=$FREE_PORT
	SOCAT_SOCKET=$(short_socket "$WORK/socat.sock" socat)
	"$SOCAT_BIN" "TCP-LISTEN:$SOCAT_PORT,bind=127.0.0.1,fork,reuseaddr,nodelay,backlog=1024" \
		"TCP:127.0.0.1:${DB_PORTS[0]},nodelay" </dev/null >>"$WORK/socat.log" 2>&1 &
	HELPER_PIDS+=($!)
	"$SOCAT_BIN" "UNIX-LISTEN:$SOCAT_SOCKET,fork,backlog=1024" "UNIX-CONNECT:${DB_SOCKETS[0]}" \
		</dev/null >>"$WORK/socat.log" 2>&1 &
	HELPER_PIDS+=($!)
	for ((i = 0; i < 100; i++)); do
		port_open "$SOCAT_PORT" && [[ -S "$SOCAT_SOCKET" ]] && break
		sleep 0.1
	done
	port_open "$SOCAT_PORT" && [[ -S "$SOCAT_SOCKET" ]] || die "socat did not listen (log: $WORK/socat.log)"
fi

# ---------------------------------------------------------------------------------------------
# sysbench

# sb TARGET TRANSPORT TEST ARGS… — sysbench against direct MariaDB or myshard, over TCP or the
# Unix socket. SB_SERVER=1 (with --baseline-two-servers): server 1 directly, or through myshard
# its schema sbtest_g1.
SB_SERVER=0
sb() {
	local target=$1 transport=$2 test=$3 conn db=sbtest
	shift 3
	((SB_SERVER == 1)) && [[ "$target" == proxy ]] && db=sbtest_g1
	case "$target/$transport" in
	direct/tcp) conn=(--mysql-host=127.0.0.1 --mysql-port="${DB_PORTS[$SB_SERVER]}") ;;
	proxy/tcp) conn=(--mysql-host=127.0.0.1 --mysql-port="$PROXY_PORT") ;;
	direct/socket) conn=(--mysql-socket="${DB_SOCKETS[$SB_SERVER]}") ;;
	socat/tcp) conn=(--mysql-host=127.0.0.1 --mysql-port="$SOCAT_PORT") ;;
	socat/socket) conn=(--mysql-socket="$SOCAT_SOCKET") ;;
	proxy/socket) conn=(--mysql-socket="$PROXY_SOCKET") ;;
	esac
	"$SYSBENCH" "$test" --db-driver=mysql "${conn[@]}" \
		--mysql-user="$DB_USER" --mysql-password="$DB_PASSWORD" --mysql-db="$db" \
		--tables=1 --table-size="$TABLE_SIZE" "$@"
}

# Through myshard, every query works on both transports.
proxy_sql() {
	"$CLIENT" --no-defaults --protocol=TCP -h 127.0.0.1 -P "$PROXY_PORT" -u "$DB_USER" \
		-p"$DB_PASSWORD" --batch --skip-column-names sbtest "$@"
}

echo "loading 1 table x $TABLE_SIZE rows" >&2
if ((SHARDED)); then
	# Explicit ids (--auto_inc=off): the shard key must be in every INSERT. The direct table
	# gets the same shape.
	sb direct tcp oltp_point_select --auto_inc=off prepare >"$WORK/prepare.log" 2>&1 || {
		cat "$WORK/prepare.log" >&2
		die "sysbench prepare (direct) failed"
	}
	sb proxy tcp oltp_point_select --auto_inc=off prepare >"$WORK/prepare-proxy.log" 2>&1 || {
		cat "$WORK/prepare-proxy.log" >&2
		die "sysbench prepare through myshard failed (log: $WORK/myshard.log)"
	}
	sql -e 'ANALYZE TABLE sbtest.sbtest1' >/dev/null
	# Count every shard's rows on its server and refresh its statistics.
	rows=0
	for ((shard = 0; shard < SHARDS; shard++)); do
		db=$(printf 'sbtest_%04d' "$shard")
		n=$((shard < SHARDS / 2 ? 0 : 1))
		sql_on "$n" -e "ANALYZE TABLE $db.sbtest1" >/dev/null
		c=$(sql_on "$n" -e "SELECT COUNT(*) FROM $db.sbtest1") || die "shard $shard has no table"
		((c > 0)) || die "shard $shard ($db on server $n) is empty"
		rows=$((rows + c))
	done
	[[ "$rows" == "$TABLE_SIZE" ]] || die "the shards hold $rows rows, not $TABLE_SIZE"
	probe=$((TABLE_SIZE / 2))
	got=$(proxy_sql -e "SELECT id FROM sbtest1 WHERE id = $probe") ||
		die "a query through myshard failed (log: $WORK/myshard.log)"
	[[ "$got" == "$probe" ]] || die "through myshard row $probe reads as '$got'"
	WARM_TEST=oltp_point_select
else
	for ((n = 0; n < NSERVERS; n++)); do
		SB_SERVER=$n sb direct tcp oltp_point_select prepare >"$WORK/prepare-$n.log" 2>&1 || {
			cat "$WORK/prepare-$n.log" >&2
			die "sysbench prepare (server $n) failed"
		}
		sql_on "$n" -e 'ANALYZE TABLE sbtest.sbtest1' >/dev/null
	done
	rows=$(proxy_sql -e 'SELECT COUNT(*) FROM sbtest1') ||
		die "a query through myshard failed (log: $WORK/myshard.log)"
	[[ "$rows" == "$TABLE_SIZE" ]] || die "through myshard the table has $rows rows, not $TABLE_SIZE"
	if ((TWO_SERVERS)); then
		rows=$(proxy_sql -e 'SELECT COUNT(*) FROM sbtest_g1.sbtest1') ||
			die "a query through myshard to sbtest_g1 failed (log: $WORK/myshard.log)"
		[[ "$rows" == "$TABLE_SIZE" ]] || die "through myshard sbtest_g1 has $rows rows, not $TABLE_SIZE"
	fi
	WARM_TEST=oltp_read_only
fi
# Warm the buffer pools and every path once.
for transport in $TRANSPORTS; do
	for target in $TARGETS; do
		for ((n = 0; n < NSERVERS; n++)); do
			((n == 0 || TWO_SERVERS)) || continue
			SB_SERVER=$n sb "$target" "$transport" "$WARM_TEST" --threads=2 --time=5 run >/dev/null 2>&1 || true
		done
	done
done

if ((HOLD)); then
	echo "holding: mariadbd pids ${MARIADB_PIDS[*]} ports ${DB_PORTS[*]} sockets ${DB_SOCKETS[*]}," \
		"myshard pid $PROXY_PID port $PROXY_PORT socket $PROXY_SOCKET," \
		"user $DB_USER password $DB_PASSWORD database sbtest, work directory $WORK; Ctrl-C or TERM ends"
	while kill -0 "$PROXY_PID" 2>/dev/null; do sleep 1; done
	die "myshard exited (log: $WORK/myshard.log)"
fi

# Accumulated per case and target: queries, seconds, sum of p95, proxy ticks (all and user),
# server ticks, rounds, problems.
declare -A Q S P95 PT PU ST N BAD
FAILED=0
RESULTS="$WORK/results.txt"
: >"$RESULTS"

# sb_split TARGET TRANSPORT TEST LOG THREADS ARGS… — one sysbench run with THREADS threads
# (output in LOG), or with --baseline-two-servers two at once with half the threads each, one
# per server, and LOG a summary in sysbench's words: queries and errors summed, the time and
# the p95 their means; exits with the first non-zero status.
sb_split() {
	local target=$1 transport=$2 test=$3 log=$4 threads=$5 status=0 s0=0 s1=0
	shift 5
	if ((!TWO_SERVERS)); then
		sb "$target" "$transport" "$test" --threads="$threads" "$@" >"$log" 2>&1
		return
	fi
	SB_SERVER=0 sb "$target" "$transport" "$test" --threads=$((threads / 2)) "$@" >"$log.server0" 2>&1 &
	local pid0=$!
	SB_SERVER=1 sb "$target" "$transport" "$test" --threads=$((threads / 2)) "$@" >"$log.server1" 2>&1 &
	local pid1=$!
	wait "$pid0" || s0=$?
	wait "$pid1" || s1=$?
	{
		grep -h -E 'FATAL|ALERT' "$log.server0" "$log.server1" || true
		local label
		for label in queries "ignored errors" reconnects; do
			awk -v l="$label" -v a="$(field "$log.server0" "$label")" -v b="$(field "$log.server1" "$label")" \
				'BEGIN { if (a != "" && b != "") printf "    %s: %d\n", l, a + b }'
		done
		awk -v a="$(sed -n 's/^ *total time: *\([0-9.]*\)s.*/\1/p' "$log.server0" | head -1)" \
			-v b="$(sed -n 's/^ *total time: *\([0-9.]*\)s.*/\1/p' "$log.server1" | head -1)" \
			'BEGIN { if (a != "" && b != "") printf "    total time: %.4fs\n", (a + b) / 2 }'
		awk -v a="$(field "$log.server0" "95th percentile")" -v b="$(field "$log.server1" "95th percentile")" \
			'BEGIN { if (a != "" && b != "") printf "         95th percentile: %.2f\n", (a + b) / 2 }'
	} >"$log"
	((s0 == 0)) || return "$s0"
	return "$s1"
}

# status_snapshot FILE — `name value` of every numeric global status variable, summed over the
# servers, plus mariadbd's user and system CPU ticks (as Cpu_user_ticks, Cpu_system_ticks).
status_snapshot() {
	local n pid u y
	{
		for ((n = 0; n < NSERVERS; n++)); do
			sql_on "$n" -e 'SHOW GLOBAL STATUS'
		done
		for pid in "${MARIADB_PIDS[@]}"; do
			read -r u y < <(cpu_ticks "$pid")
			printf 'Cpu_user_ticks\t%s\nCpu_system_ticks\t%s\n' "$u" "$y"
		done
	} | awk -F'\t' '$2 ~ /^[0-9]+$/ { sum[$1] += $2 } END { for (k in sum) print k, sum[k] }' | sort >"$1"
}

# Counters that are levels, not events: reported as their value after the run.
STATUS_GAUGES=" Prepared_stmt_count Open_tables Open_table_definitions Open_files Threads_connected Threads_running Threads_cached Memory_used Uptime Uptime_since_flush_status "

# status_report BEFORE AFTER QUERIES OUT — per-query deltas of the counters that moved (at
# least once per 1,000 queries), the gauges after the run, mariadbd CPU in µs per query;
# written to OUT and printed.
status_report() {
	join "$1" "$2" | awk -v q="$3" -v hz="$CLK_TCK" -v gauges="$STATUS_GAUGES" '
		q > 0 {
			d = $3 - $2
			if (index(gauges, " " $1 " ")) { g[$1] = $3; next }
			if ($1 == "Cpu_user_ticks") { cu = d; next }
			if ($1 == "Cpu_system_ticks") { cs = d; next }
			if (d / q >= 0.001) printf "  %-34s %10.3f / query\n", $1, d / q
		}
		END {
			printf "  %-34s %10.1f µs user + %.1f µs system / query\n", "mariadbd CPU", cu / hz / q * 1e6, cs / hz / q * 1e6
			for (k in g) printf "  %-34s %10d (after the run)\n", k, g[k]
		}' | sort >"$4"
	cat "$4" >&2
}

run_one() {
	local test=$1 mode=$2 threads=$3 transport=$4 target=$5 round=$6 key="$1|$2|$3|$4|$5"
	local log="$WORK/run-$test-$mode-$threads-$transport-$target-$round.log"
	local args=(--db-ps-mode="$mode" --percentile=95 --histogram=off)
	if ((WARMUP > 0)); then
		sb_split "$target" "$transport" "$test" "$log.warmup" "$threads" "${args[@]}" --time="$WARMUP" run || true
	fi
	local pu0 py0 pu1 py1 p0 p1 s0 s1 status=0
	local status_file="$WORK/status-$test-$mode-$threads-$transport-$target-$round"
	((SERVER_STATUS)) && [[ "$target" == proxy ]] && status_snapshot "$status_file.before"
	read -r pu0 py0 < <(cpu_ticks "$PROXY_PID")
	s0=$(server_ticks)
	sb_split "$target" "$transport" "$test" "$log" "$threads" "${args[@]}" --time="$TIME" run || status=$?
	read -r pu1 py1 < <(cpu_ticks "$PROXY_PID")
	s1=$(server_ticks)
	((SERVER_STATUS)) && [[ "$target" == proxy ]] && status_snapshot "$status_file.after"
	p0=$((pu0 + py0))
	p1=$((pu1 + py1))
	local queries secs p95 errors reconnects problem=""
	queries=$(field "$log" queries)
	secs=$(sed -n 's/^ *total time: *\([0-9.]*\)s.*/\1/p' "$log" | head -1)
	p95=$(field "$log" "95th percentile")
	errors=$(field "$log" "ignored errors")
	reconnects=$(field "$log" reconnects)
	((status == 0)) || problem+="exit status $status; "
	grep -qE 'FATAL|ALERT' "$log" && problem+="$(grep -m1 -E 'FATAL|ALERT' "$log" | cut -c1-120); "
	[[ -n "$queries" && -n "$secs" && -n "$p95" ]] || problem+="no summary; "
	[[ "${errors:-0}" == 0 ]] || problem+="$errors errors; "
	[[ "${reconnects:-0}" == 0 ]] || problem+="$reconnects reconnects; "
	kill -0 "$PROXY_PID" 2>/dev/null || problem+="myshard died; "
	if [[ -n "$problem" ]]; then
		BAD[$key]="${BAD[$key]-}$problem"
		FAILED=1
		echo "  $key round $round: PROBLEM: $problem (log kept in $log)" >&2
		KEEP=1
	fi
	Q[$key]=$((${Q[$key]-0} + ${queries:-0}))
	S[$key]=$(awk -v a="${S[$key]-0}" -v b="${secs:-0}" 'BEGIN { print a + b }')
	P95[$key]=$(awk -v a="${P95[$key]-0}" -v b="${p95:-0}" 'BEGIN { print a + b }')
	PT[$key]=$((${PT[$key]-0} + p1 - p0))
	PU[$key]=$((${PU[$key]-0} + pu1 - pu0))
	ST[$key]=$((${ST[$key]-0} + s1 - s0))
	N[$key]=$((${N[$key]-0} + 1))
	printf '  %-17s %-7s %3s threads %-6s %-7s round %s: %8s queries in %6ss  p95 %6s ms  myshard cpu %5s s  mariadbd cpu %5s s\n' \
		"$test" "$mode" "$threads" "$transport" "$target" "$round" "${queries:-?}" "${secs:-?}" "${p95:-?}" \
		"$(awk -v t=$((p1 - p0)) -v h="$CLK_TCK" 'BEGIN { printf "%.2f", t / h }')" \
		"$(awk -v t=$((s1 - s0)) -v h="$CLK_TCK" 'BEGIN { printf "%.2f", t / h }')" >&2
	if ((SERVER_STATUS)) && [[ "$target" == proxy ]]; then
		echo "  servers per query (status deltas summed over the servers):" >&2
		status_report "$status_file.before" "$status_file.after" "${queries:-0}" "$status_file.txt"
	fi
}

LOAD_BEFORE=$(background_load)
echo "background CPU load before the runs: $LOAD_BEFORE of $(nproc) CPUs" >&2
ncases=0
for test in $TESTS; do for mode in $PS_MODES; do for threads in $THREADS; do for transport in $TRANSPORTS; do
	ncases=$((ncases + 1))
done; done; done; done
ntargets=$(wc -w <<<"$TARGETS")
total=$((ncases * ROUNDS * ntargets * (TIME + WARMUP)))
echo "running $ncases cases x $ROUNDS rounds x ($TARGETS), about $((total / 60 + 1)) minutes" >&2

for test in $TESTS; do
	for mode in $PS_MODES; do
		for threads in $THREADS; do
			for transport in $TRANSPORTS; do
				for ((round = 1; round <= ROUNDS; round++)); do
					for target in $TARGETS; do
						run_one "$test" "$mode" "$threads" "$transport" "$target" "$round"
					done
				done
			done
		done
	done
done

LOAD_AFTER=$(background_load)
echo "background CPU load after the runs: $LOAD_AFTER of $(nproc) CPUs" >&2

# ---------------------------------------------------------------------------------------------
# Report

table() {
	echo "| test | ps-mode | threads | transport | direct QPS | myshard QPS | myshard/direct | direct p95 ms | myshard p95 ms | myshard CPU µs / query (user + system) | mariadbd CPU µs / query direct → via myshard | problems |"
	echo "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"
	local test mode threads transport d p
	for test in $TESTS; do
		for mode in $PS_MODES; do
			for threads in $THREADS; do
				for transport in $TRANSPORTS; do
					d="$test|$mode|$threads|$transport|direct"
					p="$test|$mode|$threads|$transport|proxy"
					awk -v test="$test" -v mode="$mode" -v threads="$threads" -v transport="$transport" -v hz="$CLK_TCK" \
						-v dq="${Q[$d]}" -v ds="${S[$d]}" -v dp="${P95[$d]}" -v dn="${N[$d]}" -v dst="${ST[$d]}" \
						-v pq="${Q[$p]}" -v ps="${S[$p]}" -v pp="${P95[$p]}" -v pn="${N[$p]}" -v pst="${ST[$p]}" \
						-v pt="${PT[$p]}" -v pu="${PU[$p]}" -v bad="${BAD[$d]-}${BAD[$p]-}" '
						function per(ticks, q) { return q > 0 ? ticks / hz / q : 0 }
						BEGIN {
							dqps = ds > 0 ? dq / ds : 0; pqps = ps > 0 ? pq / ps : 0
							ratio = dqps > 0 ? pqps / dqps : 0
							printf "| %s | %s | %s | %s | %.0f | %.0f | %.2f | %.2f | %.2f | %.1f (%.1f + %.1f) | %.1f → %.1f | %s |\n",
								test, mode, threads, transport, dqps, pqps, ratio, dp / dn, pp / pn,
								per(pt, pq) * 1e6, per(pu, pq) * 1e6, per(pt - pu, pq) * 1e6,
								per(dst, dq) * 1e6, per(pst, pq) * 1e6, bad == "" ? "none" : bad
						}'
				done
			done
		done
	done
}

# socat_table — the table with socat's columns (its CPU is not measured: it forks a process
# per connection).
socat_table() {
	echo "| test | ps-mode | threads | transport | direct QPS | socat QPS | myshard QPS | socat/direct | myshard/direct | myshard/socat | direct p95 ms | socat p95 ms | myshard p95 ms | myshard CPU µs / query (user + system) | mariadbd CPU µs / query direct → via myshard | problems |"
	echo "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
	local test mode threads transport d s p
	for test in $TESTS; do
		for mode in $PS_MODES; do
			for threads in $THREADS; do
				for transport in $TRANSPORTS; do
					d="$test|$mode|$threads|$transport|direct"
					s="$test|$mode|$threads|$transport|socat"
					p="$test|$mode|$threads|$transport|proxy"
					awk -v test="$test" -v mode="$mode" -v threads="$threads" -v transport="$transport" -v hz="$CLK_TCK" \
						-v dq="${Q[$d]}" -v ds="${S[$d]}" -v dp="${P95[$d]}" -v dn="${N[$d]}" -v dst="${ST[$d]}" \
						-v sq="${Q[$s]}" -v ss="${S[$s]}" -v sp="${P95[$s]}" -v sn="${N[$s]}" \
						-v pq="${Q[$p]}" -v ps="${S[$p]}" -v pp="${P95[$p]}" -v pn="${N[$p]}" -v pst="${ST[$p]}" \
						-v pt="${PT[$p]}" -v pu="${PU[$p]}" -v bad="${BAD[$d]-}${BAD[$s]-}${BAD[$p]-}" '
						function per(ticks, q) { return q > 0 ? ticks / hz / q : 0 }
						function div(a, b) { return b > 0 ? a / b : 0 }
						BEGIN {
							dqps = div(dq, ds); sqps = div(sq, ss); pqps = div(pq, ps)
							printf "| %s | %s | %s | %s | %.0f | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.1f (%.1f + %.1f) | %.1f → %.1f | %s |\n",
								test, mode, threads, transport, dqps, sqps, pqps, div(sqps, dqps), div(pqps, dqps), div(pqps, sqps),
								dp / dn, sp / sn, pp / pn,
								per(pt, pq) * 1e6, per(pu, pq) * 1e6, per(pt - pu, pq) * 1e6,
								per(dst, dq) * 1e6, per(pst, pq) * 1e6, bad == "" ? "none" : bad
						}'
				done
			done
		done
	done
}

if ((SOCAT)); then
	TABLE=$(socat_table)
else
	TABLE=$(table)
fi
echo
echo "$TABLE"
echo

if ((RECORD)); then
	sysbench_version=$("$SYSBENCH" --version)
	section="$WORK/section.md"
	if [[ "$BACKEND" == unix ]]; then
		backend_desc="a Unix socket (\`unix:/path/to/mariadbd.sock\`)"
	else
		backend_desc="TCP to 127.0.0.1"
	fi
	{
		echo "## $SECTION"
		echo
		recorded_line bench/sysbench.sh ${ORIGINAL_ARGS[@]+"${ORIGINAL_ARGS[@]}"}
		echo
		echo "- Machine: $(machine_line)"
		if ((SHARDED)); then
			echo "- MariaDB $MARIADB_VERSION (two servers, --no-defaults, innodb_buffer_pool_size ${BUFFER_POOL_MB}M each, max_connections 500); $sysbench_version"
			echo "- Direct: 1 table × $TABLE_SIZE rows in one server. myshard: the same rows in \`sbtest1\` sharded on \`id\` over $SHARDS shards (0-$((SHARDS / 2 - 1)) on g0 = the direct server, $((SHARDS / 2))-$((SHARDS - 1)) on g1 = the second server), created and loaded by \`sysbench prepare --auto_inc=off\` through myshard (the direct table was loaded the same way, directly). Every point select goes to one shard, chosen by the bound or literal \`id\`."
		elif ((TWO_SERVERS)); then
			echo "- MariaDB $MARIADB_VERSION (two servers, --no-defaults, innodb_buffer_pool_size ${BUFFER_POOL_MB}M each, max_connections 500); $sysbench_version"
			echo "- 1 table × $TABLE_SIZE rows in each server; myshard: unsharded schemas \`sbtest\` (g0) and \`sbtest_g1\` (g1). Each run is two sysbench processes with half the threads each, one per server (direct) or per schema (myshard); QPS is their sum, p95 their mean."
		else
			echo "- MariaDB $MARIADB_VERSION (one server, --no-defaults, innodb_buffer_pool_size ${BUFFER_POOL_MB}M, max_connections 500); $sysbench_version"
			echo "- 1 table × $TABLE_SIZE rows"
		fi
		((SOCAT)) && echo "- socat: \`socat TCP-LISTEN:…,fork,nodelay TCP:127.0.0.1:…,nodelay\` (and UNIX-LISTEN to the server's socket) in front of the direct server: a process per connection copying bytes, the cost of an extra hop with no protocol work; its CPU is not measured."
		echo "- Each run ${TIME} s after a ${WARMUP} s warm-up; $ROUNDS rounds per case, alternating $(sed 's/proxy/myshard/; s/ /, /g' <<<"$TARGETS"); myshard pool max 64 per server; myshard reaches MariaDB over $backend_desc; myshard worker threads: ${PROXY_WORKERS:-one per CPU (default)}."
		echo "- transport: how sysbench connects, to MariaDB directly and to myshard alike: tcp = TCP to 127.0.0.1 (TCP_NODELAY), socket = the server's Unix socket and myshard's \`listen_socket\`."
		echo "- Client (sysbench), myshard and MariaDB share the same CPUs. QPS counts every statement (oltp_read_only: 10 point selects, 4 range selects, BEGIN, COMMIT per transaction). p95 is the mean of the rounds' p95; CPU is user and system time from /proc/PID/stat divided by the queries of the runs (mariadbd: all servers)."
		echo "- ps-mode auto = server-side prepared statements (sysbench's default); disable = text protocol."
		echo "- Background CPU load from other processes (3 s samples with the benchmark idle): $LOAD_BEFORE before the runs, $LOAD_AFTER after."
		echo
		echo "$TABLE"
	} >"$section"
	record_section "$SECTION" "$section"
fi

if ((FAILED)); then
	echo "some runs had problems (see the problems column)" >&2
	exit 1
fi
