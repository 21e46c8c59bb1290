#!/usr/bin/env bash
# Cross-shard merges: a scatter ORDER BY + LIMIT and a GROUP BY aggregate through myshard at
# several shard counts against MariaDB directly, and (--big) the memory of a 10-million-row
# scatter ORDER BY streamed through myshard.
#
#   bench/merge.sh [options]
#
#   --rows N           rows of `orders` in every sharded schema and in the direct database
#                      (default 1000000)
#   --shards "LIST"    shard counts, one logical schema each (default "4 16 64"; even numbers:
#                      half the shards on each server)
#   --time SECS        measured duration of each run (default 10)
#   --warmup SECS      unmeasured run before each measured run, same target and settings
#                      (default 2; 0 disables)
#   --rounds N         rounds per case; each round runs direct, then every shard count, so drift
#                      of the machine affects all of them (default 2)
#   --threads "LIST"   sysbench thread counts (default "1 8")
#   --queries "LIST"   order = the scatter ORDER BY + LIMIT, group = the GROUP BY aggregate
#                      (default "order group"; "" runs none, e.g. with --big)
#   --ps-modes "LIST"  --db-ps-mode values: auto = server-side prepared statements (binary
#                      protocol), disable = text protocol (default "auto disable")
#   --window SECS      the ORDER BY bound is drawn from the newest SECS seconds of `created`;
#                      every row has a second of its own, so on average SECS/2 rows match
#                      (default 2000)
#   --big              also part 3: reload the 16-shard schema with --big-rows rows (straight
#                      into each shard's physical database) and stream
#                      `SELECT * FROM orders ORDER BY created, id` and `SELECT * FROM orders`
#                      through myshard with the mariadb client, sampling myshard's RSS
#   --big-rows N       rows for --big (default 10000000); implies --big
#   --proxy-workers N  myshard's worker threads (TOKIO_WORKER_THREADS; default: one per CPU)
#   --no-build         use the existing target/release/myshard
#   --keep             keep the work directory (data, configuration, logs, raw sysbench output)
#   --record           also write the results to docs/BENCHMARKS.md, section
#                      "Cross-shard merges" (replaced in place if present, appended otherwise)
#
# What it does: builds myshard in release mode, starts two private MariaDB servers (groups g0
# and g1: mariadb-install-db into fresh directories under tmp/ of the repository, free ports,
# Unix sockets, --no-defaults) and myshard with a generated configuration: one user, the two
# groups reached over the servers' Unix sockets (pool max 64 each), and one sharded logical
# schema per shard count, s4, s16, s64 (shards 0 … N/2-1 on g0, N/2 … N-1 on g1, physical
# databases s4_0000 …). `myshard init` creates the physical databases; the table
#
#   orders(id BIGINT PRIMARY KEY, customer_id BIGINT, status VARCHAR(16),
#          amount DECIMAL(12,2), created DATETIME, KEY(created))
#
# sharded on `id` is created through myshard (DDL broadcast) in every schema and loaded with
# the same --rows rows by multi-row INSERTs of 1,000 rows through myshard, which splits them
# per shard. The direct baseline is the same table and rows in database `direct` on g0's
# server (generated there from the Sequence engine; the INSERTs for myshard are a dump of it).
# Every shard's row count and placement (id mod N) is checked.
#
# Then for every case (query × ps-mode × threads) and round it runs bench/merge.lua with
# sysbench against direct MariaDB and each sharded schema through myshard, in turn, all over
# Unix sockets. Before the first run of a query in a ps-mode, bench/merge_rows.pl fetches its
# answer directly and through myshard at every shard count (the ORDER BY at four bounds) and a
# difference aborts the script. Per case it reports QPS, mean and 95th percentile latency,
# QPS relative to direct, and the CPU time (user + system, /proc/PID/stat) of myshard and of
# the MariaDB servers per query. Rounds are pooled: QPS = all queries / all time, mean
# latency weighted by queries, p95 = mean of the rounds' p95, CPU = all CPU / all queries.
#
# With --big: the 16-shard schema's answer to both streamed statements is first compared
# with the direct one at --rows rows; then its shards are truncated and loaded with
# --big-rows rows by INSERT … SELECT from the Sequence engine in each physical database (ids
# with id mod 16 = s into shard s, as myshard places integer keys: |key| mod shards), both
# servers at once, and the counts are checked per shard and through myshard. A fresh myshard
# process then serves each statement to `mariadb --quick` (row by row, the client buffers
# nothing; its output is only counted) while myshard's VmRSS is sampled every 50 ms: RSS
# before, peak and after, elapsed time and rows per second.
#
# A run with sysbench errors, reconnects or a non-zero exit status is flagged in the table and
# makes the script exit with status 1 (after printing everything). Client, proxy and servers
# share the machine's CPUs.
#
# Needs: cargo, mariadb-server, mariadb-client, sysbench 1.0, perl with DBD::MariaDB
# (Debian: apt-get install mariadb-server mariadb-client sysbench libdbd-mariadb-perl).

set -euo pipefail

