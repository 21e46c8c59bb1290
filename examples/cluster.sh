#!/usr/bin/env bash
# Local two-group MariaDB cluster for examples/myshard.yaml.
#
#   examples/cluster.sh [start]   initialise (first time) and start both servers, then make sure
#                                 the proxy's account exists; safe to repeat
#   examples/cluster.sh status    show each server; exit status 3 if any is down
#   examples/cluster.sh stop      shut both servers down (data is kept)
#
# Group g0: 127.0.0.1:3310.  Group g1: 127.0.0.1:3311. Both have the account myshard/myshard
# (any host, all privileges, grant option, mysql_native_password) and root without a password
# from 127.0.0.1 and the socket. The databases themselves (shards shop_0000-0007 on g0,
# shop_0008-0015 and crm on g1) are created by `myshard init --config examples/myshard.yaml`,
# which examples/quickstart.sh runs.
#
# Data, sockets and logs live in $MYSHARD_CLUSTER_DIR, by default tmp/cluster/ at the root of the
# repository (ignored by git). Delete that directory after `stop` to start from scratch.
#
# Needs only the mariadb-server and mariadb-client packages: the servers run with
# --no-defaults from their own data directories, so the system MariaDB service (and any my.cnf)
# is neither used nor needed, and may run at the same time on its usual port.

set -euo pipefail

readonly GROUPS_=(g0 g1)
declare -A PORT=([g0]=3310 [g1]=3311)
declare -A SERVER_ID=([g0]=1 [g1]=2)
readonly PROXY_USER=myshard
readonly PROXY_PASSWORD=myshard

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CLUSTER_DIR=${MYSHARD_CLUSTER_DIR:-"$script_dir/../tmp/cluster"}
mkdir -p "$CLUSTER_DIR"
CLUSTER_DIR=$(cd "$CLUSTER_DIR" && pwd)

die() {
	echo "cluster.sh: $*" >&2
	exit 1
}

# Finds a program on PATH or in the sbin directories Debian uses (not on a user's PATH).
find_bin() {
	local name=$1 dir
	if command -v "$name" >/dev/null 2>&1; then
		command -v "$name"
		return
	fi
	for dir in /usr/sbin /usr/local/sbin /usr/bin /usr/local/bin; do
		if [ -x "$dir/$name" ]; then
			echo "$dir/$name"
			return
		fi
	done
	die "$name not found; install it with: apt-get install mariadb-server mariadb-client"
}

MARIADBD=$(find_bin mariadbd)
INSTALL_DB=$(find_bin mariadb-install-db)
CLIENT=$(find_bin mariadb)

# mariadbd refuses to run as root unless told to.
USER_ARGS=()
if [ "$(id -u)" -eq 0 ]; then
	USER_ARGS=(--user=root)
fi

group_dir() { echo "$CLUSTER_DIR/$1"; }
pid_file() { echo "$(group_dir "$1")/mariadbd.pid"; }

# The Unix socket: next to the data when the path fits the kernel's limit, else in /tmp.
socket_path() {
	local path
	path="$(group_dir "$1")/mariadbd.sock"
	if [ "${#path}" -gt 100 ]; then
		path="${TMPDIR:-/tmp}/myshard-cluster-$(id -u)-${PORT[$1]}.sock"
	fi
	echo "$path"
}

