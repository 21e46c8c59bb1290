# shellcheck shell=bash
# shellcheck disable=SC2034,SC2154 # globals shared with the sourcing script, named per function
# Shell helpers shared by the benchmark scripts (bench/sysbench.sh, bench/memory.sh,
# bench/merge.sh). Sourced, never run:
#
#   BENCH=merge.sh                  # the script's name, for messages
#   source "$script_dir/lib.sh"
#
# What it owns: messages and option checks, finding the programs, free ports, stopping
# processes, private MariaDB servers and the myshard process, CPU and memory readings from
# /proc, and writing a section of docs/BENCHMARKS.md. What it must not do: parse a script's
# options, run anything when sourced, or decide what a benchmark measures.
#
# Globals the functions read or set are named in each function's comment. Everything here
# runs under `set -euo pipefail`.

# ---------------------------------------------------------------------------------------------
# Messages and options

# die MESSAGE… — prints "BENCH: MESSAGE" and exits with BENCH_DIE_STATUS (default 2).
die() {
	echo "${BENCH:-bench}: $*" >&2
	exit "${BENCH_DIE_STATUS:-2}"
}

# usage — prints the script's header comment (from its second line to the first empty one)
# and exits 2.
usage() {
	sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# positive_int OPTION VALUE MIN — dies unless VALUE is an integer >= MIN.
positive_int() {
	if ! [[ "$2" =~ ^[0-9]+$ ]] || (($2 < $3)); then
		die "$1 needs an integer >= $3, got '$2'"
	fi
}

# find_bin NAME — prints the path of a program, also looking in the sbin directories.
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

# ---------------------------------------------------------------------------------------------
# Processes and ports

# stop_pid PID — TERM, up to 10 s, then KILL; nothing if PID is empty or gone.
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

# bench_cleanup — the EXIT trap of scripts using start_mariadb and start_myshard: stops
# SAMPLER_PIDS, HELPER_PIDS, PROXY_PID and MARIADB_PIDS, then removes WORK unless KEEP is 1. Install it
# with `trap bench_cleanup EXIT; trap 'exit 130' INT TERM`.
bench_cleanup() {
	local status=$? pid
	trap - EXIT INT TERM
	for pid in ${SAMPLER_PIDS[@]+"${SAMPLER_PIDS[@]}"}; do kill "$pid" 2>/dev/null || true; done
	for pid in ${HELPER_PIDS[@]+"${HELPER_PIDS[@]}"}; do stop_pid "$pid"; done
	stop_pid "${PROXY_PID-}"
	for pid in ${MARIADB_PIDS[@]+"${MARIADB_PIDS[@]}"}; do stop_pid "$pid"; done
	if [[ -n "${WORK-}" ]]; then
		if ((${KEEP:-0})); then
			echo "work directory kept: $WORK" >&2
		else
			rm -rf "$WORK"
		fi
	fi
	exit "$status"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port — a port of 127.0.0.1 nobody listens on, below the kernel's ephemeral range, never
# handed out twice: sets FREE_PORT (call it directly, not in a subshell, so USED_PORTS
# persists).
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

# short_socket PATH NAME — PATH if it fits a Unix socket address (at most 100 bytes here),
# else a path under TMPDIR made of NAME and this shell's process id.
short_socket() {
	if ((${#1} <= 100)); then
		echo "$1"
	else
		echo "${TMPDIR:-/tmp}/myshard-bench-$$-$2.sock"
	fi
}

# ---------------------------------------------------------------------------------------------
# MariaDB

# start_mariadb N — initialises and starts private server N (0, 1, …) in $WORK/dbN
# (mariadb-install-db into a fresh directory, a free port, a Unix socket, --no-defaults) and
# creates the account DB_USER/DB_PASSWORD with every privilege. Reads WORK, MARIADBD,
# INSTALL_DB, CLIENT, DB_USER, DB_PASSWORD, BUFFER_POOL_MB and optionally MARIADB_EXTRA_ARGS
# (an array of further server options); sets DB_PORTS[N], DB_SOCKETS[N] and MARIADB_PIDS[N].
start_mariadb() {
	local n=$1 dir="$WORK/db$1" port socket i
	local user_args=()
	[[ "$(id -u)" -eq 0 ]] && user_args=(--user=root)
	free_port
	port=$FREE_PORT
	socket=$(short_socket "$dir/mariadbd.sock" "db$n")
	echo "initialising MariaDB $n in $dir/data" >&2
	mkdir -p "$dir/mtmp"
	"$INSTALL_DB" --no-defaults ${user_args[@]+"${user_args[@]}"} --datadir="$dir/data" --skip-test-db \
		--auth-root-authentication-method=normal --skip-name-resolve >"$dir/install.log" 2>&1 ||
		{
			cat "$dir/install.log" >&2
			die "mariadb-install-db failed"
		}
	"$MARIADBD" --no-defaults ${user_args[@]+"${user_args[@]}"} \
		--datadir="$dir/data" --tmpdir="$dir/mtmp" --socket="$socket" \
		--pid-file="$dir/mariadbd.pid" --log-error="$dir/mariadbd.err" \
		--port="$port" --bind-address=127.0.0.1 --skip-name-resolve \
		--character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
		--innodb-buffer-pool-size="${BUFFER_POOL_MB}M" --innodb-log-file-size=256M \
		--innodb-flush-log-at-trx-commit=2 --max-connections=500 \
		--max-prepared-stmt-count=100000 --skip-log-bin \
		${MARIADB_EXTRA_ARGS[@]+"${MARIADB_EXTRA_ARGS[@]}"} \
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

# sql_on N ARGS… — the mariadb client as root on server N over TCP, batch mode, no column
# names. Reads CLIENT and DB_PORTS.
sql_on() {
	local n=$1
	shift
	"$CLIENT" --no-defaults --protocol=TCP -h 127.0.0.1 -P "${DB_PORTS[n]}" -u root --batch --skip-column-names "$@"
}

# ---------------------------------------------------------------------------------------------
# myshard

# build_myshard — `cargo build --release --bin myshard` unless BUILD is 0; sets MYSHARD.
# Reads repo.
build_myshard() {
	if ((${BUILD:-1})); then
		echo "building myshard (release)…" >&2
		(cd "$repo" && cargo build --release --bin myshard) >&2
	fi
	MYSHARD="$repo/target/release/myshard"
	[[ -x "$MYSHARD" ]] || die "$MYSHARD not found (run without --no-build)"
}

# start_myshard CONFIG LOG — runs myshard with CONFIG (output appended to LOG) and waits until
# it listens on PROXY_PORT and, if PROXY_SOCKET is set, on that socket. Sets PROXY_PID.
# RUST_LOG defaults to warn.
start_myshard() {
	local config=$1 log=$2 i
	RUST_LOG=${RUST_LOG:-warn} "$MYSHARD" --config "$config" </dev/null >>"$log" 2>&1 &
	PROXY_PID=$!
	for ((i = 0; i < 300; i++)); do
		port_open "$PROXY_PORT" && [[ -z "${PROXY_SOCKET-}" || -S "$PROXY_SOCKET" ]] && return 0
		kill -0 "$PROXY_PID" 2>/dev/null || {
			cat "$log" >&2
			die "myshard exited during startup"
		}
		sleep 0.1
	done
	die "myshard did not listen within 30 s"
}

# ---------------------------------------------------------------------------------------------
# Readings

# background_load — share of the machine's CPU time used during 3 s (other people's builds,
# tests and fuzzers skew every number; the record shows how busy the machine was).
background_load() {
	local b0 i0 b1 i1
	read -r b0 i0 < <(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
	sleep 3
	read -r b1 i1 < <(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
	awk -v b=$((b1 - b0)) -v i=$((i1 - i0)) 'BEGIN { printf "%.0f%%", ((b + i) > 0 ? 100 * b / (b + i) : 0) }'
}

# cpu_ticks PID — user and system CPU ticks of a process (fields 14 and 15 of
# /proc/PID/stat); "0 0" if it is gone.
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

# server_ticks — CPU ticks (user + system) of all MARIADB_PIDS together.
server_ticks() {
	local pid u y total=0
	for pid in "${MARIADB_PIDS[@]}"; do
		read -r u y < <(cpu_ticks "$pid")
		total=$((total + u + y))
	done
	echo "$total"
}

# field LOG LABEL — the first number after "LABEL:" in sysbench's summary.
field() { sed -n "s/^ *$2: *\([0-9.]*\).*/\1/p" "$1" | head -1; }

# rss_kib PID — a process's resident set size (VmRSS) in KiB.
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# hwm_kib PID — a process's peak resident set size so far (VmHWM) in KiB.
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

# sample_rss PID FILE — appends PID's VmRSS (KiB) to FILE every 50 ms while PID lives; run it
# in the background and kill it when done.
sample_rss() {
	while kill -0 "$1" 2>/dev/null; do
		awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" >>"$2" 2>/dev/null || true
		sleep 0.05
	done
}

# max_of FILE — the largest number in FILE, one per line.
max_of() { sort -n "$1" | tail -n 1; }

# mib KIB — KiB as MiB with one decimal.
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

now() { date +%s.%N; }

# secs_since T0 — seconds since T0 (from `now`), one decimal.
secs_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------------------------------------
# docs/BENCHMARKS.md

# machine_line — "2 CPUs (model), 23.5 GiB RAM, Linux 6.1.0".
machine_line() {
	local cpu_model ram_gib
	cpu_model=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -1)
	ram_gib=$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
	echo "$(nproc) CPUs ($cpu_model), ${ram_gib} GiB RAM, Linux $(uname -r)"
}

# recorded_line SCRIPT ARGS… — "Recorded <UTC time> by `SCRIPT ARGS…` at commit <hash>",
# noting uncommitted changes to the product's code. Reads repo.
recorded_line() {
	local command=$1 a commit dirty
	shift
	for a in "$@"; do command+=" $(printf '%q' "$a")"; done
	commit=$(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
	dirty=$(cd "$repo" && git status --porcelain -- proxy router config src 2>/dev/null | head -1)
	[[ -n "$dirty" ]] && commit+=" (plus uncommitted changes)"
	echo "Recorded $(date -u '+%Y-%m-%d %H:%M UTC') by \`$command\` at commit $commit."
}

# record_section TITLE FILE — puts FILE (which starts with "## TITLE") into
# docs/BENCHMARKS.md: replaces the section of that title (from its heading to the next level-1
# or level-2 heading) or appends it; other sections stay as they are. Written to a temporary
# file and renamed, so a reader never sees half a file. Reads repo.
record_section() {
	local title=$1 section=$2 doc="$repo/docs/BENCHMARKS.md" tmp_doc
	mkdir -p "$repo/docs"
	tmp_doc="$doc.tmp.$$"
	if [[ -f "$doc" ]]; then
		awk -v section="$section" -v heading="## $title" '
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
	echo "recorded in docs/BENCHMARKS.md (section \"$title\")" >&2
}