ORIGINAL_ARGS=("$@")
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/.." && pwd)
BENCH=merge.sh
# shellcheck source=bench/lib.sh disable=SC2034 # several globals are read by lib.sh
source "$script_dir/lib.sh"

ROWS=1000000
SHARDS="4 16 64"
TIME=10
WARMUP=2
ROUNDS=2
THREADS="1 8"
QUERIES="order group"
PS_MODES="auto disable"
WINDOW=2000
BIG=0
BIG_ROWS=10000000
PROXY_WORKERS=""
BUILD=1
KEEP=0
RECORD=0

while (($#)); do
	case "$1" in
	--rows) positive_int "$1" "${2-}" 100 && ROWS=$2 && shift ;;
	--shards) [[ -n "${2-}" ]] || die "--shards needs a list" && SHARDS=$2 && shift ;;
	--time) positive_int "$1" "${2-}" 1 && TIME=$2 && shift ;;
	--warmup) positive_int "$1" "${2-}" 0 && WARMUP=$2 && shift ;;
	--rounds) positive_int "$1" "${2-}" 1 && ROUNDS=$2 && shift ;;
	--threads) [[ -n "${2-}" ]] || die "--threads needs a list" && THREADS=$2 && shift ;;
	--queries) [[ $# -ge 2 ]] || die "--queries needs a list" && QUERIES=$2 && shift ;;
	--ps-modes) [[ -n "${2-}" ]] || die "--ps-modes needs a list" && PS_MODES=$2 && shift ;;
	--window) positive_int "$1" "${2-}" 1 && WINDOW=$2 && shift ;;
	--big) BIG=1 ;;
	--big-rows) positive_int "$1" "${2-}" 16 && BIG_ROWS=$2 && BIG=1 && shift ;;
	--proxy-workers) positive_int "$1" "${2-}" 1 && PROXY_WORKERS=$2 && shift ;;
	--no-build) BUILD=0 ;;
	--keep) KEEP=1 ;;
	--record) RECORD=1 ;;
	-h | --help) usage ;;
	*) die "unknown option '$1' (see --help)" ;;
	esac
	shift
done
for n in $SHARDS; do
	positive_int "--shards" "$n" 2
	((n % 2 == 0)) || die "--shards: $n is odd (half of the shards go on each server)"
done
for t in $THREADS; do positive_int "--threads" "$t" 1; done
for q in $QUERIES; do
	[[ "$q" == order || "$q" == group ]] || die "--queries: '$q' is not order or group"
done
for m in $PS_MODES; do
	[[ "$m" == auto || "$m" == disable ]] || die "--ps-modes: '$m' is not auto or disable"
done
((WINDOW < ROWS)) || die "--window must be below --rows"
# The big part uses the 16-shard schema; it exists whatever --shards says.
SCHEMAS=$SHARDS
((BIG)) && [[ " $SHARDS " != *" 16 "* ]] && SCHEMAS="$SHARDS 16"
SECTION="Cross-shard merges"

MARIADBD=$(find_bin mariadbd)
INSTALL_DB=$(find_bin mariadb-install-db)
CLIENT=$(find_bin mariadb)
SYSBENCH=$(find_bin sysbench)
perl -MDBD::MariaDB -e 1 2>/dev/null ||
	die "perl's DBD::MariaDB is missing; install it with: apt-get install libdbd-mariadb-perl"
CLK_TCK=$(getconf CLK_TCK)
ROWS_PL="$script_dir/merge_rows.pl"
LUA="$script_dir/merge.lua"

# ---------------------------------------------------------------------------------------------
# Work directory and cleanup

mkdir -p "$repo/tmp"
WORK=$(mktemp -d "$repo/tmp/bench-merge.XXXXXX")
MARIADB_PIDS=()
SAMPLER_PIDS=()
PROXY_PID=""
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# Build

build_myshard

# ---------------------------------------------------------------------------------------------
# MariaDB

DB_USER=bench
DB_PASSWORD=bench-secret
DB_PORTS=()
DB_SOCKETS=()
free_port
PROXY_PORT=$FREE_PORT
nschemas=$(wc -w <<<"$SCHEMAS")
# Each server holds half of every schema, server 0 also the direct table, and with --big half
# of the big table: the buffer pool holds all of it (a row and its index entries take about
# 100 bytes; 150 leaves room).
rows_per_server=$((ROWS * (nschemas + 2) / 2 + BIG * BIG_ROWS / 2))
BUFFER_POOL_MB=$((rows_per_server * 150 / 1048576 + 256))
MARIADB_EXTRA_ARGS=(--max-allowed-packet=64M)
start_mariadb 0
start_mariadb 1
MARIADB_VERSION=$(sql_on 0 -e 'SELECT VERSION()')
BASE_EPOCH=1704067200 # 2024-01-01 00:00:00 UTC, the oldest `created`

ORDERS_DDL="CREATE TABLE orders (
	id BIGINT NOT NULL PRIMARY KEY,
	customer_id BIGINT NOT NULL,
	status VARCHAR(16) NOT NULL,
	amount DECIMAL(12,2) NOT NULL,
	created DATETIME NOT NULL,
	KEY (created)
) ENGINE=InnoDB"

