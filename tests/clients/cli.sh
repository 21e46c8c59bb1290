#!/usr/bin/env bash
# Client matrix: the mariadb command-line client in batch mode (mode "batch").
#
# SQL goes to `mariadb --batch --raw` on stdin; output is compared as text. The CLI has no
# client-side parameters: parameters are SQL-level PREPARE/EXECUTE ... USING inside COM_QUERY.
# Binary columns are read through HEX(); the 5 MiB value is read raw and compared with cmp.
# The CLI does not set CLIENT_FOUND_ROWS: UPDATE reports changed rows.
set -euo pipefail

client=cli mode=batch table=cm_cli_batch
for v in MYSHARD_HOST MYSHARD_PORT MYSHARD_USER MYSHARD_DB; do
  [[ -n "${!v+x}" ]] || { echo "FAIL $client $mode: missing environment variable $v" >&2; exit 1; }
done

fail() { echo "FAIL $client $mode: $*" >&2; exit 1; }
show() { if (( ${#1} > 300 )); then printf '%q... (%d chars)' "${1:0:300}" "${#1}"; else printf '%q' "$1"; fi; }
expect() { [[ "$2" == "$3" ]] || fail "$1: expected $(show "$2"), got $(show "$3")"; }

# One CLI invocation (one connection); SQL on stdin, extra options as arguments.
sql() {
  mariadb --no-defaults --batch --raw --skip-column-names --skip-reconnect \
    --default-character-set=utf8mb4 --host="$MYSHARD_HOST" --port="$MYSHARD_PORT" \
    --user="$MYSHARD_USER" --password="${MYSHARD_PASSWORD-}" --database="$MYSHARD_DB" "$@"
}

# name | SQL type | row 1 ("low") literal | row 2 ("high") literal; row 3 is all NULL.
# Expected output: the literal without quotes; 0x literals are read back through HEX().
# The high BLOB: "\0 \1 \xff \0 ' ' b i n \0" then every byte value 00..FF.
blob_high="0x0001FF002062696E00$(printf '%02X' $(seq 0 255))"
CASES="
c_tinyint|TINYINT|-128|127
c_smallint|SMALLINT|-32768|32767
c_int|INT|-2147483648|2147483647
c_bigint|BIGINT|-9223372036854775808|9223372036854775807
c_ubigint|BIGINT UNSIGNED|0|18446744073709551615
c_decimal|DECIMAL(20,6)|-12345678901234.123456|99999999999999.999999
c_float|FLOAT|-0.15625|10000000000
c_double|DOUBLE|-1.7976931348623157e308|2.2250738585072014e-308
c_date|DATE|'1000-01-01'|'9999-12-31'
c_datetime|DATETIME(6)|'1000-01-01 00:00:00.000001'|'9999-12-31 23:59:59.999999'
c_time|TIME|'-838:59:59'|'838:59:59'
c_timestamp|TIMESTAMP NULL|'2000-01-01 00:00:00'|'2037-12-31 23:59:59'
c_varchar|VARCHAR(64)|''|'Grüße, café, ñandú 😀🚀 日本語'
c_blob|BLOB|0x00|$blob_high
c_json|JSON|'[]'|'{\"k\": [1, 2.5, \"é😀\"], \"n\": null}'
"

names=(id tag) exprs=(id tag) defs=() low=(1 "'low'") high=(2 "'high'") nulls=(3 "'nulls'")
while IFS='|' read -r name type lo hi; do
  [[ -n "$name" ]] || continue
  names+=("$name") defs+=("$name $type") low+=("$lo") high+=("$hi") nulls+=(NULL)
  if [[ "$lo" == 0x* ]]; then exprs+=("HEX($name)"); else exprs+=("$name"); fi
done <<<"$CASES"

join() { local IFS="$1"; shift; echo "$*"; }
# Expected output of a literal: quotes stripped, 0x dropped (HEX() prints upper case).
output_of() {
  local parts=() v
  for v in "$@"; do
    v="${v#0x}"; v="${v#\'}"; v="${v%\'}"; parts+=("$v")
  done
  join $'\t' "${parts[@]}"
}
compare_row() { # what, expected line, got line: names the first differing column
  local what="$1" want_cols got_cols i
  # Split on \x1f, not on tabs: IFS whitespace would merge the tabs around an empty field.
  IFS=$'\x1f' read -r -a want_cols <<<"${2//$'\t'/$'\x1f'}"
  IFS=$'\x1f' read -r -a got_cols <<<"${3//$'\t'/$'\x1f'}"
  for i in "${!names[@]}"; do
    expect "$what: ${names[$i]}" "${want_cols[$i]-<missing>}" "${got_cols[$i]-<missing>}"
  done
  expect "$what: whole row" "$2" "$3"
}

# --- table
sql <<<"DROP TABLE IF EXISTS $table;
CREATE TABLE $table (id INT AUTO_INCREMENT PRIMARY KEY, tag VARCHAR(32) NOT NULL UNIQUE,
  $(join , "${defs[@]}"), c_long LONGBLOB) DEFAULT CHARSET=utf8mb4 AUTO_INCREMENT=100;" \
  || fail "create table"

# --- types: bound by EXECUTE ... USING, read back plainly and through EXECUTE ... USING
marks=$(printf '?,%.0s' "${names[@]}") marks=${marks%,}
sql <<<"PREPARE ins FROM 'INSERT INTO $table ($(join , "${names[@]}")) VALUES ($marks)';
EXECUTE ins USING $(join , "${low[@]}");
EXECUTE ins USING $(join , "${high[@]}");
EXECUTE ins USING $(join , "${nulls[@]}");" || fail "insert rows"
expected=("$(output_of "${low[@]}")" "$(output_of "${high[@]}")" "$(output_of "${nulls[@]}")")

select="SELECT $(join , "${exprs[@]}") FROM $table"
got=$(sql <<<"$select WHERE id <= 3 ORDER BY id") || fail "plain read"
mapfile -t rows <<<"$got"
expect "plain read: row count" 3 "${#rows[@]}"
for i in 0 1 2; do
  compare_row "plain read of row $((i + 1))" "${expected[$i]}" "${rows[$i]}"
  got=$(sql <<<"PREPARE sel FROM '$select WHERE id = ?'; EXECUTE sel USING $((i + 1));") \
    || fail "parameter read of row $((i + 1))"
  compare_row "parameter read of row $((i + 1))" "${expected[$i]}" "$got"
done
# Parameters compared server-side: row 2 must be found by its extreme values (BIGINT .. DOUBLE).
got=$(sql <<<"PREPARE f FROM 'SELECT id FROM $table WHERE c_bigint = ? AND c_ubigint = ?
  AND c_decimal = ? AND c_float = ? AND c_double = ?'; EXECUTE f USING $(join , "${high[@]:5:5}");")
expect "lookup of row 2 by bound high values" 2 "$got"

# --- affected rows (row 1 changes -128 -> 127, row 2 already holds 127) and last insert id
got=$(sql -vvv <<<"PREPARE upd FROM 'UPDATE $table SET c_tinyint = ? WHERE id IN (?, ?)';
EXECUTE upd USING 127, 1, 2;" | grep -A1 '^Query OK, [0-9]* rows\? affected' | tail -2)
expect "UPDATE result (changed rows)" $'Query OK, 1 row affected\nRows matched: 2  Changed: 1  Warnings: 0' \
  "$(sed 's/ ([0-9.]* sec)$//' <<<"$got")"  # drop the timing
got=$(sql <<<"INSERT INTO $table (tag) VALUES ('ai');
SELECT LAST_INSERT_ID(), (SELECT id FROM $table WHERE tag = 'ai');")
expect "last insert id, id of the row" $'100\t100' "$got"

# --- errors, each followed by SELECT 1 on the same connection (--force goes on, no reconnect)
err=$(mktemp) big=$(mktemp) out=$(mktemp)
trap 'rm -f "$err" "$big" "$out"' EXIT
got=$(sql --force 2>"$err" <<<"SELEC 1;
SELECT 1;
INSERT INTO $table (tag) VALUES ('ai');
SELECT 1;") || true
grep -q '^ERROR 1064 (42000)' "$err" || fail "syntax error: expected ERROR 1064 (42000), got $(show "$(cat "$err")")"
grep -q '^ERROR 1062 (23000)' "$err" || fail "duplicate key: expected ERROR 1062 (23000), got $(show "$(cat "$err")")"
expect "SELECT 1 after each error" $'1\n1' "$got"

# --- transactions
sql <<<"START TRANSACTION; INSERT INTO $table (tag) VALUES ('rolled-back'); ROLLBACK;
START TRANSACTION; INSERT INTO $table (tag) VALUES ('committed'); COMMIT;" || fail "transactions"
expect "rows left by a rolled-back and a committed transaction" committed \
  "$(sql <<<"SELECT tag FROM $table WHERE tag IN ('rolled-back', 'committed')")"

# --- a 5 MiB value, bound as a hex literal, read back raw (one row, one column, then \n)
head -c $((5 * 1024 * 1024)) /dev/urandom >"$big"
{ printf "PREPARE big FROM 'INSERT INTO %s (tag, c_long) VALUES (?, ?)';\nEXECUTE big USING 'big', 0x" "$table"
  od -An -v -tx1 "$big" | tr -d ' \n'
  printf ';\n'; } | sql || fail "insert 5 MiB value"
for how in plain parameter; do
  if [[ $how == plain ]]; then q="SELECT c_long FROM $table WHERE tag = 'big'"
  else q="PREPARE s FROM 'SELECT c_long FROM $table WHERE tag = ?'; EXECUTE s USING 'big';"; fi
  sql <<<"$q" | head -c -1 >"$out" || fail "$how read of 5 MiB value"
  cmp -s "$big" "$out" || fail "5 MiB value, $how read: expected $(stat -c %s "$big") bytes, got" \
    "$(stat -c %s "$out") bytes, first difference: $(cmp "$big" "$out" 2>&1 | head -1)"
done

echo "OK $client $mode"
