#!/usr/bin/env python3
"""Client matrix: PyMySQL (text protocol only; parameters are interpolated client-side).

PyMySQL does not set CLIENT_FOUND_ROWS by default, so UPDATE reports changed rows.
"""

import pymysql

import pymatrix


def build():
    conn = pymysql.connect(**pymatrix.settings(), charset="utf8mb4", autocommit=True)
    return pymatrix.Matrix(
        conn,
        table="cm_pymysql_text",
        plain_cursor=conn.cursor,
        param_cursor=conn.cursor,
        error_code=lambda exc: exc.args[0],
        found_rows=False,
    )


if __name__ == "__main__":
    pymatrix.main("pymysql", "text", build)