# orders_rows SPAN FROM — the SELECT producing the rows for ids `seq` of the Sequence table
# FROM: `created` is a permutation of SPAN seconds (one row per second when SPAN is the row
# count), five statuses, amounts 0.00 … 999.99.
orders_rows() {
	echo "SELECT seq, seq * 7 % 100003 + 1,
		ELT(1 + seq % 5, 'new', 'paid', 'shipped', 'delivered', 'cancelled'),
		seq * 7919 % 100000 / 100,
		TIMESTAMP'2024-01-01 00:00:00' + INTERVAL (seq * 104729 % $1) SECOND
		FROM $2"
}

echo "loading $ROWS rows into the direct database" >&2
t0=$(now)
sql_on 0 <<-SQL
	CREATE DATABASE direct;
	USE direct;
	$ORDERS_DDL;
	INSERT INTO orders $(orders_rows "$ROWS" "seq_1_to_$ROWS");
	ANALYZE TABLE orders;
SQL
echo "  direct: $(secs_since "$t0") s" >&2

# ---------------------------------------------------------------------------------------------
# myshard

PROXY_SOCKET=$(short_socket "$WORK/myshard.sock" proxy)
schema_list=""
for n in $SCHEMAS; do schema_list+="${schema_list:+, }s$n"; done
{
	echo "# Generated by bench/merge.sh."
	echo "listen: 127.0.0.1:$PROXY_PORT"
	echo "listen_socket: $PROXY_SOCKET"
	echo "users:"
	echo "  - {name: $DB_USER, password: $DB_PASSWORD, schemas: [$schema_list]}"
	echo "groups:"
	for s in 0 1; do
		echo "  - {name: g$s, user: $DB_USER, password: $DB_PASSWORD, write_hosts: ['unix:${DB_SOCKETS[s]}'], pool: {max: 64}}"
	done
	echo "schemas:"
	for n in $SCHEMAS; do
		echo "  - name: s$n"
		echo "    shards: $n"
		echo "    database: 's${n}_{shard:04}'"
		echo "    placement: [{group: g0, shards: '0-$((n / 2 - 1))'}, {group: g1, shards: '$((n / 2))-$((n - 1))'}]"
		echo "    tables: [{name: orders, shard_key: id}]"
	done
} >"$WORK/myshard.yaml"
"$MYSHARD" check --config "$WORK/myshard.yaml" >/dev/null || die "generated configuration is invalid"
"$MYSHARD" init --config "$WORK/myshard.yaml" >"$WORK/init.log" 2>&1 || {
	cat "$WORK/init.log" >&2
	die "myshard init failed"
}
if [[ -n "$PROXY_WORKERS" ]]; then
	export TOKIO_WORKER_THREADS=$PROXY_WORKERS
else
	unset TOKIO_WORKER_THREADS
fi
start_myshard "$WORK/myshard.yaml" "$WORK/myshard.log"

# proxy_sql SCHEMA ARGS… — the mariadb client through myshard's Unix socket.
proxy_sql() {
	local schema=$1
	shift
	"$CLIENT" --no-defaults -S "$PROXY_SOCKET" -u "$DB_USER" -p"$DB_PASSWORD" \
		--batch --skip-column-names "$schema" "$@"
}

# shard_db N S — the physical database of shard S of the N-shard schema; shard_server N S —
# the server holding it.
shard_db() { printf 's%d_%04d' "$1" "$2"; }
shard_server() { echo $(($2 < $1 / 2 ? 0 : 1)); }

# check_shards N TOTAL — every shard of the N-shard schema holds only its own ids
# (id mod N = shard) and together they hold TOTAL rows; refreshes each shard's statistics.
check_shards() {
	local n=$1 total=$2 s db srv c bad sum=0
	for ((s = 0; s < n; s++)); do
		db=$(shard_db "$n" "$s")
		srv=$(shard_server "$n" "$s")
		read -r c bad < <(sql_on "$srv" -e "SELECT COUNT(*), COALESCE(SUM(id % $n <> $s), 0) FROM $db.orders") ||
			die "shard $s of s$n ($db on server $srv) has no table"
		((bad == 0)) || die "shard $s of s$n ($db) holds $bad rows whose id mod $n is not $s"
		sql_on "$srv" -e "ANALYZE TABLE $db.orders" >/dev/null
		sum=$((sum + c))
	done
	((sum == total)) || die "the $n shards of s$n hold $sum rows, not $total"
}

# The INSERTs for myshard: the direct rows, 1,000 per statement.
sql_on 0 direct -e 'SELECT id, customer_id, status, amount, created FROM orders ORDER BY id' |
	awk -F'\t' -v q="'" '
		{
			row = "(" $1 "," $2 "," q $3 q "," $4 "," q $5 q ")"
			buf = n ? buf "," row : "INSERT INTO orders (id, customer_id, status, amount, created) VALUES " row
			if (++n == 1000) { print buf ";"; n = 0 }
		}
		END { if (n) print buf ";" }
	' >"$WORK/orders.sql"

