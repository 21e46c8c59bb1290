#!/usr/bin/env bash
# Memory and limits of myshard (the "foundation" memory benchmark).
#
#   bench/memory.sh [options]
#
#   --rows N          rows of the big table (default 1048576)
#   --row-bytes N     bytes of each row's VARCHAR column (default 1024; with the default rows
#                     the result set is 1 GiB of column data)
#   --clients N       idle client connections held at once (default 10000); also the
#                     proxy's max_client_connections, so client N+1 must get error 1040
#   --pool-max N      backend pool limit per host (default 64)
#   --no-build        use the existing target/release/myshard
#   --skip-result     skip part (a), the large result set
#   --skip-idle       skip parts (b) and (c), the idle clients and the client limit
#   --keep            keep the work directory (data, configuration, logs, RSS samples)
#
# What it does: builds myshard in release mode, starts a private MariaDB (mariadb-install-db
# into a fresh directory, a free port, --no-defaults), loads one table of --rows rows of
# --row-bytes bytes (INSERT … SELECT from the Sequence engine), and runs the real binary
# (target/release/myshard --config <generated yaml>) in front of it. Then:
#
#  (a) the mariadb CLI reads `SELECT id, pad FROM big` through the proxy with --quick (row by
#      row), first as fast as it can, then as a slow reader (its output pipe is not read for
#      5 s, so it stalls and the proxy must stop reading from the backend instead of
#      buffering). The proxy's VmRSS (/proc/PID/status) is sampled every 50 ms; the growth
#      is the peak during the read minus the value before it. Target: < 64 MiB.
#      The same read directly against MariaDB is timed for comparison.
#  (b) bench/idle_clients.py opens --clients logged-in connections through a fresh proxy,
#      runs SELECT 1 on all of them at once, and holds them. Recorded: the proxy's VmRSS
#      (target < 200 MiB) and the backend's Threads_connected, sampled every 100 ms from
#      before the first login to the end (target: never above --pool-max, not counting the
#      sampling connection itself).
#  (c) with all --clients connections held, one more client must get ERROR 1040 (08004);
#      after one client quits, a new one must be accepted and served.
#
# Both servers are killed at the end, whatever happens. Exits 1 if a target is missed.
# Needs: cargo, python3, mariadb-server, mariadb-client; a hard open-files limit above
# --clients + 1000 (the script raises the soft limit).

set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$script_dir/.." && pwd)
BENCH=memory.sh
BENCH_DIE_STATUS=1
# shellcheck source=bench/lib.sh
source "$script_dir/lib.sh"

ROWS=1048576
ROW_BYTES=1024
CLIENTS=10000
POOL_MAX=64
BUILD=1
KEEP=0
RUN_RESULT=1
RUN_IDLE=1
RESULT_TARGET_MIB=64
IDLE_TARGET_MIB=200

while [ $# -gt 0 ]; do
	case "$1" in
	--rows) ROWS=$2; shift ;;
	--row-bytes) ROW_BYTES=$2; shift ;;
	--clients) CLIENTS=$2; shift ;;
	--pool-max) POOL_MAX=$2; shift ;;
	--no-build) BUILD=0 ;;
	--skip-result) RUN_RESULT=0 ;;
	--skip-idle) RUN_IDLE=0 ;;
	--keep) KEEP=1 ;;
	-h | --help)
		sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "unknown option $1 (see --help)" >&2
		exit 2
		;;
	esac
	shift
done

MARIADBD=$(find_bin mariadbd)
INSTALL_DB=$(find_bin mariadb-install-db)
MARIADB=$(find_bin mariadb)
command -v python3 >/dev/null || die "python3 not found"

# ---- limits ---------------------------------------------------------------------------------
need_files=$((CLIENTS + 1000))
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$need_files" ]; then
	die "the hard open-files limit is $hard; $need_files needed for $CLIENTS clients"
fi
ulimit -n "$need_files"

