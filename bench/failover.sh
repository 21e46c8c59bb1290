#!/usr/bin/env bash
# Failover timing: repeats the kill -9 test of tests/failover_switch.rs N times and prints
# the distribution of the time from the kill of a group's write host (under a continuous
# write load) to the first write acknowledged on the next candidate. Issue 12 asks for at
# most 5 s with a 1 s heartbeat; the test runs a 100 ms heartbeat with fall 2.
#
#   bench/failover.sh [--runs N]
#
#   --runs N   how many kills (default 10)
#
# What it does: builds the test once (debug, like CI), then runs
# `kill_9_of_the_write_host_switches_once_and_the_decision_survives_a_restart` N times, each
# with its own MariaDB servers and in-process proxy, reading the line the test prints
# ("kill -9 → first acknowledged write on the new write host: …"), and prints each time and
# min / median / max in milliseconds. A skeleton: the hung-host (SIGSTOP) and network-cut
# variants, GTID promotion and recording into docs/BENCHMARKS.md are still to come.
#
# Needs: cargo, mariadb-server.

set -euo pipefail

runs=10
while (($#)); do
	case "$1" in
	--runs)
		runs=${2:?--runs needs a number}
		shift 2
		;;
	*)
		sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//' >&2
		exit 2
		;;
	esac
done
if ! [[ "$runs" =~ ^[0-9]+$ ]] || ((runs < 1)); then
	echo "failover.sh: --runs needs an integer >= 1, got '$runs'" >&2
	exit 2
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PATH:/usr/sbin"
test_name=kill_9_of_the_write_host_switches_once_and_the_decision_survives_a_restart
cargo test --test failover_switch --no-run >/dev/null 2>&1

times=()
for ((i = 1; i <= runs; i++)); do
	out=$(cargo test --test failover_switch "$test_name" -- --nocapture 2>&1) || {
		echo "run $i failed:" >&2
		echo "$out" | tail -20 >&2
		exit 1
	}
	line=$(echo "$out" | grep -m1 'first acknowledged write' || true)
	# The Debug form of a Duration: 1.23s, 456.7ms or 89µs.
	ms=$(echo "$line" | perl -ne 'if (/: ([0-9.]+)(s|ms|µs);/) { my $v = $1; $v *= 1000 if $2 eq "s"; $v /= 1000 if $2 eq "µs"; printf "%.1f", $v }')
	[[ -n "$ms" ]] || {
		echo "run $i: no timing line in the test output" >&2
		exit 1
	}
	echo "run $i: ${ms} ms"
	times+=("$ms")
done

printf '%s\n' "${times[@]}" | sort -n | awk '
	{ v[NR] = $1 }
	END {
		mid = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "kill -9 -> first acknowledged write, %d runs: min %.1f ms, median %.1f ms, max %.1f ms\n", NR, v[1], mid, v[NR]
	}'