declare -A LOAD_SECS LOAD_CPU
for n in $SCHEMAS; do
	echo "loading $ROWS rows into s$n through myshard ($n shards)" >&2
	proxy_sql "s$n" -e "$ORDERS_DDL" || die "CREATE TABLE through myshard failed (s$n; log: $WORK/myshard.log)"
	t0=$(now)
	read -r u0 y0 < <(cpu_ticks "$PROXY_PID")
	proxy_sql "s$n" <"$WORK/orders.sql" || die "loading s$n through myshard failed (log: $WORK/myshard.log)"
	LOAD_SECS[$n]=$(secs_since "$t0")
	read -r u1 y1 < <(cpu_ticks "$PROXY_PID")
	LOAD_CPU[$n]=$((u1 + y1 - u0 - y0))
	check_shards "$n" "$ROWS"
	echo "  s$n: ${LOAD_SECS[$n]} s" >&2
done
rm -f "$WORK/orders.sql"

# ---------------------------------------------------------------------------------------------
# Answer checks

ORDER_SQL="SELECT id, customer_id, amount FROM orders WHERE created >= ? ORDER BY created DESC, id LIMIT 10"
GROUP_SQL="SELECT status, COUNT(*), SUM(amount), AVG(amount) FROM orders GROUP BY status"
NEWEST=$((BASE_EPOCH + ROWS - 1))
NOTES=()

# rows_of TARGET MODE SQL [PARAMETER] — the answer of direct MariaDB (TARGET direct) or of
# the N-shard schema through myshard (TARGET N), one row per line.
rows_of() {
	local target=$1 mode=$2
	shift 2
	if [[ "$target" == direct ]]; then
		perl "$ROWS_PL" "${DB_SOCKETS[0]}" "$DB_USER" "$DB_PASSWORD" direct "$mode" "$@"
	else
		perl "$ROWS_PL" "$PROXY_SOCKET" "$DB_USER" "$DB_PASSWORD" "s$target" "$mode" "$@"
	fi
}

# compare LABEL MODE ORDERED SQL [PARAMETER] — the same rows directly and through myshard at
# every shard count, in the same order if ORDERED is 1; anything else aborts.
compare() {
	local label=$1 mode=$2 ordered=$3 n base
	shift 3
	base="$WORK/check-$label-$mode"
	rows_of direct "$mode" "$@" >"$base.direct" 2>"$base.direct.err" ||
		die "$label ($mode) failed directly: $(cat "$base.direct.err")"
	for n in $SHARDS; do
		if ! rows_of "$n" "$mode" "$@" >"$base.s$n" 2>"$base.s$n.err"; then
			KEEP=1
			die "$label ($mode, $n shards) failed through myshard: $(cat "$base.s$n.err") — statement: $* (log: $WORK/myshard.log)"
		fi
		if ! cmp -s "$base.direct" "$base.s$n"; then
			if ((!ordered)) && cmp -s <(sort "$base.direct") <(sort "$base.s$n"); then
				NOTES+=("$label ($mode, $n shards): the same rows as MariaDB, in another order")
				continue
			fi
			KEEP=1
			echo "direct (<) versus myshard, $n shards (>):" >&2
			diff "$base.direct" "$base.s$n" | head -n 20 >&2 || true
			die "$label ($mode, $n shards): myshard's rows differ from MariaDB's — statement: $*"
		fi
	done
}

# check_answers QUERY MODE — compares QUERY's answers in MODE (the ORDER BY at four bounds:
# no row, fewer rows than the LIMIT, about half and all of the window).
check_answers() {
	local query=$1 mode=$2 back bound
	if [[ "$query" == group ]]; then
		compare group "$mode" 0 "$GROUP_SQL"
		[[ -s "$WORK/check-group-$mode.direct" ]] || die "the GROUP BY returned no rows directly"
		return
	fi
	for back in -1 4 $((WINDOW / 2)) "$WINDOW"; do
		bound=$(date -u -d "@$((NEWEST - back))" '+%Y-%m-%d %H:%M:%S')
		compare "order-$back" "$mode" 1 "$ORDER_SQL" "$bound"
	done
	[[ $(wc -l <"$WORK/check-order-$WINDOW-$mode.direct") == 10 ]] ||
		die "the ORDER BY at the oldest bound returned fewer than 10 rows directly"
}

# ---------------------------------------------------------------------------------------------
# sysbench

# sb TARGET ARGS… — bench/merge.lua against direct MariaDB (TARGET direct) or the N-shard
# schema through myshard (TARGET N), over Unix sockets.
sb() {
	local target=$1 conn
	shift
	if [[ "$target" == direct ]]; then
		conn=(--mysql-socket="${DB_SOCKETS[0]}" --mysql-db=direct)
	else
		conn=(--mysql-socket="$PROXY_SOCKET" --mysql-db="s$target")
	fi
	"$SYSBENCH" "$LUA" --db-driver=mysql "${conn[@]}" \
		--mysql-user="$DB_USER" --mysql-password="$DB_PASSWORD" \
		--span="$ROWS" --window="$WINDOW" --base="$BASE_EPOCH" \
		--report-interval=0 --histogram=off --percentile=95 "$@"
}

