#!/usr/bin/env python3
"""Client matrix: mysql-connector-python.

Modes (argument, default "text"):
  text           pure-Python implementation, plain cursors (text protocol)
  prepared       pure-Python implementation, cursor(prepared=True) (COM_STMT_*)
  cext-text      C extension, plain cursors
  cext-prepared  C extension, cursor(prepared=True)

mysql-connector does not set CLIENT_FOUND_ROWS by default, so UPDATE reports changed rows.
The C extension needs the wheel's own OpenSSL: run.sh puts mysql/vendor on LD_LIBRARY_PATH.
"""

import sys

import mysql.connector

import pymatrix

# Known driver bugs (shared/design/CLIENTS.md), not the server's or the proxy's: the checks
# they break are skipped in exactly the modes that have them.
# skip_read: (column, row id) not compared on parameter reads; skip_bind: columns written with
# the plain cursor instead of being bound to a prepared statement.
SKIPS = {
    # Pure Python, binary rows: negative TIME values (row 1) are decoded wrongly.
    "prepared": dict(skip_read={("c_time", 1)}),
    # C extension, prepared: doubles are bound as 4-byte floats, TIME is bound as 00:00:00,
    # integers above 2^63-1 fail to bind, and BIGINT UNSIGNED is decoded as signed (row 2 holds
    # 18446744073709551615).
    "cext-prepared": dict(skip_bind={"c_double", "c_time", "c_ubigint"},
                          skip_read={("c_ubigint", 2)}),
}


def build(mode):
    use_pure = not mode.startswith("cext")
    prepared = mode.endswith("prepared")
    if not use_pure and not mysql.connector.HAVE_CEXT:
        sys.exit(f"FAIL mysql-connector {mode}: C extension not available")
    conn = mysql.connector.connect(**pymatrix.settings(), charset="utf8mb4",
                                   collation="utf8mb4_general_ci", autocommit=True,
                                   use_pure=use_pure, ssl_disabled=True)
    return pymatrix.Matrix(
        conn,
        table=f"cm_connector_{mode.replace('-', '_')}",
        plain_cursor=conn.cursor,
        param_cursor=(lambda: conn.cursor(prepared=True)) if prepared else conn.cursor,
        error_code=lambda exc: exc.errno,
        found_rows=False,
        **SKIPS.get(mode, {}),
    )


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "text"
    pymatrix.main("mysql-connector", mode, lambda: build(mode))