# Prints the server's pid if the process in its pid file is a running mariadbd.
running_pid() {
	local pid_path pid
	pid_path=$(pid_file "$1")
	[ -s "$pid_path" ] || return 1
	pid=$(tr -dc '0-9' <"$pid_path")
	[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q mariadbd || return 1
	echo "$pid"
}

port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Runs SQL as root over TCP on a group's server.
sql() {
	local group=$1
	shift
	"$CLIENT" --no-defaults --protocol=TCP -h 127.0.0.1 -P "${PORT[$group]}" -u root \
		--batch --skip-column-names "$@"
}

initialise() {
	local group=$1 dir staging
	dir=$(group_dir "$group")
	[ -d "$dir/data/mysql" ] && return 0
	echo "initialising $group in $dir/data"
	mkdir -p "$dir"
	staging="$dir/data.init"
	rm -rf "$staging"
	if ! "$INSTALL_DB" --no-defaults "${USER_ARGS[@]}" --datadir="$staging" \
		--skip-test-db --auth-root-authentication-method=normal --skip-name-resolve \
		>"$dir/install.log" 2>&1; then
		cat "$dir/install.log" >&2
		die "mariadb-install-db failed for $group"
	fi
	rm -rf "$dir/data"
	mv "$staging" "$dir/data"
}

start_group() {
	local group=$1 port=${PORT[$1]} dir pid i
	dir=$(group_dir "$group")
	if pid=$(running_pid "$group"); then
		echo "$group already running on 127.0.0.1:$port (pid $pid)"
	else
		if port_open "$port"; then
			die "port $port is in use by another process; stop it or free the port"
		fi
		initialise "$group"
		mkdir -p "$dir/tmp"
		rm -f "$(socket_path "$group")"
		local log_lines=0
		if [ -f "$dir/error.log" ]; then
			log_lines=$(wc -l <"$dir/error.log")
		fi
		echo "starting $group on 127.0.0.1:$port"
		# setsid: the server outlives this shell and ignores its terminal's Ctrl-C.
		setsid "$MARIADBD" --no-defaults "${USER_ARGS[@]}" \
			--log-basename=mariadb \
			--datadir="$dir/data" \
			--tmpdir="$dir/tmp" \
			--socket="$(socket_path "$group")" \
			--pid-file="$(pid_file "$group")" \
			--log-error="$dir/error.log" \
			--port="$port" \
			--bind-address=127.0.0.1 \
			--skip-name-resolve \
			--character-set-server=utf8mb4 \
			--collation-server=utf8mb4_general_ci \
			--innodb-buffer-pool-size=64M \
			--max-connections=1000 \
			--max-allowed-packet=1G \
			--log-bin \
			--binlog-format=ROW \
			--log-slave-updates \
			--server-id="${SERVER_ID[$group]}" \
			</dev/null >>"$dir/mariadbd.out" 2>&1 &
		for ((i = 0; i < 300; i++)); do
			if sql "$group" -e 'SELECT 1' >/dev/null 2>&1; then
				break
			fi
			if tail -n "+$((log_lines + 1))" "$dir/error.log" 2>/dev/null | grep -q '\[ERROR\] Aborting'; then
				tail -n 30 "$dir/error.log" >&2
				die "$group exited during startup (log: $dir/error.log)"
			fi
			sleep 0.1
		done
		if ! sql "$group" -e 'SELECT 1' >/dev/null 2>&1; then
			tail -n 30 "$dir/error.log" >&2 || true
			die "$group did not accept connections within 30 s (log: $dir/error.log)"
		fi
	fi

	# Make sure it is our server that answers on the port.
	local datadir
	datadir=$(sql "$group" -e 'SELECT @@datadir')
	[ "${datadir%/}" = "$dir/data" ] ||
		die "port $port is served by a server with data in $datadir, not $dir/data"

	sql "$group" <<-SQL
		CREATE USER IF NOT EXISTS '$PROXY_USER'@'%'
		  IDENTIFIED VIA mysql_native_password USING PASSWORD('$PROXY_PASSWORD');
		ALTER USER '$PROXY_USER'@'%'
		  IDENTIFIED VIA mysql_native_password USING PASSWORD('$PROXY_PASSWORD');
		GRANT ALL PRIVILEGES ON *.* TO '$PROXY_USER'@'%' WITH GRANT OPTION;
	SQL
}

stop_group() {
	local group=$1 pid i
	if ! pid=$(running_pid "$group"); then
		echo "$group is not running"
		return 0
	fi
	echo "stopping $group (pid $pid)"
	kill -TERM "$pid"
	for ((i = 0; i < 300; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "$group did not shut down within 30 s; killing it" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$(pid_file "$group")"
}

status_group() {
	local group=$1 pid
	if pid=$(running_pid "$group"); then
		echo "$group 127.0.0.1:${PORT[$group]} running (pid $pid) data $(group_dir "$group")/data"
	else
		echo "$group 127.0.0.1:${PORT[$group]} stopped"
		return 3
	fi
}

command=${1:-start}
case "$command" in
start)
	for group in "${GROUPS_[@]}"; do
		start_group "$group"
	done
	echo "cluster up: log in with $CLIENT -h 127.0.0.1 -P 3310 -u $PROXY_USER -p$PROXY_PASSWORD"
	;;
stop)
	for group in "${GROUPS_[@]}"; do
		stop_group "$group"
	done
	;;
status)
	rc=0
	for group in "${GROUPS_[@]}"; do
		status_group "$group" || rc=$?
	done
	exit "$rc"
	;;
*)
	echo "usage: $0 [start|stop|status]" >&2
	exit 2
	;;
esac