# Accumulated per case and target: queries, seconds, sum of mean latency × queries, sum of
# p95, proxy ticks (all and user), server ticks, rounds, problems.
declare -A Q S LAT P95 PT PU ST N BAD
FAILED=0

run_one() {
	local query=$1 mode=$2 threads=$3 target=$4 round=$5 key="$1|$2|$3|$4"
	local log="$WORK/run-$query-$mode-$threads-$target-$round.log"
	local args=(--query="$query" --db-ps-mode="$mode" --threads="$threads")
	if ((WARMUP > 0)); then
		sb "$target" "${args[@]}" --time="$WARMUP" run >"$log.warmup" 2>&1 || true
	fi
	local pu0 py0 pu1 py1 s0 s1 status=0
	read -r pu0 py0 < <(cpu_ticks "$PROXY_PID")
	s0=$(server_ticks)
	sb "$target" "${args[@]}" --time="$TIME" run >"$log" 2>&1 || status=$?
	read -r pu1 py1 < <(cpu_ticks "$PROXY_PID")
	s1=$(server_ticks)
	local queries secs avg p95 errors reconnects problem="" pt=$((pu1 + py1 - pu0 - py0))
	queries=$(field "$log" queries)
	secs=$(sed -n 's/^ *total time: *\([0-9.]*\)s.*/\1/p' "$log" | head -1)
	avg=$(field "$log" avg)
	p95=$(field "$log" "95th percentile")
	errors=$(field "$log" "ignored errors")
	reconnects=$(field "$log" reconnects)
	((status == 0)) || problem+="exit status $status; "
	# sysbench's first error, without the statement and with paths relative to the work
	# directory.
	grep -qE 'FATAL|ALERT' "$log" &&
		problem+="$(grep -m1 -E 'FATAL|ALERT' "$log" | sed "s| for query '.*||; s|$WORK/||g" | cut -c1-200); "
	[[ -n "$queries" && -n "$secs" && -n "$p95" ]] || problem+="no summary; "
	[[ "${errors:-0}" == 0 ]] || problem+="$errors errors; "
	[[ "${reconnects:-0}" == 0 ]] || problem+="$reconnects reconnects; "
	kill -0 "$PROXY_PID" 2>/dev/null || problem+="myshard died; "
	if [[ -n "$problem" ]]; then
		BAD[$key]="${BAD[$key]-}round $round: $problem"
		FAILED=1
		KEEP=1
		echo "  $key round $round: PROBLEM: $problem (log kept in $log)" >&2
	fi
	# A run that ended without a summary adds nothing but its problem.
	if [[ -z "$queries" || -z "$secs" || -z "$p95" ]]; then
		printf '  %-5s %-7s %2s threads %-6s round %s: no result\n' "$query" "$mode" "$threads" "$target" "$round" >&2
		return
	fi
	Q[$key]=$((${Q[$key]-0} + queries))
	S[$key]=$(awk -v a="${S[$key]-0}" -v b="$secs" 'BEGIN { print a + b }')
	LAT[$key]=$(awk -v a="${LAT[$key]-0}" -v b="${avg:-0}" -v q="$queries" 'BEGIN { print a + b * q }')
	P95[$key]=$(awk -v a="${P95[$key]-0}" -v b="$p95" 'BEGIN { print a + b }')
	PT[$key]=$((${PT[$key]-0} + pt))
	PU[$key]=$((${PU[$key]-0} + pu1 - pu0))
	ST[$key]=$((${ST[$key]-0} + s1 - s0))
	N[$key]=$((${N[$key]-0} + 1))
	printf '  %-5s %-7s %2s threads %-6s round %s: %7s queries in %6ss  mean %8s ms  p95 %8s ms  myshard cpu %6s s  mariadbd cpu %6s s\n' \
		"$query" "$mode" "$threads" "$target" "$round" "$queries" "$secs" "${avg:-?}" "$p95" \
		"$(awk -v t="$pt" -v h="$CLK_TCK" 'BEGIN { printf "%.2f", t / h }')" \
		"$(awk -v t=$((s1 - s0)) -v h="$CLK_TCK" 'BEGIN { printf "%.2f", t / h }')" >&2
}

TARGETS="direct $SHARDS"
LOAD_BEFORE=$(background_load)
echo "background CPU load before the runs: $LOAD_BEFORE of $(nproc) CPUs" >&2
ncases=0
for query in $QUERIES; do for mode in $PS_MODES; do for threads in $THREADS; do
	ncases=$((ncases + 1))
done; done; done
ntargets=$(wc -w <<<"$TARGETS")
total=$((ncases * ROUNDS * ntargets * (TIME + WARMUP)))
echo "running $ncases cases x $ROUNDS rounds x $ntargets targets, about $((total / 60 + 1)) minutes" >&2

CHECKED=""
for query in $QUERIES; do
	for mode in $PS_MODES; do
		echo "checking the answers of '$query' ($mode) directly and through myshard" >&2
		check_answers "$query" "$mode"
		CHECKED+="${CHECKED:+, }$query/$mode"
		for threads in $THREADS; do
			for ((round = 1; round <= ROUNDS; round++)); do
				for target in $TARGETS; do
					run_one "$query" "$mode" "$threads" "$target" "$round"
				done
			done
		done
	done
