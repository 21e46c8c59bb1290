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
#   --proxy-workers N  myshard's worker threads (TOKIO_WORKER_THREADS; default: one per CPU)
#   --no-build         use the existing target/release/myshard
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
TESTS_SET=0
PROXY_WORKERS=""
BUILD=1
KEEP=0
RECORD=0
HOLD=0

die() {
	echo "sysbench.sh: $*" >&2
	exit 2
}

usage() {
	sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

positive_int() {
	if ! [[ "$2" =~ ^[0-9]+$ ]] || (($2 < $3)); then
		die "$1 needs an integer >= $3, got '$2'"
	fi
}

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
	--proxy-workers) positive_int "$1" "${2-}" 1 && PROXY_WORKERS=$2 && shift ;;
	--no-build) BUILD=0 ;;
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
SHARDS=16
SECTION="sysbench (foundation)"
((SHARDED)) && SECTION="sysbench (sharding)"

find_bin() {
	local name=$1 dir
	if command -v "$name" >/dev/null 2>&1; then
		command -v "$name"
		return
	fi
	for dir in /usr/sbin /usr/local/sbin /usr/bin /usr/local/bin; do
		[[ -x "$dir/$name" ]] && echo "$dir/$name" && return
	done
	die "$name not found; install it with: apt-get install mariadb-server mariadb-client sysbench"
}

MARIADBD=$(find_bin mariadbd)
INSTALL_DB=$(find_bin mariadb-install-db)
CLIENT=$(find_bin mariadb)
SYSBENCH=$(find_bin sysbench)
CLK_TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------------------------------------
# Work directory and cleanup

mkdir -p "$repo/tmp"
WORK=$(mktemp -d "$repo/tmp/bench-sysbench.XXXXXX")
MARIADB_PIDS=()
PROXY_PID=""