# ---- work directory and cleanup -------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/myshard-membench.XXXXXX")
MARIADB_PID=""
PROXY_PID=""
SAMPLER_PIDS=()

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for pid in "${SAMPLER_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	stop_pid "$PROXY_PID"
	if [ -n "$MARIADB_PID" ]; then
		kill -9 "$MARIADB_PID" 2>/dev/null || true
		wait "$MARIADB_PID" 2>/dev/null || true
	fi
	if [ "$KEEP" = 1 ]; then
		echo "work directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- build ----------------------------------------------------------------------------------
if [ "$BUILD" = 1 ]; then
	echo "== building myshard (release)"
	(cd "$repo" && cargo build --release --bin myshard)
fi
MYSHARD="$repo/target/release/myshard"
[ -x "$MYSHARD" ] || die "$MYSHARD missing (build it, or drop --no-build)"

# ---- MariaDB --------------------------------------------------------------------------------
free_port
DB_PORT=$FREE_PORT
SOCKET="$WORK/mariadbd.sock"
as_root=()
[ "$(id -u)" = 0 ] && as_root=(--user=root)

echo "== starting MariaDB on 127.0.0.1:$DB_PORT ($WORK)"
"$INSTALL_DB" --no-defaults --datadir="$WORK/data" --skip-test-db \
	--auth-root-authentication-method=normal --skip-name-resolve "${as_root[@]}" \
	>"$WORK/install-db.log" 2>&1 || { cat "$WORK/install-db.log" >&2; die "mariadb-install-db failed"; }
mkdir -p "$WORK/tmp"
"$MARIADBD" --no-defaults "${as_root[@]}" --datadir="$WORK/data" --tmpdir="$WORK/tmp" \
	--socket="$SOCKET" --port="$DB_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
	--pid-file="$WORK/mariadbd.pid" --log-error="$WORK/mariadbd.err" \
	--innodb-buffer-pool-size=2G --innodb-log-file-size=512M \
	--innodb-flush-log-at-trx-commit=2 --performance-schema=0 --max-connections=2000 \
	--max-allowed-packet=64M --character-set-server=utf8mb4 \
	</dev/null >"$WORK/mariadbd.out" 2>&1 &
MARIADB_PID=$!

sql() {
	"$MARIADB" --no-defaults -uroot -S "$SOCKET" "$@"
}

for _ in $(seq 600); do
	sql -e 'SELECT 1' >/dev/null 2>&1 && break
	kill -0 "$MARIADB_PID" 2>/dev/null || { tail -n 30 "$WORK/mariadbd.err" >&2; die "mariadbd exited"; }
	sleep 0.1
done
sql -e 'SELECT 1' >/dev/null || die "mariadbd did not accept connections within 60 s"
sql -e "CREATE USER 'myshard'@'%' IDENTIFIED BY 'myshard';
	GRANT ALL PRIVILEGES ON *.* TO 'myshard'@'%';
	CREATE DATABASE s0_db;"

# ---- the proxy ------------------------------------------------------------------------------
free_port
PROXY_PORT=$FREE_PORT
cat >"$WORK/myshard.yaml" <<EOF
listen: 127.0.0.1:$PROXY_PORT
max_client_connections: $CLIENTS
users:
  - {name: app, password: app-secret, schemas: ['*']}
groups:
  - name: g0
    user: myshard
    password: myshard
    write_hosts: ['127.0.0.1:$DB_PORT']
    pool: {max: $POOL_MAX}
schemas:
  - {name: s0, group: g0, database: s0_db}
EOF

start_proxy() {
	RUST_LOG=warn "$MYSHARD" --config "$WORK/myshard.yaml" </dev/null >>"$WORK/myshard.log" 2>&1 &
	PROXY_PID=$!
	for _ in $(seq 300); do
		proxy_cli -e 'SELECT 1' >/dev/null 2>&1 && return 0
		kill -0 "$PROXY_PID" 2>/dev/null || { cat "$WORK/myshard.log" >&2; die "myshard exited"; }
		sleep 0.1
	done
	die "myshard did not accept connections within 30 s"
}

proxy_cli() {
	"$MARIADB" --no-defaults -h127.0.0.1 -P"$PROXY_PORT" -uapp -papp-secret s0 "$@"
}

direct_cli() {
	"$MARIADB" --no-defaults -h127.0.0.1 -P"$DB_PORT" -umyshard -pmyshard s0_db "$@"
}