done
if [[ -n "$QUERIES" ]]; then
	LOAD_AFTER=$(background_load)
	echo "background CPU load after the runs: $LOAD_AFTER of $(nproc) CPUs" >&2
	HWM_RUNS=$(hwm_kib "$PROXY_PID")
fi

# ---------------------------------------------------------------------------------------------
# Part 3: a big scatter ORDER BY

BIG_ORDER_SQL="SELECT * FROM orders ORDER BY created, id"
BIG_CONCAT_SQL="SELECT * FROM orders"
declare -A BIG_RESULT

# stream NAME SQL — SQL through myshard to `mariadb --quick`, myshard's VmRSS sampled every
# 50 ms: sets BIG_RESULT[NAME] to "rows secs base_kib peak_kib after_kib cpu_ticks".
stream() {
	local name=$1 sql=$2 samples="$WORK/rss-$1.txt" base peak after rows secs t0 u0 y0 u1 y1 sampler
	base=$(rss_kib "$PROXY_PID")
	read -r u0 y0 < <(cpu_ticks "$PROXY_PID")
	: >"$samples"
	sample_rss "$PROXY_PID" "$samples" &
	sampler=$!
	SAMPLER_PIDS+=("$sampler")
	t0=$(now)
	rows=$(proxy_sql s16 --quick -e "$sql" | wc -l) || die "'$sql' failed through myshard (log: $WORK/myshard.log)"
	secs=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
	kill "$sampler" 2>/dev/null || true
	wait "$sampler" 2>/dev/null || true
	read -r u1 y1 < <(cpu_ticks "$PROXY_PID")
	after=$(rss_kib "$PROXY_PID")
	peak=$(max_of "$samples")
	((peak >= base)) || peak=$base
	((rows == BIG_ROWS)) || die "'$sql' through myshard returned $rows rows, not $BIG_ROWS"
	BIG_RESULT[$name]="$rows $secs $base $peak $after $((u1 + y1 - u0 - y0))"
	echo "  $name: $rows rows in $secs s; myshard RSS before $(mib "$base") MiB, peak $(mib "$peak") MiB, after $(mib "$after") MiB" >&2
}

if ((BIG)); then
	# The statements' answers at --rows rows first, while s16 still matches the direct table
	# (text protocol, as the mariadb client sends them; compared by checksum).
	echo "checking the big statements at $ROWS rows (16 shards against direct)" >&2
	d=$(sql_on 0 direct --quick -e "$BIG_ORDER_SQL" | md5sum)
	p=$(proxy_sql s16 --quick -e "$BIG_ORDER_SQL" | md5sum) || die "'$BIG_ORDER_SQL' failed through myshard"
	[[ "$d" == "$p" ]] || die "'$BIG_ORDER_SQL' through myshard (16 shards) differs from MariaDB's answer"
	d=$(sql_on 0 direct --quick -e "$BIG_CONCAT_SQL" | sort | md5sum)
	p=$(proxy_sql s16 --quick -e "$BIG_CONCAT_SQL" | sort | md5sum) || die "'$BIG_CONCAT_SQL' failed through myshard"
	[[ "$d" == "$p" ]] || die "'$BIG_CONCAT_SQL' through myshard (16 shards) returns other rows than MariaDB"

	echo "loading $BIG_ROWS rows into the 16 shards of s16 (INSERT … SELECT in each shard)" >&2
	t0=$(now)
	load_pids=()
	for srv in 0 1; do
		{
			for ((s = srv * 8; s < srv * 8 + 8; s++)); do
				db=$(shard_db 16 "$s")
				first=$((s == 0 ? 16 : s))
				# The Sequence engine's seq_… tables exist in the current database.
				echo "USE $db; TRUNCATE TABLE orders;"
				((first > BIG_ROWS)) ||
					echo "INSERT INTO orders $(orders_rows "$BIG_ROWS" "seq_${first}_to_${BIG_ROWS}_step_16");"
			done
		} | sql_on "$srv" >"$WORK/big-load-$srv.log" 2>&1 &
		load_pids+=($!)
	done
	for srv in 0 1; do
		wait "${load_pids[srv]}" || {
			cat "$WORK/big-load-$srv.log" >&2
			die "loading the big table on server $srv failed"
		}
	done
	BIG_LOAD_SECS=$(secs_since "$t0")
	for ((s = 0; s < 16; s++)); do
		first=$((s == 0 ? 16 : s))
		want=$((first > BIG_ROWS ? 0 : (BIG_ROWS - first) / 16 + 1))
		got=$(sql_on "$(shard_server 16 "$s")" -e "SELECT COUNT(*) FROM $(shard_db 16 "$s").orders")
		((got == want)) || die "shard $s of s16 holds $got rows, not $want"
	done
	check_shards 16 "$BIG_ROWS"
	echo "  $BIG_ROWS rows in $BIG_LOAD_SECS s" >&2
	got=$(proxy_sql s16 -e 'SELECT COUNT(*) FROM orders') || die "COUNT(*) through myshard failed"
	((got == BIG_ROWS)) || die "through myshard s16 counts $got rows, not $BIG_ROWS"

	# A fresh myshard, so the RSS before the stream is that of a process that has served one
	# small statement, not the whole benchmark.
	stop_pid "$PROXY_PID"
	start_myshard "$WORK/myshard.yaml" "$WORK/myshard.log"
	proxy_sql s16 -e 'SELECT id FROM orders WHERE id = 1' >/dev/null || die "a point select through myshard failed"
	# Warm the buffer pools (the load left them warm; this reads every page once more).
	for srv in 0 1; do
		for ((s = srv * 8; s < srv * 8 + 8; s++)); do
			sql_on "$srv" -e "SELECT COUNT(*), SUM(amount) FROM $(shard_db 16 "$s").orders FORCE INDEX (created)" >/dev/null
		done
	done
	echo "streaming $BIG_ROWS rows through myshard" >&2
	stream order "$BIG_ORDER_SQL"
	stream concat "$BIG_CONCAT_SQL"
