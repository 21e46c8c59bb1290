#!/usr/bin/env bash
# Installs and builds everything the client matrix needs on Debian 12 (run as root).
# Idempotent and quiet: installs only what is missing, rebuilds only what changed, and prints
# nothing unless a step fails (then that step's output).
#
#   apt      mariadb CLI, sysbench, Go + Debian's go-sql-driver source, Connector/J, JDK,
#            Node + npm, python3-venv: each only if missing
#   .venv    PyMySQL, mysql-connector-python, cryptography (requirements.txt)
#   node/    npm ci from the committed package-lock.json
#   build/   go-client (Go, built offline) and java/ (ClientMatrix.class, Paging.class)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
quiet() { "$@" >"$log" 2>&1 || { cat "$log" >&2; echo "setup.sh: failed: $*" >&2; exit 1; }; }

GO_DRIVER=/usr/share/gocode/src/github.com/go-sql-driver/mysql
JDBC_JAR=/usr/share/java/mariadb-java-client.jar

# --- Debian packages: "test that shows it is there|package"
missing=()
while IFS='|' read -r test package; do
  eval "$test" >/dev/null 2>&1 || missing+=("$package")
done <<EOF
command -v mariadb|mariadb-client
command -v sysbench|sysbench
command -v go|golang-go
test -d $GO_DRIVER|golang-github-go-sql-driver-mysql-dev
test -f $JDBC_JAR|libmariadb-java
command -v javac|openjdk-17-jdk-headless
command -v node|nodejs
command -v npm|npm
python3 -c 'import ensurepip, venv'|python3-venv
EOF
if (( ${#missing[@]} )); then
  export DEBIAN_FRONTEND=noninteractive
  quiet apt-get update
  quiet apt-get install -y --no-install-recommends "${missing[@]}"
fi

# --- Python clients in a venv, reinstalled only when requirements.txt changes
venv="$here/.venv"
if ! cmp -s "$here/requirements.txt" "$venv/.requirements.txt"; then
  [[ -x "$venv/bin/python" ]] || quiet python3 -m venv "$venv"
  quiet "$venv/bin/pip" install --disable-pip-version-check -q -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$venv/.requirements.txt"
fi

# --- node mysql2 from the lock file, again only when it changes
if ! cmp -s "$here/node/package-lock.json" "$here/node/node_modules/.lock-installed.json"; then
  (cd "$here/node" && quiet npm ci --no-audit --no-fund --loglevel=error)
  cp "$here/node/package-lock.json" "$here/node/node_modules/.lock-installed.json"
fi

# --- Go and Java programs, rebuilt when their sources are newer than the build
mkdir -p "$here/build/java"
go_stale=false
for f in "$here"/go/*.go "$here/go/go.mod"; do
  if [[ "$f" -nt "$here/build/go-client" ]]; then go_stale=true; fi
done
if [[ ! -x "$here/build/go-client" ]] || $go_stale; then
  (cd "$here/go" && GOPROXY=off GOFLAGS=-mod=mod quiet go build -o "$here/build/go-client" .)
fi
java_stale=false
for f in "$here"/java/*.java; do
  class="$here/build/java/$(basename "$f" .java).class"
  if [[ "$f" -nt "$class" ]]; then java_stale=true; fi
done
if $java_stale; then
  quiet javac -cp "$JDBC_JAR" -d "$here/build/java" "$here"/java/*.java
fi
