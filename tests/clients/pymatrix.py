"""Checks shared by the Python DB-API clients of the client matrix.

Each client program (py_pymysql.py, py_connector.py) opens its own connection and hands it
to `run` together with what differs between drivers: how to get a plain (text protocol) cursor
and a parameter cursor, whether the driver sets CLIENT_FOUND_ROWS, and which checks a known
driver bug forces us to skip. Any mismatch raises `Mismatch`; `main` turns it into a loud
failure (message on stderr, exit status 1).
"""

import datetime
import os
import random
import sys
import traceback
from decimal import Decimal

D = datetime.timedelta

# column, SQL type, value in row 1 ("low"), value in row 2 ("high"); row 3 is all NULL.
CASES = [
    ("c_tinyint", "TINYINT", -128, 127),
    ("c_smallint", "SMALLINT", -32768, 32767),
    ("c_int", "INT", -2147483648, 2147483647),
    ("c_bigint", "BIGINT", -9223372036854775808, 9223372036854775807),
    ("c_ubigint", "BIGINT UNSIGNED", 0, 18446744073709551615),
    ("c_decimal", "DECIMAL(20,6)", Decimal("-12345678901234.123456"), Decimal("99999999999999.999999")),
    ("c_float", "FLOAT", -0.15625, 1e10),  # exact in float32 and in 6 printed digits
    ("c_double", "DOUBLE", -1.7976931348623157e308, 2.2250738585072014e-308),
    ("c_date", "DATE", datetime.date(1000, 1, 1), datetime.date(9999, 12, 31)),
    ("c_datetime", "DATETIME(6)", datetime.datetime(1000, 1, 1, 0, 0, 0, 1),
     datetime.datetime(9999, 12, 31, 23, 59, 59, 999999)),
    ("c_time", "TIME", -D(hours=838, minutes=59, seconds=59), D(hours=838, minutes=59, seconds=59)),
    ("c_timestamp", "TIMESTAMP NULL", datetime.datetime(2000, 1, 1, 0, 0, 0),
     datetime.datetime(2037, 12, 31, 23, 59, 59)),
    ("c_varchar", "VARCHAR(64)", "", "Grüße, café, ñandú 😀🚀 日本語"),
    ("c_blob", "BLOB", b"\x00", b"\x00\x01\xff\x00 bin\x00" + bytes(range(256))),
    ("c_json", "JSON", "[]", '{"k": [1, 2.5, "é😀"], "n": null}'),
]
ROWS = {1: "low", 2: "high", 3: "nulls"}
BIG_SIZE = 5 * 1024 * 1024


class Mismatch(Exception):
    """A check found something other than what plain MariaDB gives."""


def expect(what, expected, got):
    if expected != got:
        raise Mismatch(f"{what}: expected {short(expected)}, got {short(got)}")


def short(value):
    text = repr(value)
    return text if len(text) <= 300 else f"{text[:300]}... ({len(text)} chars)"


def expected_row(row_id):
    pick = {1: 2, 2: 3}.get(row_id)
    return [row_id, ROWS[row_id]] + [None if pick is None else case[pick] for case in CASES]


def normalize(value):
    """Drivers differ in container types only (bytearray vs bytes); compare the content."""
    return bytes(value) if isinstance(value, (bytearray, memoryview)) else value


def compare_row(how, expected, got, skip):
    expect(f"{how}: column count", len(expected), len(got))
    names = ["id", "tag"] + [case[0] for case in CASES]
    for name, want, have in zip(names, expected, got):
        if (name, expected[0]) in skip:
            continue
        have = normalize(have)
        expect(f"{how}: {name}", (type(want), want), (type(have), have))


