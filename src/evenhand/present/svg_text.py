"""WeasyPrint's SVG ``<text>``, laid out and drawn as one run of glyphs instead of one Pango
layout per letter.

WeasyPrint (62-70) draws every SVG text element letter by letter (``weasyprint.svg.text.text``):
a Pango layout, a line split and a PDF text object per character, so that per-letter ``x``,
``y``, ``dx``, ``dy`` and ``rotate`` lists can be honoured. Evenhand's charts (the school
timeline, present/timeline.py, and the pack's Vega-Lite SVGs) never use those lists: each label
is one ``<text x=".." y="..">`` with a font size, weight, fill and anchor. Those are about a
tenth of a school PDF's CPU time (19 labels, ~500 letters). :func:`fast_text` draws such a
label as one layout at the same place, with the same font, fill, bounding box (for
``text-anchor``) and cursor; any text using a per-letter feature (several values in ``x`` or
``y``, ``dx``, ``dy``, ``rotate``, ``letter-spacing``, ``textLength``) or with no text goes to
WeasyPrint's own function, unchanged. The one visible difference: the font's kerning applies
inside a label (letter by letter it cannot), moving later letters by a fraction of a point.

:func:`install` puts :func:`fast_text` in WeasyPrint's table of SVG tags once per process
(html_to_pdf calls it), and the name ``weasyprint.svg.text`` that WeasyPrint's ``draw_node``
compares it with; it checks that both still hold the function it replaces, so a
WeasyPrint release that changes this code keeps its own drawing rather than a wrong one.
"""

from __future__ import annotations

import threading
from math import inf
from typing import Any

_LOCK = threading.Lock()
_INSTALLED: dict[str, Any] = {}

#: attributes that place letters one by one: a text using any of them is drawn by WeasyPrint
PER_LETTER = ("dx", "dy", "rotate", "letter-spacing", "textLength")


def simple(node: Any) -> bool:
    """True when the text node can be drawn as one run: it has text, at most one value in
    ``x`` and in ``y``, and none of the per-letter attributes."""
    from weasyprint.svg.utils import normalize

    if not node.text:
        return False
    attrib = node.attrib
    if any(name in attrib for name in PER_LETTER):
        return False
    return all(len(normalize(attrib[name]).split()) <= 1 for name in ("x", "y") if name in attrib)


def fast_text(svg: Any, node: Any, font_size: float) -> None:
    """Draw an SVG text node as WeasyPrint's ``svg.text.text`` does, but as one layout."""
    original = _INSTALLED["original"]
    if not simple(node):
        original(svg, node, font_size)
        return
    from weasyprint.css.properties import INITIAL_VALUES
    from weasyprint.draw.text import draw_emojis, draw_first_line
    from weasyprint.matrix import Matrix
    from weasyprint.svg.bounding_box import extend_bounding_box
    from weasyprint.svg.text import Style, TextBox
    from weasyprint.svg.utils import normalize, size
    from weasyprint.text.line_break import split_first_line

    # the style exactly as svg.text.text builds it
    style = Style()
    style.update(INITIAL_VALUES)
    style.font_config = svg.font_config
    style["font_family"] = [font.strip("\"'") for font in node.get("font-family", "sans-serif").split(",")]
    style["font_style"] = node.get("font-style", "normal")
    style["font_weight"] = node.get("font-weight", 400)
    style["font_size"] = font_size
    if node.get("direction") in ("ltr", "rtl"):
        style["direction"] = node.get("direction")
    if style["font_weight"] == "normal":
        style["font_weight"] = 400
    elif style["font_weight"] == "bold":
        style["font_weight"] = 700
    else:
        try:
            style["font_weight"] = int(style["font_weight"])
        except ValueError:
            style["font_weight"] = 400

    layout, _, _, width, height, baseline = split_first_line(node.text, style, svg.context, inf, 0)

    x = size(normalize(node.attrib["x"]).strip(), font_size, svg.inner_width) if "x" in node.attrib else None
    y = size(normalize(node.attrib["y"]).strip(), font_size, svg.inner_height) if "y" in node.attrib else None

    # vertical alignment, as svg.text.text
    ascent, descent = font_size * 0.8, font_size * 0.2
    y_align = 0.0
    display_anchor = node.get("display-anchor")
    alignment_baseline = node.get("dominant-baseline", node.get("alignment-baseline"))
    if display_anchor == "middle":
        y_align = -height / 2
    elif display_anchor == "top":
        pass
    elif display_anchor == "bottom":
        y_align = -height
    elif alignment_baseline in ("central", "middle"):
        y_align = (ascent + descent) / 2 - descent
    elif alignment_baseline in ("text-before-edge", "before_edge", "top", "hanging", "text-top"):
        y_align = ascent
    elif alignment_baseline in ("text-after-edge", "after_edge", "bottom", "text-bottom"):
        y_align = -descent

    # the cursor, as the first letter moves it (x or y given: its offset restarts)
    if x:
        svg.cursor_d_position[0] = 0
    if y:
        svg.cursor_d_position[1] = 0
    x = svg.cursor_position[0] if x is None else x
    y = svg.cursor_position[1] if y is None else y
    svg.cursor_position = x + width, y
    x_position = x + svg.cursor_d_position[0]
    y_position = y + svg.cursor_d_position[1] + y_align
    points = ((x_position, y_position - baseline), (x_position + width, y_position - baseline + height))
    node.text_bounding_box = extend_bounding_box(node.text_bounding_box, points)

    svg.stream.push_state()
    fill, stroke = svg.set_graphical_state(node, font_size)
    svg.stream.begin_text()
    layout.reactivate(style)
    svg.fill_stroke(fill, stroke, text=True)
    text_box = TextBox(layout, style)
    text_box.baseline = baseline
    emojis = draw_first_line(svg.stream, text_box, "none", "none", Matrix(a=1, d=-1, e=x_position, f=y_position))
    svg.stream.end_text()
    svg.stream.pop_state()
    draw_emojis(svg.stream, style, x, y, emojis)


def install() -> bool:
    """Use :func:`fast_text` for SVG ``text`` and ``tspan`` in this process (idempotent).
    False (and WeasyPrint left as it is) when its tag table does not hold the function this
    module was written against."""
    with _LOCK:
        if "original" in _INSTALLED:
            return True
        import sys

        from weasyprint import svg as wsvg

        original = getattr(sys.modules["weasyprint.svg.text"], "text", None)
        # draw_node compares TAGS[tag] with its module's name `text` (for text-anchor and the
        # text bounding box): both are replaced, so the comparison still holds
        if original is None or not all(obj is original for obj in (wsvg.TAGS.get("text"), wsvg.TAGS.get("tspan"), getattr(wsvg, "text", None))):
            return False
        _INSTALLED["original"] = original
        wsvg.TAGS["text"] = wsvg.TAGS["tspan"] = fast_text
        wsvg.text = fast_text  # type: ignore[attr-defined]
        return True
