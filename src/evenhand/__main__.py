"""`python -m evenhand ...` is `evenhand ...` (where the console script is not on PATH)."""

from evenhand.cli import app

app(prog_name="evenhand")
