"""The dashboard's school search: an in-memory index of every school the warehouse names,
open or closed, and suggestions for misspelt names.

The index holds the latest row of each school in ``core.schools`` and, for a URN that only
the inspection history knows (a closed school, often a predecessor of an academy), the name
its inspections or Get Information About Schools' links give it, with the school it became.

A search that finds nothing is retried word by word against the words of every school name
(Damerau-Levenshtein distance up to a quarter of the word's length): "Cavershem" suggests
"Caversham". The suggestion is shown as such, never silently taken for what was typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

#: Most search results ever returned.
SEARCH_LIMIT = 50
#: Longest search text considered (longer input is cut, never an error).
MAX_QUERY = 100


class Rows(Protocol):
    def rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class SchoolHit:
    urn: int
    school_name: str
    postcode: str | None
    local_authority: str | None
    phase: str | None
    school_type: str | None
    closed: bool = False
    successor_urn: int | None = None
    successor_name: str | None = None


def clean_query(q: str | None) -> str:
    """Search text as the index sees it: printable characters only, trimmed, bounded."""
    if not q:
        return ""
    kept = "".join(ch for ch in q[: MAX_QUERY * 4] if ch.isprintable())
    return " ".join(kept.split())[:MAX_QUERY]


def _like_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def index_sql(has_links: bool) -> list[str]:
    """Statements that build ``memory.main.school_index`` and ``memory.main.name_words`` from
    the attached warehouse ``wh`` (run once, before external access is switched off)."""
    link_names = (
        """UNION ALL SELECT link_urn AS urn, link_name AS name, 2 AS pref, NULL::DATE AS d
           FROM wh.core.gias_links WHERE link_name IS NOT NULL"""
        if has_links
        else ""
    )
    successors = (
        """LEFT JOIN (SELECT urn, arg_min(link_urn, link_urn) AS successor_urn, arg_min(link_name, link_urn) AS successor_name
                      FROM wh.core.gias_links WHERE link_type ILIKE 'successor%' GROUP BY urn) s USING (urn)"""
        if has_links
        else "LEFT JOIN (SELECT NULL::BIGINT AS urn, NULL::BIGINT AS successor_urn, NULL::VARCHAR AS successor_name) s USING (urn)"
    )
    return [
        """
        CREATE TABLE memory.main.open_index AS
        SELECT urn, school_name, postcode, local_authority, phase, school_type
        FROM wh.out.school_latest
        """,
        f"""
        CREATE TABLE memory.main.closed_index AS
        WITH named AS (
            SELECT urn, school_name AS name, 1 AS pref, start_date AS d FROM wh.core.events WHERE school_name IS NOT NULL
            {link_names}
        ), best AS (
            SELECT urn, arg_max(name, struct_pack(p := -pref, d := coalesce(d, DATE '1900-01-01'))) AS school_name
            FROM named WHERE urn NOT IN (SELECT urn FROM memory.main.open_index) GROUP BY urn
        ), typed AS (
            SELECT urn, arg_max(school_type, start_date) AS school_type FROM wh.core.events GROUP BY urn
        )
        SELECT b.urn, b.school_name, t.school_type, s.successor_urn, s.successor_name
        FROM best b LEFT JOIN typed t USING (urn) {successors}
        WHERE b.urn IN (SELECT urn FROM wh.core.events)
        """,
        """
        CREATE TABLE memory.main.school_index AS
        SELECT urn, school_name, postcode, local_authority, phase, school_type,
               false AS closed, NULL::BIGINT AS successor_urn, NULL::VARCHAR AS successor_name,
               lower(school_name) AS name_key, replace(upper(coalesce(postcode, '')), ' ', '') AS pc_key,
               CAST(urn AS VARCHAR) AS urn_key
        FROM memory.main.open_index
        UNION ALL
        SELECT urn, school_name, NULL, NULL, NULL, school_type, true, successor_urn, successor_name,
               lower(school_name), '', CAST(urn AS VARCHAR)
        FROM memory.main.closed_index
        """,
        """
        CREATE TABLE memory.main.name_words AS
        SELECT word, count(*) AS n FROM (
            SELECT unnest(regexp_split_to_array(name_key, '[^a-z0-9'']+')) AS word FROM memory.main.school_index
        ) WHERE length(word) >= 3 GROUP BY word
        """,
        "DROP TABLE memory.main.open_index",
        "DROP TABLE memory.main.closed_index",
    ]


def search(db: Rows, q: str | None) -> list[SchoolHit]:
    """Schools whose name contains ``q``, whose URN is ``q`` or whose postcode starts with it;
    open schools before closed ones, whole-word starts before other matches."""
    text = clean_query(q)
    if len(text) < 2 and not text.isdigit():
        return []
    name = f"%{_like_escape(text.lower())}%"
    pc = f"{_like_escape(text.upper().replace(' ', ''))}%"
    rows = db.rows(
        """
        SELECT urn, school_name, postcode, local_authority, phase, school_type, closed, successor_urn, successor_name
        FROM memory.main.school_index
        WHERE urn_key = ? OR name_key LIKE ? ESCAPE '\\' OR (length(?) >= 2 AND pc_key LIKE ? ESCAPE '\\')
        ORDER BY (urn_key = ?) DESC, (name_key LIKE ? ESCAPE '\\') DESC, closed, school_name, urn
        LIMIT ?
        """,
        [text, name, text, pc, text, f"{_like_escape(text.lower())}%", SEARCH_LIMIT],
    )
    return [SchoolHit(**r) for r in rows]


#: The words of every current school name, for a warehouse without the dashboard's index.
WORDS_OF_SCHOOLS = """(SELECT word, count(*) AS n FROM (
    SELECT unnest(regexp_split_to_array(lower(school_name), '[^a-z0-9'']+')) AS word FROM core.schools
) WHERE length(word) >= 3 GROUP BY word)"""


def suggest(db: Rows, q: str | None, words: str = "memory.main.name_words", finds: Any = None) -> str | None:
    """A corrected search for a misspelt one ("Cavershem" -> "caversham"), when every word
    can be matched to a word of some school name and the result finds schools; else None.

    ``words``: the table (or subquery) of name words and their counts; ``finds(text)``:
    whether a search for the corrected text finds a school (default: :func:`search`)."""
    text = clean_query(q).lower()
    terms = [w for w in text.replace(",", " ").split() if w]
    if not terms or text.replace(" ", "").isdigit():
        return None
    fixed: list[str] = []
    changed = False
    for w in terms:
        if len(w) < 4 or not w.isalpha():
            fixed.append(w)
            continue
        got = db.rows(
            f"""SELECT word, damerau_levenshtein(word, ?) AS d FROM {words}
               WHERE abs(length(word) - length(?)) <= 2 AND damerau_levenshtein(word, ?) <= ?
               ORDER BY d, n DESC, word LIMIT 1""",
            [w, w, w, max(1, len(w) // 4)],
        )
        if not got:
            return None
        fixed.append(str(got[0]["word"]))
        changed = changed or got[0]["word"] != w
    corrected = " ".join(fixed)
    if not changed or not (finds(corrected) if finds is not None else search(db, corrected)):
        return None
    return corrected