fi

# ---------------------------------------------------------------------------------------------
# Report

label_of() { [[ "$1" == direct ]] && echo direct || echo "$1 shards"; }

query_table() {
	echo "| query | ps-mode | threads | target | QPS | QPS / direct | mean ms | p95 ms | myshard CPU µs / query (user + system) | mariadbd CPU µs / query | problems |"
	echo "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|"
	local query mode threads target k d
	for query in $QUERIES; do
		for mode in $PS_MODES; do
			for threads in $THREADS; do
				d="$query|$mode|$threads|direct"
				for target in $TARGETS; do
					k="$query|$mode|$threads|$target"
					awk -v query="$query" -v mode="$mode" -v threads="$threads" -v target="$(label_of "$target")" \
						-v hz="$CLK_TCK" -v direct="$([[ $target == direct ]] && echo 1 || echo 0)" \
						-v q="${Q[$k]-0}" -v s="${S[$k]-0}" -v lat="${LAT[$k]-0}" -v p="${P95[$k]-0}" \
						-v n="${N[$k]-0}" -v rounds="$ROUNDS" -v pt="${PT[$k]-0}" -v pu="${PU[$k]-0}" \
						-v st="${ST[$k]-0}" -v dq="${Q[$d]-0}" -v ds="${S[$d]-0}" -v bad="${BAD[$k]-}" '
						function per(ticks) { return q > 0 ? ticks / hz / q * 1e6 : 0 }
						BEGIN {
							name = query == "order" ? "ORDER BY + LIMIT" : "GROUP BY"
							if (bad != "" && n < rounds)
								bad = sprintf("%s (%d of %d rounds measured)", bad, n, rounds)
							if (n == 0) {
								printf "| %s | %s | %s | %s | – | – | – | – | – | – | %s |\n",
									name, mode, threads, target, bad
								exit
							}
							qps = s > 0 ? q / s : 0; dqps = ds > 0 ? dq / ds : 0
							proxy = direct ? "–" : sprintf("%.0f (%.0f + %.0f)", per(pt), per(pu), per(pt - pu))
							printf "| %s | %s | %s | %s | %.1f | %s | %.2f | %.2f | %s | %.0f | %s |\n",
								name, mode, threads, target, qps,
								direct ? "1" : (dqps > 0 ? sprintf("%.2f", qps / dqps) : "–"),
								(q > 0 ? lat / q : 0), (n > 0 ? p / n : 0), proxy, per(st),
								bad == "" ? "none" : bad
						}'
				done
			done
		done
	done
}

big_table() {
	echo "| statement through myshard (16 shards) | rows | seconds | rows / s | myshard RSS before MiB | peak MiB | peak − before MiB | after MiB | myshard CPU s |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	local name sql rows secs base peak after ticks
	for name in order concat; do
		sql=$BIG_ORDER_SQL
		[[ "$name" == concat ]] && sql=$BIG_CONCAT_SQL
		read -r rows secs base peak after ticks <<<"${BIG_RESULT[$name]}"
		awk -v sql="$sql" -v rows="$rows" -v secs="$secs" -v base="$base" -v peak="$peak" \
			-v after="$after" -v ticks="$ticks" -v hz="$CLK_TCK" '
			BEGIN {
				printf "| `%s` | %d | %.1f | %.0f | %.1f | %.1f | %.1f | %.1f | %.1f |\n",
					sql, rows, secs, (secs > 0 ? rows / secs : 0), base / 1024, peak / 1024,
					(peak - base) / 1024, after / 1024, ticks / hz
			}'
	done
}

TABLE=""
[[ -n "$QUERIES" ]] && TABLE=$(query_table)
BIG_TABLE=""
((BIG)) && BIG_TABLE=$(big_table)
load_line=""
for n in $SCHEMAS; do
	load_line+="${load_line:+, }$n shards $(awk -v r="$ROWS" -v s="${LOAD_SECS[$n]}" -v t="${LOAD_CPU[$n]}" -v hz="$CLK_TCK" \
		'BEGIN { printf "%.1f s (%.0f rows/s; myshard CPU %.1f s)", s, (s > 0 ? r / s : 0), t / hz }')"
