"""Errors a user can act on: each names the file, row, column and value at fault."""

from __future__ import annotations

from dataclasses import dataclass


class EvenhandError(Exception):
    """Base class for errors shown to users as a clear message (never a traceback)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one value of one input file.

    ``row`` is the 1-based row as a spreadsheet shows it (title rows and the header row
    count), so a user can open the file and go straight to it. ``None`` means the whole file.
    """

    file: str
    row: int | None
    column: str | None
    value: str | None
    message: str

    def __str__(self) -> str:
        where = [f"file {self.file}"]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        if self.value is not None:
            shown = self.value if len(self.value) <= 80 else self.value[:77] + "..."
            where.append(f"value {shown!r}")
        return f"{', '.join(where)}: {self.message}"


class InputError(EvenhandError):
    """Bad input: one or more problems in the named file(s)."""

    def __init__(self, problems: list[Problem], total: int | None = None) -> None:
        self.problems = problems
        self.total = total if total is not None else len(problems)
        shown = "\n  ".join(str(p) for p in problems[:10])
        more = f"\n  ... and {self.total - 10} more" if self.total > 10 else ""
        super().__init__(f"{self.total} problem(s) in the input:\n  {shown}{more}")


class UnknownSchoolError(EvenhandError):
    """A URN that is not in the warehouse."""


class UnknownInspectionError(EvenhandError):
    """An inspection (event id or start date) that is not one of the school's."""
