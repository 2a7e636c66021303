"""A second route for what a school page shows, written plainly: whole tables read as they are
(``SELECT * FROM table``, no joins, windows or aggregates in SQL), then plain Python over the
rows, following the rules as the docs state them, not as derive/school_pages.py codes them.

- events: every inspection of the URN and every one reported under it (core.event_sources'
  reported_urn), by start date then event id, each with its judgements, sources (file path from
  meta.files) and conflicts (data dictionary, out.school_pages ``events``);
- lineage: the URNs of the school's lineage, and every URN linked to it directly
  (out.lineage_links, any kind) or through carried links (out.predecessors), nearest first
  (docs/decisions/0400-lineage.md; query._lineage's docstring);
- context: the DfE measures a report shows, for the URNs of the school's lineage and its
  predecessors, one value per measure and academic year: a value beats none, a final file beats
  a provisional one (a file whose name says "provisional"), then the newest file; in one file the
  school's own URN, then the higher URN (decisions 0400-timing-and-context, 1310 point 4;
  out.event_context's docstring states the file rule for the same table);
- similar schools: the schools open at the newest as-at date (out.latest_as_at) of the school's
  phase cut into fifths by pupils (inverted-CDF quantiles), counted by IDACI quintile, size band
  and latest overall judgement, the school itself taken out of its own cell (decision 1310);
- report card: schools whose latest graded inspection in any file is a report card, counted per
  area and five-point grade, the school itself taken out (decision 1310 point 7);
- and the small parts as the data dictionary states them (out.school_pages ``page``): the
  school's latest school-level row, the files that list it, its out.latest_as_at row at its latest
  date with that file's date, the name and type of its latest inspection, and the facts of every
  event its report shows (its own, reported and its predecessors' own).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from datetime import date
from typing import Any

import duckdb

#: the measures a school's report shows over the years (as the page's module lists them; the
#: list is a presentation choice, not a rule this route checks)
from evenhand.derive.school_pages import CONTEXT_MEASURE_NAMES

Row = dict[str, Any]


def table(con: duckdb.DuckDBPyConnection, name: str, urns: set[int] | None = None) -> list[Row]:
    """Every row of one table as it is stored (only those of ``urns``, when given: a filter, to
    keep the real data's million context rows out of Python)."""
    if urns is None:
        cur = con.execute(f"SELECT * FROM {name}")
    else:
        cur = con.execute(f"SELECT * FROM {name} WHERE urn IN (SELECT unnest(?))", [sorted(urns)])
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def has(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    schema, tab = name.split(".")
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?", [schema, tab]).fetchall()[0][0])


def key(*values: Any) -> tuple[Any, ...]:
    """An ascending sort key, nulls last (as the pages order their rows)."""
    return tuple((v is None, v if v is not None else 0) for v in values)


def plain(d: Any) -> Any:
    """JSON as a reader sees it: dates as ISO text."""
    return json.loads(json.dumps(d, default=lambda v: v.isoformat() if isinstance(v, date) else str(v)))


def without(r: Row, *drop: str) -> Row:
    return {k: v for k, v in r.items() if k not in drop}


class Plain:
    """The core and out tables of one warehouse, indexed by URN in Python."""

    def __init__(self, con: duckdb.DuckDBPyConnection, urns: list[int] | None = None) -> None:
        """``urns``: the pages to compute (None: all); only their context rows are read."""
        self.files = {f["file_id"]: f for f in table(con, "meta.files")}
        self.events = {e["event_id"]: e for e in table(con, "core.events")}
        self.by_urn: dict[int, list[str]] = defaultdict(list)
        for e in self.events.values():
            self.by_urn[e["urn"]].append(e["event_id"])
        self.judgements: dict[str, list[Row]] = defaultdict(list)
        for j in table(con, "core.judgements"):
            self.judgements[j["event_id"]].append(j)
        self.sources: dict[str, list[Row]] = defaultdict(list)
        self.reported: dict[int, set[str]] = defaultdict(set)
        for s in table(con, "core.event_sources"):
            self.sources[s["event_id"]].append(s)
            if s["reported_urn"] is not None:
                self.reported[s["reported_urn"]].add(s["event_id"])
        self.conflicts: dict[str, list[Row]] = defaultdict(list)
        for c in table(con, "meta.conflicts"):
            self.conflicts[c["event_id"]].append(c)
        self.lineage = {r["urn"]: r for r in table(con, "out.lineage")}
        self.members: dict[str, list[Row]] = defaultdict(list)
        for r in self.lineage.values():
            self.members[r["lineage_id"]].append(r)
        self.preds = table(con, "out.predecessors")
        self.links = table(con, "out.lineage_links")
        self.preds_of: dict[int, list[Row]] = defaultdict(list)
        self.succs_of: dict[int, list[Row]] = defaultdict(list)
        for p in self.preds:
            self.preds_of[p["urn"]].append(p)
            self.succs_of[p["predecessor_urn"]].append(p)
        self.links_into: dict[int, list[Row]] = defaultdict(list)
        self.links_from: dict[int, list[Row]] = defaultdict(list)
        self.link: dict[tuple[int, int], Row] = {}
        for k in self.links:  # one link per pair of URNs (decision 0400)
            self.links_into[k["successor_urn"]].append(k)
            self.links_from[k["predecessor_urn"]].append(k)
            self.link[(k["predecessor_urn"], k["successor_urn"])] = k
        self.schools = table(con, "core.schools")
        self.schools_of: dict[int, list[Row]] = defaultdict(list)
        for s in self.schools:
            self.schools_of[s["urn"]].append(s)
        self.latest = table(con, "out.latest_as_at")
        self.latest_of: dict[int, list[Row]] = defaultdict(list)
        for r in self.latest:
            self.latest_of[r["urn"]].append(r)
        self.timing = {r["event_id"]: r for r in table(con, "out.timing")}
        self.flags = {r["event_id"]: r for r in table(con, "out.event_flags")}
        self.steps_into: dict[str, list[Row]] = defaultdict(list)
        for r in table(con, "out.transitions"):
            self.steps_into[r["to_event_id"]].append(r)
        self.context: dict[int, list[Row]] = defaultdict(list)
        if has(con, "core.context"):
            wanted = None if urns is None else {u for urn in urns for u in self.context_urns(urn)}
            for c in table(con, "core.context", wanted):
                self.context[c["urn"]].append(c)

    # --- events -------------------------------------------------------------------------------

    def page_urns(self) -> set[int]:
        """Every URN with a page: a school-level row, an inspection, or one reported under it."""
        return set(self.by_urn) | set(self.reported) | set(self.schools_of)

    def event_ids(self, urn: int) -> list[str]:
        ids = set(self.by_urn.get(urn, [])) | self.reported.get(urn, set())
        return sorted(ids, key=lambda i: key(self.events[i]["start_date"], i))

    def event(self, eid: str) -> Row:
        e = dict(self.events[eid])
        e["judgements"] = sorted((without(j, "event_id") for j in self.judgements.get(eid, [])), key=lambda j: key(*j.values()))
        e["sources"] = sorted(
            ({"file": self.files[s["file_id"]]["path"], **without(s, "event_id", "file_id")}
             for s in self.sources.get(eid, []) if s["file_id"] in self.files),
            key=lambda s: key(*s.values()))
        e["conflicts"] = sorted(
            ({"field": c["field"], "value": c["value"], "file": self.files[c["file_id"]]["path"], "row_number": c["row_number"], "kept": c["kept"]}
             for c in self.conflicts.get(eid, []) if c["file_id"] in self.files),
            key=lambda c: key(*c.values()))
        return e

    def history_events(self, urn: int) -> list[Row]:
        return [self.event(i) for i in self.event_ids(urn)]

    # --- lineage ------------------------------------------------------------------------------

    def related(self, urn: int, side: str) -> list[Row]:
        """The URNs on one side of ``urn``: (urn, steps, in_lineage, carries), nearest first."""
        found: dict[int, list[tuple[int, bool | None, bool | None]]] = defaultdict(list)
        if side == "predecessor":
            for p in self.preds_of.get(urn, []):
                found[p["predecessor_urn"]].append((p["steps"], p["same_lineage"], True))
            for k in self.links_into.get(urn, []):
                found[k["predecessor_urn"]].append((1, k["chained"], k["carries"]))
        else:
            for p in self.succs_of.get(urn, []):
                found[p["urn"]].append((p["steps"], p["same_lineage"], True))
            for k in self.links_from.get(urn, []):
                found[k["successor_urn"]].append((1, k["chained"], k["carries"]))

        def any_of(vals: list[bool | None]) -> bool | None:
            known = [v for v in vals if v is not None]
            return any(known) if known else None

        out = []
        for other, got in found.items():
            link = self.link.get((other, urn) if side == "predecessor" else (urn, other))
            mine = self.lineage.get(other)
            events = []
            for eid in sorted(self.by_urn.get(other, []), key=lambda i: key(self.events[i]["start_date"], i)):
                e = self.events[eid]
                oe = next((j for j in self.judgements.get(eid, []) if j["area"] == "overall_effectiveness"), None)
                events.append({"event_id": eid, "kind": e["kind"], "era": e["era"], "start_date": e["start_date"],
                               "publication_date": e["publication_date"], "category_of_concern": e["category_of_concern"],
                               "overall_scale": oe and oe["scale"], "overall_code": oe and oe["code"], "overall_label": oe and oe["label"]})
            out.append({
                "urn": other, "steps": min(g[0] for g in got), "in_lineage": any_of([g[1] for g in got]), "carries": any_of([g[2] for g in got]),
                "school_name": mine and mine["school_name"], "lineage_id": mine and mine["lineage_id"],
                "link_kind": link and link["kind"], "link_relation": link and link["relation"],
                "link_source": link and link["source"], "link_note": link and link["note"], "events": events,
            })
        return sorted(out, key=lambda r: key(r["steps"], r["urn"]))

    def lineage_of(self, urn: int) -> Row | None:
        me = self.lineage.get(urn)
        if me is None:
            return None
        urns = sorted(self.members[me["lineage_id"]], key=lambda r: key(r["position"], r["urn"]))
        return {
            "lineage_id": me["lineage_id"], "position": me["position"], "role": me["role"],
            "urns": [{k: r[k] for k in ("urn", "position", "role", "school_name", "n_events")} for r in urns],
            "flags": {"merge": me["merge"], "split": me["split"],
                      **{k: me[k] or [] for k in ("merged_from", "merged_into", "split_from", "split_into", "other_links")},
                      "notes": me["notes"]},
            "predecessors": self.related(urn, "predecessor"),
            "successors": self.related(urn, "successor"),
        }

    # --- context ------------------------------------------------------------------------------

    def context_urns(self, urn: int) -> set[int]:
        me = self.lineage.get(urn)
        if me is None:
            return {urn}
        return {r["urn"] for r in self.members[me["lineage_id"]]} | {r["urn"] for r in self.related(urn, "predecessor")}

    def provisional(self, file_id: int) -> bool:
        f = self.files.get(file_id)
        return f is not None and "provisional" in f["path"].lower()

    def context_of(self, urn: int) -> Row:
        measures = set(CONTEXT_MEASURE_NAMES)
        rows = [c for u in self.context_urns(urn) for c in self.context.get(u, []) if c["measure"] in measures]
        best: dict[tuple[str, str], Row] = {}
        for c in rows:
            if c["academic_year"] is None:
                continue
            rank = (c["value"] is not None or c["value_text"] is not None, not self.provisional(c["file_id"]), c["file_id"], c["urn"] == urn, c["urn"])
            k = (c["measure"], c["academic_year"])
            if k not in best or rank > best[k]["_rank"]:
                best[k] = {**c, "_rank": rank}
        return {
            "rows": [{f: best[k][f] for f in ("measure", "academic_year", "value", "value_text", "suppression")} for k in sorted(best)],
            "files": sorted({self.files[c["file_id"]]["path"] for c in rows if c["file_id"] in self.files}),
        }

    # --- similar schools ----------------------------------------------------------------------

    def newest_school_row(self, urn: int) -> Row | None:
        mine = self.schools_of.get(urn, [])
        if not mine:
            return None
        # the latest as-at date (an unknown date last), then the later file
        return min(mine, key=lambda s: (s["as_at"] is None, -(s["as_at"].toordinal() if s["as_at"] else 0), -s["file_id"]))

    def open_schools(self) -> list[Row]:
        """The schools open at the newest as-at date, with the school-level row that shows them open."""
        if not self.latest:
            return []
        newest = max(r["as_at"] for r in self.latest)
        rows = {(s["file_id"], s["urn"]): s for s in self.schools}
        out = []
        for r in self.latest:
            s = rows.get((r["open_in_file_id"], r["urn"]))
            if r["as_at"] == newest and s is not None and s["pupils"] is not None and s["phase"] is not None:
                out.append({**r, "phase": s["phase"], "idaci_quintile": s["idaci_quintile"], "pupils": float(s["pupils"])})
        return out

    def cuts(self) -> dict[str, list[float]]:
        by_phase: dict[str, list[float]] = defaultdict(list)
        for r in self.open_schools():
            by_phase[r["phase"]].append(r["pupils"])
        out = {}
        for phase, vals in by_phase.items():
            v = sorted(vals)
            # the smallest value with at least a fraction f of the schools at or below it
            out[phase] = [v[max(0, math.ceil(round(f * len(v), 9)) - 1)] for f in (0.2, 0.4, 0.6, 0.8)]
        return out

    def similar_of(self, urn: int, cuts: dict[str, list[float]], open_rows: list[Row]) -> Row | None:
        me = self.newest_school_row(urn)
        if me is None or me["idaci_quintile"] is None or me["pupils"] is None or me["phase"] not in cuts:
            return None
        q = cuts[me["phase"]]

        def band(p: float) -> int:
            return 1 + sum(p > x for x in q)

        mine = band(float(me["pupils"]))
        counts: dict[tuple[bool | None, str | None, str | None], int] = defaultdict(int)
        for r in open_rows:
            if r["phase"] == me["phase"] and r["idaci_quintile"] == me["idaci_quintile"] and r["pupils"] > 0 and band(r["pupils"]) == mine:
                graded = None if r["overall_scale"] is None else r["overall_scale"] == "four_point"
                counts[(graded, r["overall_code"], r["overall_label"])] += 0 if r["urn"] == urn else 1
                counts.setdefault((graded, r["overall_code"], r["overall_label"]), 0)
        return {
            "as_at": max(r["as_at"] for r in self.latest), "band": mine, "edges": [0.0, *q, math.inf],
            "cells": [{"graded": g, "code": c, "label": lab, "k": k} for (g, c, lab), k in sorted(counts.items(), key=lambda x: key(*x[0]))],
        }

    # --- report cards -------------------------------------------------------------------------

    def report_cards(self) -> dict[int, str]:
        """URN -> event id of the schools whose latest graded inspection is a report card."""
        latest: dict[int, Row] = {}
        for e in self.events.values():
            if e["kind"] not in ("graded", "report_card"):
                continue
            cur = latest.get(e["urn"])
            # newest start date first (an unknown date last), then the higher event id
            if cur is None or (e["start_date"] is not None and (cur["start_date"] is None or e["start_date"] > cur["start_date"])) \
                    or (e["start_date"] == cur["start_date"] and e["event_id"] > cur["event_id"]):
                latest[e["urn"]] = e
        return {u: e["event_id"] for u, e in latest.items() if e["kind"] == "report_card"}

    def report_card_of(self, urn: int, rc: dict[int, str]) -> Row | None:
        if urn not in rc:
            return None
        counts: dict[tuple[str, str, str], int] = defaultdict(int)
        for eid in rc.values():
            for j in self.judgements.get(eid, []):
                if j["scale"] == "report_card_5":
                    counts[(j["area"], j["code"], j["label"])] += 1
        own = {(j["area"], j["code"]) for j in self.judgements.get(rc[urn], []) if j["scale"] == "report_card_5"}
        return {"event_id": rc[urn], "n_schools": len(rc),
                "cells": [{"area": a, "code": c, "label": lab, "k": k - ((a, c) in own)}
                          for (a, c, lab), k in sorted(counts.items(), key=lambda x: key(*x[0]))]}


# --- the school, its files, its latest judgement, the fallback name, the facts -------------

    def school_of(self, urn: int) -> Row | None:
        row = self.newest_school_row(urn)
        return None if row is None else without(row, "file_id", "row_number")

    def school_files_of(self, urn: int) -> list[str]:
        return sorted({self.files[s["file_id"]]["path"] for s in self.schools_of.get(urn, []) if s["file_id"] in self.files})

    def latest_of_urn(self, urn: int) -> Row | None:
        """The URN's out.latest_as_at row at its latest as-at date, with the as-at date of the
        file that shows it open."""
        rows = self.latest_of.get(urn, [])
        if not rows:
            return None
        newest = max(r["as_at"] for r in rows)
        top = [r for r in rows if r["as_at"] == newest]
        assert len(top) == 1, ("two out.latest_as_at rows of one URN and date", urn, newest)
        f = self.files.get(top[0]["open_in_file_id"])
        return {**top[0], "file_as_at": f and f["as_at"]}

    def fallback_of(self, urn: int) -> Row | None:
        """Name and type of the URN's latest inspection (by start date; an unknown date last)."""
        evs = [self.events[i] for i in self.by_urn.get(urn, [])]
        if not evs:
            return None
        dated = [e for e in evs if e["start_date"] is not None]
        pool = [e for e in dated if e["start_date"] == max(d["start_date"] for d in dated)] if dated else evs
        got = {(e["school_name"], e["school_type"]) for e in pool}
        if len(got) > 1:  # the rule leaves this open: say so rather than choose
            return {"ambiguous": sorted(got, key=lambda x: key(*x))}
        name, kind = got.pop()
        return {"school_name": name, "school_type": kind}

    def facts_of(self, urn: int) -> list[Row]:
        """Per event the report shows (its own, those reported under it, and its lineage
        predecessors' own), in event id order: timing, flags and the transition into it."""
        shown = set(self.event_ids(urn))
        if urn in self.lineage:
            for r in self.related(urn, "predecessor"):
                shown |= set(self.by_urn.get(r["urn"], []))
        out = []
        for eid in sorted(shown):
            t, f = self.timing.get(eid, {}), self.flags.get(eid, {})
            steps = sorted(self.steps_into.get(eid, []), key=lambda r: key(r["to_start_date"], r["from_event_id"]))
            tr = steps[-1] if steps else None  # the newest step into the event
            out.append({
                "event_id": eid,
                **{c: t.get(c) for c in ("inspection_length_days", "inspection_length_working_days", "end_to_publication_days",
                                         "start_to_publication_days")},
                **{c: f.get(c) for c in ("publication_delay_working_days", "publication_delay_from", "safeguarding_limited",
                                         "safeguarding_not_met", "cliff_edge", "overall_change", "publication_target_working_days",
                                         "publication_target_source", "publication_target_level", "beyond_target")},
                "transition": tr and {c: tr[c] for c in ("from_label", "to_label", "from_start_date", "to_scale")},
            })
        return out


# --- the comparison ---------------------------------------------------------------------------

#: the parts compared: every part of a page (school, events and lineage as the history gives them)
COMPARED = ("school", "events", "lineage", "facts", "latest", "similar_schools", "context", "school_files", "fallback", "report_card")


def differences(con: duckdb.DuckDBPyConnection, urns: list[int], route: Plain | None = None) -> list[tuple[int, str, Any, Any]]:
    """(urn, part, plain route, page) for every part where this route and the page differ:
    events and lineage as ``Evenhand.history`` gives them, the rest as ``read_pages`` reads them
    (its columnar lists turned back into rows by ``school_pages.rows``). ``route``: this route
    over the warehouse, already read (with the context rows of ``urns``)."""
    from evenhand.derive.school_pages import read_pages
    from evenhand.query import history

    p = route or Plain(con, urns)
    open_rows, cuts, rc = p.open_schools(), p.cuts(), p.report_cards()
    pages = read_pages(con, urns)
    out = []
    for urn in urns:
        page = pages.get(urn)
        h = plain(history(con, urn))
        got = {"school": h["school"], "events": h["events"], "lineage": h["lineage"]}
        if page is not None:
            got |= {"facts": sorted(page.facts.values(), key=lambda f: f["event_id"]), "latest": page.latest,
                    "similar_schools": page.similar, "context": page.context, "school_files": page.school_files,
                    "fallback": page.fallback, "report_card": page.report_card}
        got = {k: plain(v) for k, v in got.items()}
        want = {"school": p.school_of(urn), "events": p.history_events(urn), "lineage": p.lineage_of(urn), "facts": p.facts_of(urn),
                "latest": p.latest_of_urn(urn), "similar_schools": p.similar_of(urn, cuts, open_rows), "context": p.context_of(urn),
                "school_files": p.school_files_of(urn), "fallback": p.fallback_of(urn), "report_card": p.report_card_of(urn, rc)}
        want = {k: plain(v) for k, v in want.items()}
        out += [(urn, part, want[part], got.get(part)) for part in COMPARED if want[part] != got.get(part)]
    return out