class Matrix:
    """One run of every check for one client in one mode."""

    def __init__(self, conn, table, plain_cursor, param_cursor, error_code, found_rows,
                 skip_read=(), skip_bind=()):
        self.conn = conn
        self.table = table
        self.plain_cursor = plain_cursor
        self.param_cursor = param_cursor
        self.error_code = error_code
        self.found_rows = found_rows
        # (column, row id) pairs whose values are not compared on parameter reads.
        self.skip_read = set(skip_read)
        # Columns never bound through param_cursor: they are written by the plain cursor.
        self.skip_bind = set(skip_bind)

    def plain(self, sql, args=None):
        cur = self.plain_cursor()
        cur.execute(sql, args)
        rows = cur.fetchall() if cur.description else None
        cur.close()
        return rows

    def param(self, sql, args):
        cur = self.param_cursor()
        cur.execute(sql, args)
        rows = [list(r) for r in cur.fetchall()] if cur.description else None
        result = (rows, cur.rowcount, cur.lastrowid)
        cur.close()
        return result

    def run(self):
        self.create_table()
        self.types()
        self.affected_rows_and_insert_id()
        self.errors()
        self.transactions()
        self.big_value()

    def create_table(self):
        cols = ", ".join(f"{name} {sqltype}" for name, sqltype, _, _ in CASES)
        self.plain(f"DROP TABLE IF EXISTS {self.table}")
        self.plain(
            f"CREATE TABLE {self.table} (id INT AUTO_INCREMENT PRIMARY KEY,"
            f" tag VARCHAR(32) NOT NULL UNIQUE, {cols}, c_long LONGBLOB)"
            " DEFAULT CHARSET=utf8mb4 AUTO_INCREMENT=100"
        )

    def types(self):
        names = ["id", "tag"] + [case[0] for case in CASES]
        bound = [n for n in names if n not in self.skip_bind]
        marks = ", ".join(["%s"] * len(bound))
        for row_id in ROWS:
            values = dict(zip(names, expected_row(row_id)))
            self.param(f"INSERT INTO {self.table} ({', '.join(bound)}) VALUES ({marks})",
                       [values[n] for n in bound])
            for name in self.skip_bind:
                self.plain(f"UPDATE {self.table} SET {name} = %s WHERE id = %s",
                           (values[name], row_id))
        select = f"SELECT {', '.join(names)} FROM {self.table}"
        got = self.plain(f"{select} WHERE id <= 3 ORDER BY id")
        expect("plain read: row count", 3, len(got))
        for row in got:
            compare_row(f"plain read of row {row[0]}", expected_row(row[0]), list(row), ())
        for row_id in ROWS:
            rows, _, _ = self.param(f"{select} WHERE id = %s", (row_id,))
            expect(f"parameter read of row {row_id}: row count", 1, len(rows))
            compare_row(f"parameter read of row {row_id}", expected_row(row_id), rows[0],
                        self.skip_read)
        # Parameters compared server-side: the high row must be found by its extreme values.
        high = dict(zip(names, expected_row(2)))
        keys = [n for n in ("c_bigint", "c_ubigint", "c_decimal", "c_double", "c_time",
                            "c_varchar", "c_blob") if n not in self.skip_bind]
        rows, _, _ = self.param(
            f"SELECT id FROM {self.table} WHERE " + " AND ".join(f"{n} = %s" for n in keys),
            [high[n] for n in keys])
        expect(f"lookup of row 2 by bound values of {', '.join(keys)}", [[2]], rows)

    def affected_rows_and_insert_id(self):
        # Row 1 changes (-128 -> 127), row 2 already holds 127: matched 2, changed 1.
        _, count, _ = self.param(f"UPDATE {self.table} SET c_tinyint = %s WHERE id IN (%s, %s)",
                                 (127, 1, 2))
        expect("UPDATE affected rows", 2 if self.found_rows else 1, count)
        _, _, insert_id = self.param(f"INSERT INTO {self.table} (tag) VALUES (%s)", ("ai",))
        rows = self.plain(f"SELECT id FROM {self.table} WHERE tag = 'ai'")
        expect("last insert id", rows[0][0], insert_id)
        expect("AUTO_INCREMENT value", 100, insert_id)

    def errors(self):
        for what, sql, args, code in [
            ("syntax error", "SELEC %s", (1,), 1064),
            ("duplicate key", f"INSERT INTO {self.table} (tag) VALUES (%s)", ("ai",), 1062),
        ]:
            try:
                self.param(sql, args)
            except Exception as exc:  # each driver has its own error class
                expect(f"{what}: error code", code, self.error_code(exc))
            else:
                raise Mismatch(f"{what}: expected error {code}, the statement succeeded")
            expect(f"SELECT 1 after {what}", [(1,)], [tuple(r) for r in self.plain("SELECT 1")])

    def transactions(self):
        # PyMySQL spells it begin(), mysql-connector start_transaction().
        begin = getattr(self.conn, "begin", None) or self.conn.start_transaction
        for tag, finish in [("rolled-back", self.conn.rollback), ("committed", self.conn.commit)]:
            begin()
            self.param(f"INSERT INTO {self.table} (tag) VALUES (%s)", (tag,))
            finish()
        rows = self.plain(f"SELECT tag FROM {self.table} WHERE tag IN ('rolled-back', 'committed')")
        expect("rows left by a rolled-back and a committed transaction",
               [("committed",)], [tuple(r) for r in rows])

    def big_value(self):
        big = random.Random(5).randbytes(BIG_SIZE)
        self.param(f"INSERT INTO {self.table} (tag, c_long) VALUES (%s, %s)", ("big", big))
        select = f"SELECT c_long FROM {self.table} WHERE tag = "
        plain = self.plain(select + "'big'")[0][0]
        param = self.param(select + "%s", ("big",))[0][0][0]
        for how, got in [("plain", plain), ("parameter", param)]:
            got = normalize(got)
            if got != big:
                first = next((i for i, (a, b) in enumerate(zip(big, got)) if a != b), None)
                raise Mismatch(f"5 MiB value, {how} read: expected {len(big)} bytes, got "
                               f"{len(got)} bytes, first difference at offset {first}")


def settings():
    """Connection settings from the MYSHARD_* environment variables."""
    env = os.environ
    missing = [v for v in ("MYSHARD_HOST", "MYSHARD_PORT", "MYSHARD_USER", "MYSHARD_DB")
               if v not in env]
    if missing:
        sys.exit(f"missing environment variables: {', '.join(missing)}")
    return dict(host=env["MYSHARD_HOST"], port=int(env["MYSHARD_PORT"]), user=env["MYSHARD_USER"],
                password=env.get("MYSHARD_PASSWORD", ""), database=env["MYSHARD_DB"])


def main(client, mode, build):
    """Run `build()` -> Matrix, then every check; print OK or fail loudly."""
    try:
        build().run()
    except Mismatch as exc:
        sys.exit(f"FAIL {client} {mode}: {exc}")
    except Exception:
        traceback.print_exc()
        sys.exit(f"FAIL {client} {mode}: unexpected exception (above)")
    print(f"OK {client} {mode}")
