#!/usr/bin/env bash
# One command from a fresh Debian 12 checkout to a running proxy: installs MariaDB if it is
# missing, builds myshard, starts the local two-group cluster of examples/cluster.sh, creates
# the physical databases of examples/myshard.yaml with `myshard init` (schema `shop` sharded
# over 16 databases on both groups, `crm` on g1) and runs the proxy in the foreground (Ctrl-C
# stops the proxy; run `examples/cluster.sh stop` to stop the backends).
#
#   bash examples/quickstart.sh
#   mariadb -h 127.0.0.1 -P 3307 -u app -papp-secret shop     # in another terminal, then e.g.:
#     CREATE TABLE customers (id BIGINT PRIMARY KEY, name VARCHAR(64));
#     CREATE TABLE orders (id BIGINT PRIMARY KEY, customer_id BIGINT NOT NULL, total DECIMAL(10,2));
#     INSERT INTO customers (id, name) VALUES (1, 'Ada'), (12, 'Grace');
#     INSERT INTO orders (id, customer_id, total) VALUES (100, 1, 9.50), (101, 12, 20.00);
#     SELECT c.name, o.total FROM customers c JOIN orders o ON o.customer_id = c.id WHERE c.id = 12;
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
target/release/myshard init --config examples/myshard.yaml
exec target/release/myshard --config examples/myshard.yaml
