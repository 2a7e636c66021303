"""What every builder receives: one recognised file's raw rows and how its columns map."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from evenhand import maps
from evenhand.core.normalise import C1_PATTERN, Collector, clean_text


@dataclass
class RawInput:
    file_id: int
    name: str
    layout: maps.Layout
    publication: str
    as_at: date | None
    columns: dict[str, str]  # canonical -> raw-layer column name
    headers: dict[str, str]  # canonical -> header as published (for messages)
    frame: pl.DataFrame  # raw layer: all text, with _row
    c1_free: bool = False  # known to hold no C1 character (read.containers.Opened.c1_free): no search

    def canonical(self, wanted: list[str] | None = None) -> pl.DataFrame:
        """The mapped columns renamed to canonical names and cleaned (nulls, C1 characters)."""
        cols = [c for c in (wanted or list(self.columns)) if c in self.columns]
        df = self.frame.select([pl.col("_row")] + [pl.col(self.columns[c]).alias(c) for c in cols])
        # repairing C1 characters is costly; do it only in the columns that have any
        if self.c1_free:
            has_c1 = dict.fromkeys(cols, False)
        else:
            has_c1 = df.select([pl.col(c).str.contains(C1_PATTERN).any().alias(c) for c in cols]).row(0, named=True)
        return df.with_columns([clean_text(c, repair=bool(has_c1[c])) for c in cols])

    def collector(self) -> Collector:
        return Collector(self.name, self.file_id)
