"""Multi-row inserts: every row written, in statements the parameter limit allows."""

from __future__ import annotations

import sqlite3

from affiliate_sdk.storage.sqlite._dialect import MAX_INSERT_PARAMETERS, insert_rows


def test_rows_beyond_one_statement_are_all_written_and_conflicts_resolved() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, a INTEGER, b TEXT)")
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    per_statement = MAX_INSERT_PARAMETERS // 3
    rows = [(f"k{n}", n, "x") for n in range(2 * per_statement + 7)]
    rows.append(("k3", 1000, "again"))  # conflicts with a row in the first statement
    insert_rows(
        conn, "INSERT INTO t (k, a, b)", rows, "ON CONFLICT (k) DO UPDATE SET a = t.a + excluded.a"
    )
    assert len(statements) == 3  # not a statement per row
    conn.set_trace_callback(None)
    assert conn.execute("SELECT count(*), sum(a) FROM t").fetchone() == (
        len(rows) - 1,
        sum(n for n in range(len(rows) - 1)) + 1000,
    )
    assert conn.execute("SELECT a, b FROM t WHERE k = 'k3'").fetchone() == (1003, "x")
    conn.set_trace_callback(statements.append)
    insert_rows(conn, "INSERT INTO t (k, a, b)", [])  # nothing to write: no statement
    assert len(statements) == 3
