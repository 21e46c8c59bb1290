#!/usr/bin/env python3
"""Paging scenario of tests/clients/PAGING.md with mysql-connector-python cursor(prepared=True).

Modes (argument): prepared (pure Python) or cext-prepared (C extension). One prepared cursor
per statement is executed page by page (the driver prepares once per statement text) on the
proxy (MYSHARD_*) and on a plain MariaDB (MYSHARD_REF_*).
"""

import os
import sys
import traceback
from decimal import Decimal

import mysql.connector

import pymatrix
from pymatrix import Mismatch, expect

IDS = range(-20, 301)


def grp(i):
    return i % 3  # Python's modulo is already non-negative


def value(i):
    return f"row {i} é"


EXPECTED = [(i, value(i)) for i in IDS if grp(i) != 1]


def load(conn, table):
    cur = conn.cursor()
    cur.execute(f"DROP TABLE IF EXISTS {table}")
    cur.execute(f"CREATE TABLE {table} (id BIGINT NOT NULL PRIMARY KEY, grp INT NOT NULL,"
                " v VARCHAR(32) NOT NULL) DEFAULT CHARSET=utf8mb4")
    cur.close()
    ins = conn.cursor(prepared=True)
    # Multi-row INSERTs of up to 40 rows (the proxy splits each by shard).
    ids = list(IDS)
    for start in range(0, len(ids), 40):
        batch = ids[start:start + 40]
        marks = ", ".join(["(%s, %s, %s)"] * len(batch))
        ins.execute(f"INSERT INTO {table} (id, grp, v) VALUES {marks}",
                    [x for i in batch for x in (i, grp(i), value(i))])
    ins.close()


def page(cur, sql, args):
    """A page's rows as (id, v) tuples and 0, or no rows and the MySQL error code."""
    try:
        cur.execute(sql, args)
        return [(int(r[0]), r[1]) for r in cur.fetchall()], 0
    except mysql.connector.Error as exc:
        if exc.errno is None or exc.errno < 1000:
            raise
        return [], exc.errno


def page_through(proxy, ref, sql, size, args):
    """Executes `sql` page by page on both connections until a short page; `args(offset,
    last)` gives the values of the page at offset, after the row with id last. Returns pages."""
    pcur, rcur = proxy.cursor(prepared=True), ref.cursor(prepared=True)
    form = sql[sql.index("<> %s") + 6:]
    got_all, pages, offset, last = [], 0, 0, -(2**63)
    while True:
        what = f"{form}, page at offset {offset}"
        got = page(pcur, sql, args(offset, last))
        want = page(rcur, sql, args(offset, last))
        expect(f"{what}: error code (0: none)", want[1], got[1])
        if want[1]:
            raise Mismatch(f"{what}: plain MariaDB answered error {want[1]}")
        expect(f"{what}: rows", want[0], got[0])
        pages += 1
        got_all += got[0]
        if got[0]:
            last = got[0][-1][0]
        if len(got[0]) < size or pages > 100:
            break
        offset += size
    pcur.close()
    rcur.close()
    expect(f"{form}: every page together", EXPECTED, got_all)
    return pages


def run(mode, table):
    settings = pymatrix.settings()
    env = os.environ
    missing = [v for v in ("MYSHARD_REF_PORT", "MYSHARD_REF_USER", "MYSHARD_REF_DB")
               if not env.get(v)]
    if missing:
        raise Mismatch(f"paging needs a plain MariaDB: set {', '.join(missing)}")
    reference = dict(settings, port=int(env["MYSHARD_REF_PORT"]), user=env["MYSHARD_REF_USER"],
                     password=env.get("MYSHARD_REF_PASSWORD", ""),
                     database=env["MYSHARD_REF_DB"])
    use_pure = mode == "prepared"
    if not use_pure and not mysql.connector.HAVE_CEXT:
        raise Mismatch("C extension not available")
    conns = [mysql.connector.connect(**s, charset="utf8mb4", collation="utf8mb4_general_ci",
                                     autocommit=True, use_pure=use_pure, ssl_disabled=True)
             for s in (settings, reference)]
    proxy, ref = conns
    for c in conns:
        load(c, table)
    select = f"SELECT id, v FROM {table} WHERE grp <> %s ORDER BY id"
    offset_pages = page_through(proxy, ref, select + " LIMIT %s OFFSET %s", 7,
                                lambda o, _: (1, 7, o))
    comma_pages = page_through(proxy, ref, select + " LIMIT %s, %s", 5, lambda o, _: (1, o, 5))
    keyset_pages = page_through(
        proxy, ref, f"SELECT id, v FROM {table} WHERE grp <> %s AND id > %s ORDER BY id LIMIT %s",
        9, lambda _, last: (1, last, 9))
    # A wrong type: the count and offset bound as strings, on a statement that was executed
    # with integers first.
    sql = select + " LIMIT %s OFFSET %s"
    cursors = [c.cursor(prepared=True) for c in conns]
    got, want = (page(cur, sql, (1, 5, 120)) for cur in cursors)
    expect("LIMIT 5 OFFSET 120 (integers)", want, got)
    # Other types for the amounts, compared with MariaDB: a fraction, a Decimal, NULL, a
    # negative count; then strings (also checked against the inserted set).
    others = [(2.5, 120), (Decimal("3.5"), 120), (None, 120), (-1, 200), (3, 7.5)]
    for amounts in others:
        got, want = (page(cur, sql, (1, *amounts)) for cur in cursors)
        expect(f"LIMIT {amounts[0]} OFFSET {amounts[1]}", want, got)
    got, want = (page(cur, sql, (1, "5", "120")) for cur in cursors)
    expect("LIMIT '5' OFFSET '120': error code (0: none)", want[1], got[1])
    expect("LIMIT '5' OFFSET '120': rows", want[0], got[0])
    wrong = f"error {got[1]} as MariaDB"
    if not got[1]:
        expect("LIMIT '5' OFFSET '120': rows against the inserted set", EXPECTED[120:125], got[0])
        wrong = f"{len(got[0])} rows as MariaDB"
    cur = proxy.cursor()
    cur.execute(f"SELECT COUNT(*) FROM {table}")
    (n,), = cur.fetchall()
    for c in conns:
        c.close()
    return (f"{n} rows in {table}; LIMIT ? OFFSET ?: {offset_pages} pages;"
            f" LIMIT ?, ?: {comma_pages} pages; id > ? LIMIT ?: {keyset_pages} pages;"
            f" {len(others)} other amount types as MariaDB; LIMIT '5' OFFSET '120': {wrong}")


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "prepared"
    if mode not in ("prepared", "cext-prepared"):
        sys.exit(f"FAIL mysql-connector {mode}: unknown mode (prepared|cext-prepared)")
    table = "cm_paging_connector" + ("_cext" if mode.startswith("cext") else "")
    try:
        detail = run(mode, table)
    except Mismatch as exc:
        sys.exit(f"FAIL mysql-connector {mode}: {exc}")
    except Exception:
        traceback.print_exc()
        sys.exit(f"FAIL mysql-connector {mode}: unexpected exception (above)")
    print(f"OK mysql-connector {mode} ({detail})")


if __name__ == "__main__":
    main()