done

echo
[[ -n "$TABLE" ]] && echo "$TABLE" && echo
[[ -n "$BIG_TABLE" ]] && echo "$BIG_TABLE" && echo
echo "loading $ROWS rows through myshard: $load_line" >&2
((${#NOTES[@]})) && printf 'note: %s\n' "${NOTES[@]}" >&2
[[ -n "${HWM_RUNS-}" ]] && echo "myshard peak RSS (VmHWM) over the query runs: $(mib "$HWM_RUNS") MiB" >&2
if grep -qE ' (WARN|ERROR) ' "$WORK/myshard.log"; then
	echo "myshard logged warnings or errors ($(grep -cE ' (WARN|ERROR) ' "$WORK/myshard.log") lines), the first:" >&2
	grep -m5 -E ' (WARN|ERROR) ' "$WORK/myshard.log" | cut -c1-300 >&2
fi

if ((RECORD)); then
	section="$WORK/section.md"
	{
		echo "## $SECTION"
		echo
		recorded_line bench/merge.sh ${ORIGINAL_ARGS[@]+"${ORIGINAL_ARGS[@]}"}
		echo
		echo "- Machine: $(machine_line). The client (sysbench or the mariadb CLI), myshard and both MariaDB servers share these $(nproc) CPUs, so every extra shard query costs CPU that the others need; other engineers' builds and tests may run at the same time (background load below)."
		echo "- MariaDB $MARIADB_VERSION (two servers, --no-defaults, innodb_buffer_pool_size ${BUFFER_POOL_MB}M each, max_connections 500); $("$SYSBENCH" --version)"
		echo "- Table \`orders(id BIGINT PRIMARY KEY, customer_id BIGINT, status VARCHAR(16), amount DECIMAL(12,2), created DATETIME, KEY(created))\`, $ROWS rows (five statuses; every row its own second of \`created\`). Direct: one database on the g0 server. myshard: logical schemas of ${SCHEMAS// /, } shards sharded on \`id\`, shards 0 … N/2−1 on g0 and N/2 … N−1 on g1 (the second server), pool max 64 per server, backends over Unix sockets, default \`merge.connections_per_group\` (16); loaded through myshard by 1,000-row INSERTs that it splits per shard: $load_line."
		if [[ -n "$TABLE" ]]; then
			echo "- Queries (bench/merge.lua): **ORDER BY + LIMIT** = \`$ORDER_SQL\` with a bound drawn uniformly from the newest $WINDOW s of \`created\` (0 … $WINDOW rows match, $((WINDOW / 2)) on average; each shard returns at most 10 rows and myshard merges them); **GROUP BY** = \`$GROUP_SQL\` (a full scan; each shard returns its 5 groups and myshard merges them, AVG from SUM and COUNT)."
			echo "- Each run ${TIME} s after a ${WARMUP} s warm-up, sysbench over Unix sockets (MariaDB's and myshard's \`listen_socket\`); $ROUNDS rounds per case, each round running direct, then ${SHARDS// / shards, } shards in turn. QPS = all queries / all time; mean latency weighted by queries; p95 = mean of the rounds' p95; CPU = user + system time from /proc/PID/stat over the runs divided by their queries (mariadbd: both servers). myshard worker threads: ${PROXY_WORKERS:-one per CPU (default)}."
			echo "- ps-mode auto = server-side prepared statements (binary protocol), disable = text protocol (sysbench inlines the bound)."
			echo "- Checked before measuring, for each query and ps-mode ($CHECKED): the rows through myshard at every shard count equal MariaDB's directly (the ORDER BY at four bounds, in order; the GROUP BY as a set of rows)$( ((${#NOTES[@]})) && printf '; %s' "${NOTES[@]}")."
			echo "- Background CPU load from other processes (3 s samples with the benchmark idle): $LOAD_BEFORE before the runs, $LOAD_AFTER after. myshard's peak RSS (VmHWM) over all the query runs: $(mib "$HWM_RUNS") MiB."
			echo
			echo "$TABLE"
		fi
		if ((BIG)); then
			echo
			echo "**A big scatter ORDER BY.** The 16-shard schema reloaded with $BIG_ROWS rows (INSERT … SELECT from the Sequence engine in each shard's physical database, both servers at once: $BIG_LOAD_SECS s; the same columns, \`created\` a permutation of $BIG_ROWS s; counts checked per shard and through myshard). Each statement was sent by \`mariadb --quick --batch\` (row by row, nothing buffered in the client; its output only counted) over myshard's Unix socket to a freshly started myshard that had served one point select; myshard's VmRSS was sampled every 50 ms. Both statements' answers at $ROWS rows were first compared with MariaDB's (the ORDER BY in order, the plain SELECT as a set). The ORDER BY is a k-way merge of the 16 shards' sorted streams; \`SELECT * FROM orders\` passes the shards' rows on as they arrive."
			echo
			echo "$BIG_TABLE"
		fi
	} >"$section"
	record_section "$SECTION" "$section"
fi

if ((FAILED)); then
	echo "some runs had problems (see the problems column)" >&2
	exit 1
fi