misses=0
# check VALUE LIMIT: sets V to "ok" when VALUE < LIMIT, else to "MISSED" (and counts a miss).
check() {
	if awk -v v="$1" -v t="$2" 'BEGIN { exit !(v < t) }'; then
		V=ok
	else
		misses=$((misses + 1))
		V=MISSED
	fi
}

summary=()
say() {
	echo "$*"
	summary+=("$*")
}

say "machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, kernel $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC')"
say "MariaDB $("$MARIADBD" --version | awk '{print $3}'), pool max $POOL_MAX"

# ---- (a) a large result set -----------------------------------------------------------------
if [ "$RUN_RESULT" = 1 ]; then
	echo "== (a) loading $ROWS rows of $ROW_BYTES bytes"
	t0=$(now)
	sql s0_db -e "CREATE TABLE big (id INT NOT NULL PRIMARY KEY, pad VARCHAR($ROW_BYTES) NOT NULL)
		ENGINE=InnoDB DEFAULT CHARSET=latin1;
		INSERT INTO big SELECT seq, REPEAT(CHAR(65 + seq % 26), $ROW_BYTES) FROM seq_1_to_$ROWS;"
	data_mib=$(sql -N s0_db -e "SELECT ROUND(SUM(LENGTH(pad)) / 1048576) FROM big")
	echo "loaded in $(secs_since "$t0") s: $data_mib MiB of column data"

	query="SELECT id, pad FROM big"
	# Warm the buffer pool, and time the direct read for comparison.
	direct_cli --quick -N -e "$query" >/dev/null
	t0=$(now)
	direct_bytes=$(direct_cli --quick -N -e "$query" | wc -c)
	direct_secs=$(secs_since "$t0")

	start_proxy
	proxy_cli -e 'SELECT COUNT(*) FROM big' >/dev/null
	base=$(rss_kib "$PROXY_PID")
	: >"$WORK/rss-a-fast.txt"
	sample_rss "$PROXY_PID" "$WORK/rss-a-fast.txt" &
	SAMPLER_PIDS+=($!)
	t0=$(now)
	proxy_bytes=$(proxy_cli --quick -N -e "$query" | wc -c)
	proxy_secs=$(secs_since "$t0")
	kill "${SAMPLER_PIDS[-1]}"
	peak=$(max_of "$WORK/rss-a-fast.txt")
	after=$(rss_kib "$PROXY_PID")
	[ "$proxy_bytes" = "$direct_bytes" ] ||
		die "the CLI printed $proxy_bytes bytes through myshard but $direct_bytes directly"
	growth=$((peak - base))
	check "$(mib "$growth")" "$RESULT_TARGET_MIB"
	say "(a) $ROWS rows x $ROW_BYTES B ($data_mib MiB of column data, $(mib $((proxy_bytes / 1024))) MiB printed by the CLI)"
	say "(a) fast reader: myshard RSS before $(mib "$base") MiB, peak $(mib "$peak") MiB, after $(mib "$after") MiB: growth $(mib "$growth") MiB (target < $RESULT_TARGET_MIB MiB: $V)"
	say "(a) read time: ${proxy_secs} s through myshard, ${direct_secs} s directly"

	# A slow reader: nothing reads the CLI's output for 5 s, then it is read at full speed.
	base=$(rss_kib "$PROXY_PID")
	: >"$WORK/rss-a-slow.txt"
	sample_rss "$PROXY_PID" "$WORK/rss-a-slow.txt" &
	SAMPLER_PIDS+=($!)
	t0=$(now)
	slow_bytes=$(proxy_cli --quick -N -e "$query" | { sleep 5; wc -c; })
	slow_secs=$(secs_since "$t0")
	kill "${SAMPLER_PIDS[-1]}"
	peak=$(max_of "$WORK/rss-a-slow.txt")
	[ "$slow_bytes" = "$direct_bytes" ] || die "the slow reader got $slow_bytes bytes"
	growth=$((peak - base))
	check "$(mib "$growth")" "$RESULT_TARGET_MIB"
	say "(a) slow reader (stalled 5 s): RSS before $(mib "$base") MiB, peak $(mib "$peak") MiB: growth $(mib "$growth") MiB (target < $RESULT_TARGET_MIB MiB: $V), ${slow_secs} s"
	stop_pid "$PROXY_PID"
	PROXY_PID=""
	sql s0_db -e "DROP TABLE big"
