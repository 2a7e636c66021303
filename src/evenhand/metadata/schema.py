"""The declaration types and what they generate: DDL, Polars schema, validation, docs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from evenhand.errors import InputError, Problem

# declared type -> (DuckDB type, Polars type)
TYPES: dict[str, tuple[str, pl.DataType]] = {
    "text": ("VARCHAR", pl.String()),
    "int": ("BIGINT", pl.Int64()),
    "smallint": ("SMALLINT", pl.Int16()),
    "float": ("DOUBLE", pl.Float64()),
    "date": ("DATE", pl.Date()),
    "bool": ("BOOLEAN", pl.Boolean()),
    "text[]": ("VARCHAR[]", pl.List(pl.String())),
    "blob": ("BLOB", pl.Binary()),
}


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    description: str
    nullable: bool = True
    allowed: tuple[str, ...] | Callable[[], tuple[str, ...]] | None = None
    unit: str | None = None
    #: "schema.table.field" this field's values are found in (a foreign key; exported as such)
    references: str | None = None
    #: DuckDB storage compression of the column (``USING COMPRESSION``); None: DuckDB chooses
    compression: str | None = None

    def allowed_values(self) -> tuple[str, ...] | None:
        if self.allowed is None:
            return None
        return self.allowed() if callable(self.allowed) else self.allowed


@dataclass(frozen=True)
class Table:
    name: str
    schema: str
    description: str
    fields: tuple[Field, ...]
    primary_key: tuple[str, ...] = ()

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def column_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def polars_schema(self) -> dict[str, pl.DataType]:
        return {f.name: TYPES[f.type][1] for f in self.fields}

    def ddl(self, checks: bool = True) -> str:
        """CREATE TABLE from the fields: types, NOT NULL and (``checks``) CHECK allowed values.

        The build creates tables with ``checks=False``: :meth:`validate` checks the same
        allowed values before every insert, and checking them twice cost a fifth of the
        DuckDB writes (docs/decisions/0800-build-performance.md).
        """
        cols = []
        for f in self.fields:
            col = f'"{f.name}" {TYPES[f.type][0]}'
            if f.compression:
                col += f" USING COMPRESSION {f.compression}"
            if not f.nullable:
                col += " NOT NULL"
            allowed = f.allowed_values()
            if checks and allowed is not None and f.type == "text":
                values = ", ".join("'" + v.replace("'", "''") + "'" for v in allowed)
                col += f' CHECK ("{f.name}" IN ({values}))'
            cols.append(col)
        # The primary key is enforced by validate() (a Polars check, before insert), not by a
        # DuckDB index: the index cost more than the whole build of the table (docs/decisions/0003).
        return f"CREATE TABLE {self.qualified} (\n  " + ",\n  ".join(cols) + "\n)"

    def conform(self, df: pl.DataFrame) -> pl.DataFrame:
        """Select and cast the declared columns in order (missing ones become typed nulls)."""
        exprs = []
        for f in self.fields:
            dtype = TYPES[f.type][1]
            if f.name in df.columns:
                exprs.append(pl.col(f.name).cast(dtype, strict=True))
            else:
                exprs.append(pl.lit(None, dtype=dtype).alias(f.name))
        return df.select(exprs)

    def validate(self, df: pl.DataFrame) -> pl.DataFrame:
        """Check a frame against the declaration; raise InputError naming the field and value.

        Every check is generated from the fields: exactly the declared columns, in order, each
        of its declared type; no nulls where a field is not nullable; only allowed values where
        a field declares them; no two rows sharing the primary key. The checks run as one
        vectorised Polars pass (pandera did the same checks row-group by row-group, at several
        times the cost: docs/decisions/0800-build-performance.md).
        """
        where = f"table {self.qualified}"
        if df.columns != self.column_names:
            extra = [c for c in df.columns if c not in self.column_names]
            missing = [c for c in self.column_names if c not in df.columns]
            raise InputError([Problem(where, None, ", ".join(extra + missing) or None, None,
                                      f"columns differ from the declaration (extra: {extra}, missing: {missing}, or out of order)")])
        problems: list[Problem] = []
        total = 0
        for f in self.fields:
            want = TYPES[f.type][1]
            if df.schema[f.name] != want:
                problems.append(Problem(where, None, f.name, str(df.schema[f.name]), f"fails dtype {want} (declared {f.type})"))
                total += 1
        if problems:
            raise InputError(problems, total=total)
        if self.primary_key:
            dup = df.filter(pl.struct(list(self.primary_key)).is_duplicated())
            if dup.height:
                first = dup.row(0, named=True)
                key = ", ".join(f"{k}={first[k]!r}" for k in self.primary_key)
                raise InputError(
                    [Problem(where, None, ", ".join(self.primary_key), key,
                             f"{dup.height} rows share a primary key")]
                )
        checks: list[tuple[Field, str, pl.Expr]] = []
        for f in self.fields:
            if not f.nullable:
                checks.append((f, "not_nullable", pl.col(f.name).is_null()))
            allowed = f.allowed_values()
            if allowed is not None:
                checks.append((f, f"isin({list(allowed)})", pl.col(f.name).is_not_null() & ~pl.col(f.name).is_in(list(allowed))))
        if not checks or df.height == 0:
            return df
        counts = df.select([e.sum().alias(str(k)) for k, (_, _, e) in enumerate(checks)]).row(0)
        for (f, name, e), n in zip(checks, counts, strict=True):
            if not n:
                continue
            total += int(n)
            for value in df.filter(e).get_column(f.name).head(10 - len(problems) if len(problems) < 10 else 0).to_list():
                problems.append(Problem(where, None, f.name, str(value), f"fails {name}"))
        if total:
            raise InputError(problems, total=total)
        return df

    def markdown(self) -> str:
        lines = [f"### `{self.qualified}`", "", self.description, ""]
        if self.primary_key:
            lines += [f"Primary key: {', '.join(f'`{c}`' for c in self.primary_key)}", ""]
        lines += ["| field | type | null | description | allowed values |", "|---|---|---|---|---|"]
        for f in self.fields:
            allowed = f.allowed_values()
            shown = ", ".join(f"`{v}`" for v in allowed) if allowed else ""
            unit = f" ({f.unit})" if f.unit else ""
            ref = f" (a `{f.references}`)" if f.references else ""
            lines.append(
                f"| `{f.name}` | {f.type} | {'yes' if f.nullable else 'no'} | {f.description}{unit}{ref} | {shown} |"
            )
        return "\n".join(lines) + "\n"
