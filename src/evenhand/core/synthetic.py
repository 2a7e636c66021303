"""The SYNTHETIC mark, where the build reads it: files written by ``evenhand demo`` carry
:data:`STAMP` in a title row above their header (as Ofsted's files carry a title), and a
warehouse built from any such file is synthetic (``meta.build`` key ``synthetic`` = ``true``),
whichever command built it (``demo``, ``run`` or ``build`` on the demo's raw files), so every
output built from it says so (evenhand.present.synthetic)."""

from __future__ import annotations

from collections.abc import Sequence

#: what every output of a synthetic warehouse says, first
STAMP = "SYNTHETIC DATA — not real schools"


def title_says_synthetic(top: Sequence[Sequence[str]], header_index: int) -> bool:
    """True when a row above the header (a title row) starts with :data:`STAMP`."""
    return any(str(c).strip().startswith(STAMP) for row in top[:header_index] for c in row[:1])