fi

# ---- (b) idle clients and (c) the client limit ----------------------------------------------
if [ "$RUN_IDLE" = 1 ]; then
	echo "== (b) $CLIENTS idle clients"
	start_proxy
	base=$(rss_kib "$PROXY_PID")
	: >"$WORK/rss-b.txt"
	: >"$WORK/threads-b.txt"
	sample_rss "$PROXY_PID" "$WORK/rss-b.txt" &
	rss_sampler=$!
	SAMPLER_PIDS+=($!)
	(
		while true; do
			sql -N -e "SHOW GLOBAL STATUS LIKE 'Threads_connected'" 2>/dev/null |
				awk '{print $2}' >>"$WORK/threads-b.txt" || true
			sleep 0.1
		done
	) &
	SAMPLER_PIDS+=($!)
	threads_sampler=$!

	t0=$(now)
	coproc IDLE { python3 -u "$script_dir/idle_clients.py" --port "$PROXY_PORT" \
		--clients "$CLIENTS" --query-burst --expect-limit 2>&1; }
	idle_pid=$IDLE_PID
	exec {idle_out}<&"${IDLE[0]}" {idle_in}>&"${IDLE[1]}"
	limit_lines=()
	ready=0
	while IFS= read -r line <&"$idle_out"; do
		echo "$line"
		case "$line" in
		READY) ready=1; break ;;
		*refused:* | *accepted*) limit_lines+=("${line#idle_clients: }") ;;
		esac
	done
	[ "$ready" = 1 ] || die "idle_clients.py failed (see above)"
	ready_secs=$(secs_since "$t0")
	sleep 2
	held=$(rss_kib "$PROXY_PID")
	fds=$(ls "/proc/$PROXY_PID/fd" | wc -l)
	backend_now=$(sql -N -e "SHOW GLOBAL STATUS LIKE 'Threads_connected'" | awk '{print $2}')
	echo >&"$idle_in"
	exec {idle_in}>&- {idle_out}<&-
	wait "$idle_pid" || die "idle_clients.py exited with an error"
	sleep 1
	kill "$threads_sampler" 2>/dev/null || true
	kill "$rss_sampler" 2>/dev/null || true
	peak=$(max_of "$WORK/rss-b.txt")
	released=$(rss_kib "$PROXY_PID")
	# Each sample is taken over one extra connection of its own.
	backend_max=$(($(max_of "$WORK/threads-b.txt") - 1))
	backend_now=$((backend_now - 1))
	per_client=$(awk -v h="$held" -v b="$base" -v n="$CLIENTS" 'BEGIN { printf "%.1f", (h - b) / n }')
	check "$(mib "$peak")" "$IDLE_TARGET_MIB"
	say "(b) $CLIENTS clients logged in, SELECT 1 on all at once, held: ${ready_secs} s to set up"
	say "(b) myshard RSS: $(mib "$base") MiB idle before, $(mib "$held") MiB holding $CLIENTS clients ($per_client KiB per client, $fds open files), peak $(mib "$peak") MiB, $(mib "$released") MiB after they closed (target < $IDLE_TARGET_MIB MiB: $V)"
	check "$backend_max" $((POOL_MAX + 1))
	say "(b) backend Threads_connected (without the sampler's own): max $backend_max during the run, $backend_now while held (pool max $POOL_MAX: $V)"
	for l in "${limit_lines[@]}"; do
		say "(c) $l"
	done
	[ "${#limit_lines[@]}" = 2 ] || { misses=$((misses + 1)); say "(c) MISSED: the limit checks did not run"; }
fi

echo
echo "==== summary"
printf '%s\n' "${summary[@]}"
if [ "$misses" -gt 0 ]; then
	echo "$misses target(s) missed"
	exit 1
fi
echo "all targets met"