stop_pid() {
	local pid=$1 i
	[[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local status=$?
	trap - EXIT INT TERM
	stop_pid "$PROXY_PID"
	local pid
	for pid in "${MARIADB_PIDS[@]}"; do stop_pid "$pid"; done
	if ((KEEP)); then
		echo "work directory kept: $WORK" >&2
	else
		rm -rf "$WORK"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A port of 127.0.0.1 nobody listens on, below the kernel's ephemeral range, never handed
# out twice: sets FREE_PORT (not in a subshell, so USED_PORTS persists).
free_port() {
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + RANDOM % 12000))
		if ! port_open "$p" && [[ " ${USED_PORTS-} " != *" $p "* ]]; then
			USED_PORTS="${USED_PORTS-} $p"
			FREE_PORT=$p
			return
		fi
	done
	die "no free port found"
}

# ---------------------------------------------------------------------------------------------
# Build

if ((BUILD)); then
	echo "building myshard (release)…" >&2
	(cd "$repo" && cargo build --release --bin myshard) >&2
fi
MYSHARD="$repo/target/release/myshard"
[[ -x "$MYSHARD" ]] || die "$MYSHARD not found (run without --no-build)"

# ---------------------------------------------------------------------------------------------
# MariaDB

DB_USER=sbtest
DB_PASSWORD=sbtest-secret
free_port
PROXY_PORT=$FREE_PORT
USER_ARGS=()
[[ "$(id -u)" -eq 0 ]] && USER_ARGS=(--user=root)

# The buffer pool holds the whole table with room to spare (a row is about 200 bytes).
BUFFER_POOL_MB=$((TABLE_SIZE * 400 / 1048576 + 128))

# start_mariadb N — starts server N (0, 1, …) in $WORK/dbN: sets DB_PORTS[N], DB_SOCKETS[N],
# MARIADB_PIDS[N] and creates the benchmark account.
DB_PORTS=()
DB_SOCKETS=()
start_mariadb() {
	local n=$1 dir="$WORK/db$1" port socket i
	free_port
	port=$FREE_PORT
	socket="$dir/mariadbd.sock"
	((${#socket} <= 100)) || socket="${TMPDIR:-/tmp}/myshard-bench-$$-$n.sock"
	echo "initialising MariaDB $n in $dir/data" >&2
	mkdir -p "$dir/mtmp"
	"$INSTALL_DB" --no-defaults "${USER_ARGS[@]}" --datadir="$dir/data" --skip-test-db \
		--auth-root-authentication-method=normal --skip-name-resolve >"$dir/install.log" 2>&1 ||
		{
			cat "$dir/install.log" >&2
			die "mariadb-install-db failed"
		}
	"$MARIADBD" --no-defaults "${USER_ARGS[@]}" \
		--datadir="$dir/data" --tmpdir="$dir/mtmp" --socket="$socket" \
		--pid-file="$dir/mariadbd.pid" --log-error="$dir/mariadbd.err" \
		--port="$port" --bind-address=127.0.0.1 --skip-name-resolve \
		--character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
		--innodb-buffer-pool-size="${BUFFER_POOL_MB}M" --innodb-log-file-size=256M \
		--innodb-flush-log-at-trx-commit=2 --max-connections=500 \
		--max-prepared-stmt-count=100000 --skip-log-bin \
		</dev/null >"$dir/mariadbd.out" 2>&1 &
	MARIADB_PIDS[n]=$!
	DB_PORTS[n]=$port
	DB_SOCKETS[n]=$socket
	for ((i = 0; i < 600; i++)); do
		sql_on "$n" -e 'SELECT 1' >/dev/null 2>&1 && break
		kill -0 "${MARIADB_PIDS[n]}" 2>/dev/null || {
			tail -n 30 "$dir/mariadbd.err" >&2
			die "mariadbd exited during startup"
		}
		sleep 0.1
	done
	sql_on "$n" -e 'SELECT 1' >/dev/null || die "mariadbd did not accept connections within 60 s"
	sql_on "$n" <<-SQL
		CREATE USER '$DB_USER'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('$DB_PASSWORD');
		CREATE USER '$DB_USER'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('$DB_PASSWORD');
		GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'%';
		GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'localhost';
	SQL
}

sql_on() {
	local n=$1
	shift
	"$CLIENT" --no-defaults --protocol=TCP -h 127.0.0.1 -P "${DB_PORTS[n]}" -u root --batch --skip-column-names "$@"
}
sql() { sql_on 0 "$@"; }

NSERVERS=1
((SHARDED)) && NSERVERS=2
for ((n = 0; n < NSERVERS; n++)); do start_mariadb "$n"; done
# Direct runs use server 0, which holds the whole table in database sbtest.
sql -e 'CREATE DATABASE sbtest'
DB_PORT=${DB_PORTS[0]}
DB_SOCKET=${DB_SOCKETS[0]}
MARIADB_VERSION=$(sql -e 'SELECT VERSION()')

# ---------------------------------------------------------------------------------------------
# myshard

PROXY_SOCKET="$WORK/myshard.sock"
((${#PROXY_SOCKET} <= 100)) || PROXY_SOCKET="${TMPDIR:-/tmp}/myshard-bench-$$.sock"
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
	echo "  - {name: $DB_USER, password: $DB_PASSWORD, schemas: [sbtest]}"
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
RUST_LOG=${RUST_LOG:-warn} "$MYSHARD" --config "$WORK/myshard.yaml" </dev/null >"$WORK/myshard.log" 2>&1 &
PROXY_PID=$!
for ((i = 0; i < 300; i++)); do
	port_open "$PROXY_PORT" && [[ -S "$PROXY_SOCKET" ]] && break
	kill -0 "$PROXY_PID" 2>/dev/null || {
		cat "$WORK/myshard.log" >&2
		die "myshard exited during startup"
	}
	sleep 0.1
done
port_open "$PROXY_PORT" && [[ -S "$PROXY_SOCKET" ]] || die "myshard did not listen within 30 s"

# ---------------------------------------------------------------------------------------------
# sysbench

# sb TARGET TRANSPORT TEST ARGS… — sysbench against direct MariaDB or myshard, over TCP or the
# Unix socket.
sb() {
	local target=$1 transport=$2 test=$3 conn
	shift 3
	case "$target/$transport" in
	direct/tcp) conn=(--mysql-host=127.0.0.1 --mysql-port="$DB_PORT") ;;
	proxy/tcp) conn=(--mysql-host=127.0.0.1 --mysql-port="$PROXY_PORT") ;;
	direct/socket) conn=(--mysql-socket="$DB_SOCKET") ;;
	proxy/socket) conn=(--mysql-socket="$PROXY_SOCKET") ;;
	esac
	"$SYSBENCH" "$test" --db-driver=mysql "${conn[@]}" \
		--mysql-user="$DB_USER" --mysql-password="$DB_PASSWORD" --mysql-db=sbtest \
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
	sb direct tcp oltp_point_select prepare >"$WORK/prepare.log" 2>&1 || {
		cat "$WORK/prepare.log" >&2
		die "sysbench prepare failed"
	}
	sql -e 'ANALYZE TABLE sbtest.sbtest1' >/dev/null
	rows=$(proxy_sql -e 'SELECT COUNT(*) FROM sbtest1') ||
		die "a query through myshard failed (log: $WORK/myshard.log)"
	[[ "$rows" == "$TABLE_SIZE" ]] || die "through myshard the table has $rows rows, not $TABLE_SIZE"
	WARM_TEST=oltp_read_only
fi
# Warm the buffer pools and every path once.
for transport in $TRANSPORTS; do
	sb direct "$transport" "$WARM_TEST" --threads=2 --time=5 run >/dev/null 2>&1 || true
	sb proxy "$transport" "$WARM_TEST" --threads=2 --time=5 run >/dev/null 2>&1 || true
done

if ((HOLD)); then
	echo "holding: mariadbd pids ${MARIADB_PIDS[*]} ports ${DB_PORTS[*]} sockets ${DB_SOCKETS[*]}," \
		"myshard pid $PROXY_PID port $PROXY_PORT socket $PROXY_SOCKET," \
		"user $DB_USER password $DB_PASSWORD database sbtest, work directory $WORK; Ctrl-C or TERM ends"
	while kill -0 "$PROXY_PID" 2>/dev/null; do sleep 1; done
	die "myshard exited (log: $WORK/myshard.log)"
fi

# Share of the machine's CPU time used while this benchmark is idle (other people's builds,
# tests and fuzzers skew every number; the record shows how busy the machine was).
background_load() {
	local b0 i0 b1 i1
	read -r b0 i0 < <(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
	sleep 3
	read -r b1 i1 < <(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
	awk -v b=$((b1 - b0)) -v i=$((i1 - i0)) 'BEGIN { printf "%.0f%%", ((b + i) > 0 ? 100 * b / (b + i) : 0) }'
}

# CPU ticks of a process: user and system (fields 14 and 15 after the command name).
cpu_ticks() {
	local stat
	stat=$(<"/proc/$1/stat") || {
		echo 0 0
		return
	}
	stat=${stat##*) }
	# shellcheck disable=SC2086
	set -- $stat
	echo "${12} ${13}"
}

# CPU ticks (user + system) of all MariaDB servers.
server_ticks() {
	local pid u y total=0
	for pid in "${MARIADB_PIDS[@]}"; do
		read -r u y < <(cpu_ticks "$pid")
		total=$((total + u + y))
	done
	echo "$total"
}

# field LOG REGEX — the first number after a label in sysbench's summary.
field() { sed -n "s/^ *$2: *\([0-9.]*\).*/\1/p" "$1" | head -1; }

# Accumulated per case and target: queries, seconds, sum of p95, proxy ticks (all and user),
# server ticks, rounds, problems.
declare -A Q S P95 PT PU ST N BAD
FAILED=0
RESULTS="$WORK/results.txt"
: >"$RESULTS"

run_one() {
	local test=$1 mode=$2 threads=$3 transport=$4 target=$5 round=$6 key="$1|$2|$3|$4|$5"
	local log="$WORK/run-$test-$mode-$threads-$transport-$target-$round.log"
	local args=(--threads="$threads" --db-ps-mode="$mode" --percentile=95 --histogram=off)
	if ((WARMUP > 0)); then
		sb "$target" "$transport" "$test" "${args[@]}" --time="$WARMUP" run >"$log.warmup" 2>&1 || true
	fi
	local pu0 py0 pu1 py1 p0 p1 s0 s1 status=0
	read -r pu0 py0 < <(cpu_ticks "$PROXY_PID")
	s0=$(server_ticks)
	sb "$target" "$transport" "$test" "${args[@]}" --time="$TIME" run >"$log" 2>&1 || status=$?
	read -r pu1 py1 < <(cpu_ticks "$PROXY_PID")
	s1=$(server_ticks)
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
}

LOAD_BEFORE=$(background_load)
echo "background CPU load before the runs: $LOAD_BEFORE of $(nproc) CPUs" >&2
ncases=0
for test in $TESTS; do for mode in $PS_MODES; do for threads in $THREADS; do for transport in $TRANSPORTS; do
	ncases=$((ncases + 1))
done; done; done; done
total=$((ncases * ROUNDS * 2 * (TIME + WARMUP)))
echo "running $ncases cases x $ROUNDS rounds x (direct, myshard), about $((total / 60 + 1)) minutes" >&2

for test in $TESTS; do
	for mode in $PS_MODES; do
		for threads in $THREADS; do
			for transport in $TRANSPORTS; do
				for ((round = 1; round <= ROUNDS; round++)); do
					run_one "$test" "$mode" "$threads" "$transport" direct "$round"
					run_one "$test" "$mode" "$threads" "$transport" proxy "$round"
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

TABLE=$(table)
echo
echo "$TABLE"
echo

if ((RECORD)); then
	cpu_model=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -1)
	ram_gib=$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
	sysbench_version=$("$SYSBENCH" --version)
	command="bench/sysbench.sh"
	for a in "${ORIGINAL_ARGS[@]}"; do command+=" $(printf '%q' "$a")"; done
	commit=$(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
	dirty=$(cd "$repo" && git status --porcelain -- proxy router config src 2>/dev/null | head -1)
	[[ -n "$dirty" ]] && commit+=" (plus uncommitted changes)"
	section="$WORK/section.md"
	if [[ "$BACKEND" == unix ]]; then
		backend_desc="a Unix socket (\`unix:/path/to/mariadbd.sock\`)"
	else
		backend_desc="TCP to 127.0.0.1"
	fi
	{
		echo "## $SECTION"
		echo
		echo "Recorded $(date -u '+%Y-%m-%d %H:%M UTC') by \`$command\` at commit $commit."
		echo
		echo "- Machine: $(nproc) CPUs ($cpu_model), ${ram_gib} GiB RAM, Linux $(uname -r)"
		if ((SHARDED)); then
			echo "- MariaDB $MARIADB_VERSION (two servers, --no-defaults, innodb_buffer_pool_size ${BUFFER_POOL_MB}M each, max_connections 500); $sysbench_version"
			echo "- Direct: 1 table × $TABLE_SIZE rows in one server. myshard: the same rows in \`sbtest1\` sharded on \`id\` over $SHARDS shards (0-$((SHARDS / 2 - 1)) on g0 = the direct server, $((SHARDS / 2))-$((SHARDS - 1)) on g1 = the second server), created and loaded by \`sysbench prepare --auto_inc=off\` through myshard (the direct table was loaded the same way, directly). Every point select goes to one shard, chosen by the bound or literal \`id\`."
		else
			echo "- MariaDB $MARIADB_VERSION (one server, --no-defaults, innodb_buffer_pool_size ${BUFFER_POOL_MB}M, max_connections 500); $sysbench_version"
			echo "- 1 table × $TABLE_SIZE rows"
		fi
		echo "- Each run ${TIME} s after a ${WARMUP} s warm-up; $ROUNDS rounds per case, alternating direct and myshard; myshard pool max 64 per server; myshard reaches MariaDB over $backend_desc; myshard worker threads: ${PROXY_WORKERS:-one per CPU (default)}."
		echo "- transport: how sysbench connects, to MariaDB directly and to myshard alike: tcp = TCP to 127.0.0.1 (TCP_NODELAY), socket = the server's Unix socket and myshard's \`listen_socket\`."
		echo "- Client (sysbench), myshard and MariaDB share the same CPUs. QPS counts every statement (oltp_read_only: 10 point selects, 4 range selects, BEGIN, COMMIT per transaction). p95 is the mean of the rounds' p95; CPU is user and system time from /proc/PID/stat divided by the queries of the runs (mariadbd: all servers)."
		echo "- ps-mode auto = server-side prepared statements (sysbench's default); disable = text protocol."
		echo "- Background CPU load from other processes (3 s samples with the benchmark idle): $LOAD_BEFORE before the runs, $LOAD_AFTER after."
		echo
		echo "$TABLE"
	} >"$section"
	mkdir -p "$repo/docs"
	doc="$repo/docs/BENCHMARKS.md"
	# Replace our section (from its heading to the next level-1 or level-2 heading) or append
	# it; other sections are left as they are. Written to a temporary file and renamed, so a
	# reader never sees half a file.
	tmp_doc="$doc.tmp.$$"
	if [[ -f "$doc" ]]; then
		awk -v section="$section" -v heading="## $SECTION" '
			function emit() { while ((getline line < section) > 0) print line; close(section) }
			{ line = $0; sub(/[[:space:]]+$/, "", line) }
			line == heading { if (!done) { emit(); done = 1 }; skip = 1; next }
			skip && /^#{1,2} / { skip = 0; print "" }
			!skip { print }
			END { if (!done) { print ""; emit() } }
		' "$doc" >"$tmp_doc"
	else
		{
			echo "# Benchmarks"
			echo
			cat "$section"
		} >"$tmp_doc"
	fi
	mv "$tmp_doc" "$doc"
	echo "recorded in docs/BENCHMARKS.md (section \"$SECTION\")" >&2
fi

if ((FAILED)); then
	echo "some runs had problems (see the problems column)" >&2
	exit 1
fi
