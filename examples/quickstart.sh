#!/usr/bin/env bash
# One command from a fresh Debian 12 checkout to a running proxy: installs MariaDB if it is
# missing, builds myshard, starts the local two-group cluster of examples/cluster.sh and runs
# the proxy on examples/myshard.yaml in the foreground (Ctrl-C stops the proxy; run
# `examples/cluster.sh stop` to stop the backends).
#
#   bash examples/quickstart.sh
#   mariadb -h 127.0.0.1 -P 3307 -u app -papp-secret shop     # in another terminal
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
	echo "installing mariadb-server and mariadb-client"
	sudo_cmd=""
	[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
	$sudo_cmd apt-get update
	# Keep the packaged service from starting: the cluster runs its own servers.
	created_policy=false
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | $sudo_cmd tee /usr/sbin/policy-rc.d >/dev/null
		$sudo_cmd chmod 755 /usr/sbin/policy-rc.d
		created_policy=true
	fi
	DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y mariadb-server mariadb-client
	if [ "$created_policy" = true ]; then $sudo_cmd rm -f /usr/sbin/policy-rc.d; fi
fi

cargo build --release
bash examples/cluster.sh start
exec target/release/myshard --config examples/myshard.yaml
