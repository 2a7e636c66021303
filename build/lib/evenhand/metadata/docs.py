"""Generate docs/data-dictionary.md from the field metadata and the maps.

    python -m evenhand.metadata.docs > docs/data-dictionary.md

A test fails when the committed file is stale.
"""

from __future__ import annotations

from evenhand import maps
from evenhand.metadata.tables import TABLES


def data_dictionary() -> str:
    parts = [
        "# Data dictionary",
        "",
        "Generated from `src/evenhand/metadata/` and `src/evenhand/maps/` by "
        "`python -m evenhand.metadata.docs`; do not edit by hand.",
        "",
        "## Tables",
        "",
    ]
    for t in TABLES:
        parts.append(t.markdown())
    parts += ["## Grading scales (maps/codes.csv)", "", "| scale | code | label | valid from | valid to | graded |", "|---|---|---|---|---|---|"]
    for c in maps.codes():
        parts.append(f"| {c.scale} | `{c.code}` | {c.label} | {c.valid_from or ''} | {c.valid_to or ''} | {'yes' if c.graded else 'no'} |")
    parts += ["", "## Judgement areas (maps/areas.csv)", "", "| area | scales | description |", "|---|---|---|"]
    for a in maps.areas().values():
        parts.append(f"| `{a.area}` | {', '.join(a.scales)} | {a.description} |")
    parts += ["", "## Framework eras (maps/eras.csv)", "", "| era | from | to | description |", "|---|---|---|---|"]
    for e in maps.eras():
        parts.append(f"| `{e.era}` | {e.valid_from} | {e.valid_to or ''} | {e.description} |")
    parts += ["", "## Layouts recognised (maps/layouts.toml)", "", "| layout | what it is |", "|---|---|"]
    for layout in maps.layouts().values():
        parts.append(f"| `{layout.name}` | {layout.title} |")
    return "\n".join(parts) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(data_dictionary(), end="")
