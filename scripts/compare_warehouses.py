"""Compare two warehouses table by table: row counts and an order-independent content hash.

    python scripts/compare_warehouses.py A.duckdb B.duckdb

Every table and view in the core, out, meta and raw schemas (raw views read the Parquet
beside each warehouse). Build timestamps and durations (meta.build 'built_at', 'raw' path;
columns named like *duration*/*seconds*) are excluded. Exit status 1 when any differ.
"""

from __future__ import annotations

import sys

import duckdb

SCHEMAS = ("core", "out", "meta", "raw")
EXCLUDED_COLUMNS = {"duration", "seconds", "built_at"}
EXCLUDED_BUILD_KEYS = ("built_at", "raw")


def tables(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    rows = con.execute(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        f"WHERE table_schema IN {SCHEMAS} ORDER BY table_schema, table_name, ordinal_position"
    ).fetchall()
    out: dict[str, list[str]] = {}
    for s, t, c in rows:
        out.setdefault(f'{s}."{t}"', []).append(c)
    return out


def digest(con: duckdb.DuckDBPyConnection, name: str, cols: list[str]) -> tuple[int, int]:
    kept = [c for c in cols if not any(x in c.lower() for x in EXCLUDED_COLUMNS)]
    where = ""
    if name == 'meta."build"':
        where = " WHERE key NOT IN ('" + "', '".join(EXCLUDED_BUILD_KEYS) + "')"
    row = ", ".join(f'"{c}"' for c in kept)
    # a row's hash of its values as text; summed (order-independent; duplicates counted)
    n, h = con.execute(
        f"SELECT count(*), coalesce(sum(hash(row({row})::VARCHAR)::HUGEINT), 0) FROM {name}{where}"
    ).fetchone()  # type: ignore[misc]
    return int(n), int(h)


def main(a: str, b: str) -> int:
    ca, cb = duckdb.connect(a, read_only=True), duckdb.connect(b, read_only=True)
    ta, tb = tables(ca), tables(cb)
    bad = 0
    for name in sorted(set(ta) | set(tb)):
        if name not in ta or name not in tb:
            print(f"ONLY IN {'A' if name in ta else 'B'}: {name}")
            bad += 1
            continue
        if ta[name] != tb[name]:
            print(f"COLUMNS DIFFER: {name}: {ta[name]} vs {tb[name]}")
            bad += 1
            continue
        da, db = digest(ca, name, ta[name]), digest(cb, name, tb[name])
        flag = "same" if da == db else "DIFFERENT"
        if da != db:
            bad += 1
        print(f"{flag:9} {name:45} {da[0]:>10,} rows  {'' if da == db else f'vs {db[0]:,} rows'}")
    print(f"{len(set(ta) | set(tb))} tables, {bad} differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
