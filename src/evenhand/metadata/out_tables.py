"""Derived ``out.*`` tables (stage 3, derive), declared once like the core tables.

Written by the derivations in :mod:`evenhand.derive` through
:func:`evenhand.core.warehouse.create` / :func:`~evenhand.core.warehouse.insert`, so their
DDL, validation and data dictionary come from these declarations.
"""

from __future__ import annotations

from evenhand import maps
from evenhand.metadata import definitions as D
from evenhand.metadata.schema import Field, Table


def _eras() -> tuple[str, ...]:
    return tuple(e.era for e in maps.eras())


def _scales() -> tuple[str, ...]:
    return maps.scale_names()


KINDS = ("graded", "ungraded", "monitoring", "report_card")
LINK_KINDS = (
    "succession", "merge", "amalgamation", "split", "reorganisation", "closure", "other",
    "ofsted_evidence",
)

LINEAGE = Table(
    "lineage",
    "out",
    "URN lineage: one row per URN. URNs joined by one-to-one predecessor/successor links "
    "(academy conversion, sponsorship, re-registration; GIAS links or Ofsted's own "
    "'does not relate to the current URN' evidence) share a lineage_id. Merges, amalgamations "
    "and splits are flagged and listed, never chained: each side keeps its own lineage "
    "(docs/decisions/0400-lineage.md).",
    (
        Field("urn", "int", "Unique reference number", nullable=False),
        Field("lineage_id", "text", "'L' followed by the smallest URN of the chain (URNs are issued in sequence, so usually the first)", nullable=False),
        Field("position", "int", "Place of this URN in its chain, 1 = earliest (null in a cycle of contradictory links)"),
        Field("n_urns", "int", "How many URNs the lineage spans", nullable=False),
        Field("role", "text", "Where this URN sits in its lineage", nullable=False,
              allowed=("single", "earliest", "intermediate", "latest", "cycle")),
        Field("predecessor_urn", "int", "Chained predecessor (same lineage)"),
        Field("successor_urn", "int", "Chained successor (same lineage)"),
        Field("merge", "bool", "Takes part in a merge or amalgamation (several predecessors, or GIAS says merged / amalgamated)", nullable=False),
        Field("split", "bool", "Takes part in a split (several successors, or GIAS says split)", nullable=False),
        Field("merged_from", "text[]", "URNs merged or amalgamated into this one (separate lineages)"),
        Field("merged_into", "text[]", "URNs this one merged or was amalgamated into (separate lineages)"),
        Field("split_from", "text[]", "URNs this one was split from (separate lineages)"),
        Field("split_into", "text[]", "URNs split from this one (separate lineages)"),
        Field("other_links", "text[]", "Other unchained links as 'kind:URN' (closure, reorganisation, other)"),
        Field("school_name", "text", "Latest name known for this URN (Ofsted files, else GIAS links)"),
        Field("n_events", "int", "Inspection events recorded under this URN", nullable=False),
        Field("notes", "text", "Plain-English notes on the flags"),
    ),
    primary_key=("urn",),
)

LINEAGE_LINKS = Table(
    "lineage_links",
    "out",
    "Every predecessor -> successor link considered for lineage, once per pair of URNs, with "
    "what each source said and how it was used. The list of merges and splits is the rows "
    "whose relation is not 'one_to_one'.",
    (
        Field("predecessor_urn", "int", "Earlier establishment", nullable=False),
        Field("successor_urn", "int", "Later establishment", nullable=False),
        Field("source", "text", "Who reports the link", nullable=False, allowed=("gias", "ofsted", "gias+ofsted")),
        Field("link_types", "text[]", "GIAS link types seen for the pair, from either side"),
        Field("kind", "text", "What the link is (maps/gias_link_types.csv; 'ofsted_evidence' for a link only Ofsted's files show)", nullable=False, allowed=LINK_KINDS),
        Field("direction_basis", "text", "How predecessor and successor were told apart", nullable=False,
              allowed=("gias", "ofsted", "urn_order")),
        Field("link_established_date", "date", "GIAS link established date (latest seen)"),
        Field("n_files", "int", "Most GIAS links files that carried one row of the pair"),
        Field("ofsted_events", "int", "Events Ofsted's files report for the successor from the predecessor's URN", nullable=False),
        Field("direct", "bool", "A direct link (false: a shortcut, the two URNs are also linked through other URNs)", nullable=False),
        Field("predecessor_n_successors", "int", "Direct successors of the predecessor"),
        Field("successor_n_predecessors", "int", "Direct predecessors of the successor"),
        Field("relation", "text", "Shape of the link", nullable=False,
              allowed=("one_to_one", "merge", "split", "merge_and_split", "indirect")),
        Field("chained", "bool", "Used to chain the two URNs into one lineage", nullable=False),
        Field("carries", "bool", "Used to carry the predecessor's judgement and context measures to the successor (chained, or Ofsted's files do so)", nullable=False),
        Field("note", "text", "Why the link was or was not chained"),
    ),
    primary_key=("predecessor_urn", "successor_urn"),
)

PREDECESSORS = Table(
    "predecessors",
    "out",
    "For each URN, every earlier URN whose judgements and context measures it may carry: "
    "the closure of links with carries = true.",
    (
        Field("urn", "int", "Establishment", nullable=False),
        Field("predecessor_urn", "int", "An earlier establishment", nullable=False),
        Field("steps", "int", "Links between them (1 = direct)", nullable=False),
        Field("same_lineage", "bool", "Both in one lineage (false: carried across a merge or split because Ofsted's files do so)", nullable=False),
    ),
    primary_key=("urn", "predecessor_urn"),
)

EVENT_LINEAGE = Table(
    "event_lineage",
    "out",
    "Every inspection event with the lineage of the URN it was made under.",
    (
        Field("event_id", "text", "Inspection event", nullable=False, references="core.events.event_id"),
        Field("urn", "int", "URN at the time of the inspection", nullable=False),
        Field("lineage_id", "text", "Lineage (out.lineage)", nullable=False),
        Field("lineage_n_urns", "int", "URNs the lineage spans", nullable=False),
        Field("urn_position", "int", "Position of the URN in the lineage, 1 = earliest"),
        Field("latest_urn", "int", "The latest URN of the lineage", nullable=False),
        Field("spans_urns", "bool", "The lineage spans more than one URN", nullable=False),
    ),
    primary_key=("event_id",),
)

LATEST_AS_AT = Table(
    "latest_as_at",
    "out",
    "Each open school's latest graded and latest ungraded inspection as at a date, by Ofsted's "
    "official-statistics method: inspections started by the date and published within a month "
    "of it; a school not yet inspected in its current form carries its predecessor's "
    "judgement (flagged). 'Open' = present in the newest school-level file at or before the "
    "date that covers the school's local authority. Materialised for the default as-at date "
    "(the newest national snapshot, out.snapshots); evenhand.derive.as_at.latest_as_at(con, "
    "date) gives any date.",
    (
        Field("as_at", "date", "The date", nullable=False),
        Field("urn", "int", "Open school", nullable=False),
        Field("school_name", "text", "School name in that file"),
        Field("phase", "text", "Ofsted phase"),
        Field("local_authority", "text", "Local authority"),
        Field("open_in_file_id", "int", "The school-level file that shows the school open", nullable=False),
        Field("lineage_id", "text", "Lineage (out.lineage)"),
        Field("graded_event_id", "text", "Latest graded (or report-card) inspection", references="core.events.event_id"),
        Field("graded_urn", "int", "URN it was made under"),
        Field("graded_kind", "text", "graded or report_card", allowed=KINDS),
        Field("graded_era", "text", "Framework era", allowed=_eras),
        Field("graded_start_date", "date", "Start date"),
        Field("graded_publication_date", "date", "Publication date"),
        Field("overall_scale", "text", "Scale of the overall effectiveness judgement", allowed=_scales),
        Field("overall_code", "text", "Overall effectiveness code"),
        Field("overall_label", "text", "Overall effectiveness label"),
        Field("category_of_concern", "text", "Category of concern given at that inspection"),
        Field("graded_carried", "bool", "Carried from a predecessor URN (school not yet graded in its current form)", nullable=False),
        Field("ungraded_event_id", "text", "Latest ungraded inspection after the latest graded one", references="core.events.event_id"),
        Field("ungraded_urn", "int", "URN it was made under"),
        Field("ungraded_start_date", "date", "Start date"),
        Field("ungraded_publication_date", "date", "Publication date"),
        Field("ungraded_outcome_code", "text", "Ungraded outcome code (maps/codes.csv, ungraded_outcome)"),
        Field("ungraded_outcome_label", "text", "Ungraded outcome label"),
        Field("ungraded_carried", "bool", "Carried from a predecessor URN", nullable=False),
        Field("age_of_latest_graded_days", "int", "as_at minus the latest graded inspection's start date", unit="calendar days"),
    ),
    primary_key=("as_at", "urn"),
)

TRANSITIONS = Table(
    "transitions",
    "out",
    "Consecutive graded (and report-card) inspections within a lineage, on overall "
    "effectiveness. Each side keeps its own scale, label and era; 'comparable' says whether "
    "the two may be compared, and on what basis (docs/decisions/0400-transitions.md).",
    (
        Field("lineage_id", "text", "Lineage", nullable=False),
        Field("seq", "int", "1 for the first transition in the lineage, 2 for the next ...", nullable=False),
        Field("from_event_id", "text", "Earlier inspection", nullable=False, references="core.events.event_id"),
        Field("to_event_id", "text", "Later inspection", nullable=False, references="core.events.event_id"),
        Field("from_urn", "int", "URN at the earlier inspection", nullable=False),
        Field("to_urn", "int", "URN at the later inspection", nullable=False),
        Field("urn_changed", "bool", "The URN changed between them", nullable=False),
        Field("from_kind", "text", "Kind of the earlier inspection", allowed=KINDS),
        Field("to_kind", "text", "Kind of the later inspection", allowed=KINDS),
        Field("from_start_date", "date", "Start of the earlier inspection"),
        Field("to_start_date", "date", "Start of the later inspection"),
        Field("days_apart", "int", "to_start_date minus from_start_date", unit="calendar days"),
        Field("from_era", "text", "Framework era of the earlier inspection", allowed=_eras),
        Field("to_era", "text", "Framework era of the later inspection", allowed=_eras),
        Field("from_scale", "text", "Scale of the earlier overall judgement", allowed=_scales),
        Field("from_code", "text", "Code of the earlier overall judgement"),
        Field("from_label", "text", "Label of the earlier overall judgement"),
        Field("from_rank", "smallint", "Rank on its own scale (1 best)"),
        Field("to_scale", "text", "Scale of the later overall judgement", allowed=_scales),
        Field("to_code", "text", "Code of the later overall judgement"),
        Field("to_label", "text", "Label of the later overall judgement"),
        Field("to_rank", "smallint", "Rank on its own scale (1 best)"),
        Field("comparable", "bool", "The two judgements may be compared", nullable=False),
        Field("comparison_basis", "text", "'same_scale', or 'mapping:<name>' (maps/scale_mappings.csv)"),
        Field("change", "int", "Later rank minus earlier rank when comparable (negative = better)"),
        Field("direction", "text", "When comparable", allowed=("improved", "unchanged", "declined")),
        Field("note", "text", "Why not comparable"),
    ),
    primary_key=("from_event_id", "to_event_id"),
)

TIMING = Table(
    "timing",
    "out",
    "Inspection timings, one row per event. Working days are Monday to Friday excluding "
    "England and Wales bank holidays (evenhand.derive.calendar), counted as the working days "
    "after the first date up to and including the second.",
    (
        Field("event_id", "text", "Inspection event", nullable=False, references="core.events.event_id"),
        Field("urn", "int", "URN at the time", nullable=False),
        Field("kind", "text", "Kind of inspection", allowed=KINDS),
        Field("era", "text", "Framework era", allowed=_eras),
        Field("start_date", "date", "Start date"),
        Field("end_date", "date", "End date (the MI files carry it, e.g. the 31 August 2020 release; the official statistics files do not)"),
        Field("publication_date", "date", "Publication date"),
        Field("inspection_length_days", "int", "end_date - start_date + 1, where both are known", unit="calendar days, inclusive"),
        Field("inspection_length_working_days", "int", "Working days from start_date to end_date, both included (the days on site that were working days), where both are known", unit="working days, inclusive"),
        Field("start_to_publication_days", "int", "publication_date - start_date", unit="calendar days"),
        Field("start_to_publication_working_days", "int", "Working days after the start up to publication", unit="working days"),
        Field("end_to_publication_days", "int", "publication_date - end_date", unit="calendar days"),
        Field("end_to_publication_working_days", "int", "Working days after the end up to publication (Ofsted's targets are in these)", unit="working days"),
        Field("start_to_publication_term_working_days", "int", "Working days after the start up to publication, school holidays (maps/school_holidays.csv: typical dates, not each school's) not counted either", unit="working days"),
        Field("end_to_publication_term_working_days", "int", "Working days after the end up to publication, school holidays not counted either", unit="working days"),
        Field("published_before_start", "bool", "Publication date before the start date: a data error"),
        Field("as_at", "date", "As-at date of age_of_latest_graded_days (out.latest_as_at)"),
        Field("latest_graded_for_urns", "int", "How many open schools have this as their latest graded inspection as at that date (own or carried)", nullable=False),
        Field("age_of_latest_graded_days", "int", "as_at - start_date, for an event that is some open school's latest graded inspection", unit="calendar days"),
    ),
    primary_key=("event_id",),
)

EVENT_CONTEXT = Table(
    "event_context",
    "out",
    "Each event with the school's context measures (core.context) from the nearest academic "
    "year that ended before the inspection started, one row per event and measure. Where the "
    "school's own URN has no value, a predecessor's (out.predecessors) is used, flagged.",
    (
        Field("event_id", "text", "Inspection event", nullable=False, references="core.events.event_id"),
        Field("urn", "int", "URN at the time of the inspection", nullable=False),
        Field("measure", "text", "Context measure (core.context)", nullable=False),
        Field("academic_year", "text", "Academic year of the measure, e.g. '2018/19'", nullable=False),
        Field("value", "float", "Value (null when suppressed, and for text measures)"),
        Field("value_text", "text", "Band label or text of a text measure (core.context)"),
        Field("suppression", "text", "Why the value is missing (core.context)"),
        Field("context_urn", "int", "URN the measure belongs to", nullable=False),
        Field("from_predecessor", "bool", "Measure of a predecessor URN", nullable=False),
        Field("years_apart", "int", "Academic year of the inspection minus that of the measure (1 = the year before)", nullable=False, unit="academic years"),
        Field("file_id", "int", "Input file of the measure", references="meta.files.file_id"),
    ),
    primary_key=("event_id", "measure"),
)

SNAPSHOTS = Table(
    "snapshots",
    "out",
    "One row per Ofsted school-level file with an as-at date (official statistics or "
    "management information): what it covers and whether it is national. The single rule for "
    "'national' (evenhand.derive.snapshots.is_national): the file's schools span every Ofsted "
    "region in maps/ofsted_regions.csv and at least 90% of the local authorities seen in any "
    "school-level file of the warehouse. The default as-at date of every output is the newest "
    "national snapshot; a file that is not national is only ever shown under its coverage.",
    (
        Field("as_at", "date", "The file's own as-at date", nullable=False),
        Field("file_id", "int", "Input file (meta.files)", nullable=False),
        Field("path", "text", "File path, relative to the raw folder", nullable=False),
        Field("layout", "text", "Layout recognised (maps/layouts.toml)"),
        Field("publication", "text", "Publication the file belongs to", allowed=("official_statistics", "management_information")),
        Field("n_schools", "int", "Schools (URNs) in the file", nullable=False),
        Field("n_local_authorities", "int", "Local authorities the file's schools are in", nullable=False),
        Field("n_ofsted_regions", "int", "Ofsted regions the file's schools are in", nullable=False),
        Field("national", "bool", "Covers all of England (the rule above)", nullable=False),
        Field("coverage", "text", "What the file covers, in words: 'England', 'Leeds only', '12 local authorities'", nullable=False),
        Field("newest_national", "bool", "The newest national snapshot (the default as-at of every output); ties broken by file_id", nullable=False),
    ),
    primary_key=("file_id",),
)

def _latest_fields() -> tuple[Field, ...]:
    """out.latest_as_at's fields after its key (as_at, urn): the latest inspections of a school."""
    return tuple(f for f in LATEST_AS_AT.fields if f.name not in ("as_at", "urn"))


SNAPSHOT_SCHOOLS = Table(
    "snapshot_schools",
    "out",
    "Per snapshot (out.snapshots: an Ofsted school-level file with an as-at date, national or "
    "not), one row per school that file shows open, with the latest graded and latest ungraded "
    "inspection Ofsted carries for it as at that date, by the rule of out.latest_as_at "
    "(inspections started by the date and published within a month of it; a school not yet "
    "inspected in its current form carries its predecessor's judgement, flagged). A file that "
    "covers part of England (coverage, national = false) gives rows for that part only.",
    (
        Field("as_at", "date", "As-at date of the snapshot", nullable=False),
        Field("file_id", "int", "The school-level file (meta.files, out.snapshots)", nullable=False),
        Field("national", "bool", "The file covers all of England (out.snapshots)"),
        Field("coverage", "text", "What the file covers, e.g. 'England' or 'Leeds only' (out.snapshots)"),
        Field("urn", "int", "Open school", nullable=False),
        *_latest_fields(),
    ),
    primary_key=("file_id", "urn"),
)

EVENT_FLAGS = Table(
    "event_flags",
    "out",
    "The facts every output shows about one inspection event, decided once here "
    "(evenhand.derive.facts; docs/decisions/1010-one-definition.md): safeguarding-limited, "
    "report-card safeguarding 'Not met', the cliff-edge drop from the previous graded "
    "inspection, the publication target that applies and whether the report was published "
    "beyond it. The national audits, a school's report and the dashboard read these flags.",
    (
        Field("event_id", "text", "Inspection event", nullable=False),
        Field("urn", "int", "URN at the time of the inspection", nullable=False),
        Field("lineage_id", "text", "Lineage (out.lineage)"),
        Field("kind", "text", "Kind of inspection", nullable=False, allowed=KINDS),
        Field("era", "text", "Framework era", allowed=_eras),
        Field("start_date", "date", "Start date"),
        Field("safeguarding_recorded", "bool", "A safeguarding judgement is recorded ('Safeguarding is effective?' Yes / No, or report-card safeguarding standards Met / Not met)", nullable=False),
        Field("safeguarding_not_effective", "bool", "'Safeguarding is effective?' = No, or report-card safeguarding standards Not met", nullable=False),
        Field("safeguarding_not_met", "bool", "Report-card safeguarding standards Not met (from November 2025)", nullable=False),
        Field("classifiable", "bool", "Carries quality of education, behaviour and attitudes and personal development, and an overall or leadership grade, on the four-point scale: can be classified as safeguarding-limited or not", nullable=False),
        Field("quality_of_education_good", "bool", "Quality of education Good or Outstanding", nullable=False),
        Field("education_good", "bool", "Quality of education, behaviour and attitudes and personal development each Good or Outstanding", nullable=False),
        Field("inadequate_overall_or_leadership", "bool", "Overall effectiveness or leadership and management Inadequate (four-point code 4)", nullable=False),
        Field("safeguarding_limited", "bool", "Safeguarding-limited. " + D.SAFEGUARDING_LIMITED, nullable=False),
        Field("previous_graded_event_id", "text", "The previous graded (or report-card) inspection of the lineage (out.transitions)"),
        Field("previous_overall_label", "text", "Its overall effectiveness label"),
        Field("overall_change", "int", "Overall rank change from the previous graded inspection where the two are comparable on one scale (positive = worse)"),
        Field("cliff_edge", "bool", "Cliff-edge drop. " + D.CLIFF_EDGE, nullable=False),
        Field("publication_target_working_days", "int", "The publication target that applies (maps/publication_targets.csv); null where none is recorded", unit="working days"),
        Field("publication_target_level", "text", "Which of the era's targets applies", allowed=("normal", "further quality assurance")),
        Field("publication_target_source", "text", "Where the target comes from (maps/publication_targets.csv, source)"),
        Field("publication_delay_working_days", "int", "Working days to publication from the end of the inspection, else from its start (out.timing); null without a publication date or when it precedes the start", unit="working days"),
        Field("publication_delay_from", "text", "What the delay is counted from", allowed=("end", "start")),
        Field("beyond_target", "bool", "Published beyond the target. " + D.LATE_PUBLICATION),
        Field("beyond_target_upper_bound", "bool", "Published beyond the target if every working day from the start counts (an upper bound where no end date is known)"),
    ),
    primary_key=("event_id",),
)

SCHOOL_PAGES = Table(
    "school_pages",
    "out",
    "One school's page, precomputed: one row per URN (every URN with a school row or an "
    "inspection), in URN order, with everything its report and dashboard page show that does "
    "not depend on the request, as one JSON document (Zstandard-compressed) built from the tables it "
    "names; a page is one lookup, and the report only labels and formats "
    "(docs/decisions/1310-school-pages-precomputed.md, 1320-school-pages-compressed.md). "
    "A presentation cache of other tables: not exported.",
    (
        Field("urn", "int", "Unique reference number", nullable=False),
        Field("page", "blob",
              "The page: a JSON object, Zstandard-compressed (a frame per run of its parts, decision 1330; read it with evenhand.derive.school_pages.read_page; each list of rows in it is columnar: an object of equal-length arrays; files, judgement kinds and publication-target sources are numbers into out.school_page_dictionary, decision 1340) with the parts "
              "school (the school's latest core.schools row without file_id, row_number, as `evenhand history URN --json` "
              "gives it; null when no school-level file lists the URN); events (every inspection of the URN, its own and "
              "those reported under it, as `evenhand history URN --json` gives them: core.events with judgements, sources "
              "and conflicts); lineage (as `evenhand history URN --json` gives it: out.lineage, out.predecessors, "
              "out.lineage_links; null without an out.lineage row); facts (per event the report shows, its own, reported "
              "and its predecessors' own: out.timing lengths and delays, out.event_flags flags and targets, the "
              "out.transitions step into it); latest (the URN's out.latest_as_at row at its latest as-at date, with "
              "file_as_at, the as-at date of the file that shows it open); similar_schools (same phase, IDACI quintile "
              "and size band, this school excluded: as_at, size band and its edges, counts per latest overall judgement; "
              "null when the school's phase, IDACI quintile or pupils are not in the files); context (DfE measures of "
              "the school's lineage and predecessors by academic year from core.context, one row per measure and year "
              "where several give one: a value over none, a final file over a provisional one, then the newest file, "
              "in one file the school's own URN; and the files); school_files (the school-level files that list the URN); fallback (name "
              "and type of the URN's latest inspection, for a URN no school-level file lists); report_card (for a "
              "report-card school: how the other report-card schools were graded per area and five-point grade)",
              nullable=False, compression="uncompressed"),
        Field("page_bytes", "int", "Length of the page's JSON text (the frame's decompressed size)", unit="bytes", nullable=False),
        Field("format", "int", "The page's stored format (evenhand.derive.school_pages.PAGE_FORMAT; a reader of another format asks for the warehouse to be built again)", nullable=False),
        Field("dictionary_id", "text", "The out.school_page_dictionary row whose values the page's numbers stand for", nullable=False),
    ),
    primary_key=("urn",),
)

SCHOOL_PAGE_DICTIONARY = Table(
    "school_page_dictionary",
    "out",
    "What the numbers in out.school_pages stand for, once for the warehouse rather than on every page "
    "(docs/decisions/1340-school-pages-dictionary.md): one row per build. A presentation cache of other tables: not exported.",
    (
        Field("dictionary_id", "text", "The dictionary's id (the first 16 hex digits of the SHA-256 of its text), named by every page", nullable=False),
        Field("dictionary", "text",
              "A JSON object: file (the path of each file number: of an event's source_files, sources and conflicts, "
              "in path order), kind (each judgement kind number's area, scale, code, label, graded, rank and raw_value, "
              "columnar, as core.judgements gives them), target (each publication-target source number's text, "
              "out.event_flags.publication_target_source)", nullable=False),
    ),
    primary_key=("dictionary_id",),
)

#: tables that are a cache of other tables (not in the open-data export)
NOT_EXPORTED: tuple[str, ...] = ("out.school_pages", "out.school_page_dictionary")

OUT_TABLES: tuple[Table, ...] = (
    LINEAGE, LINEAGE_LINKS, PREDECESSORS, EVENT_LINEAGE, LATEST_AS_AT, TRANSITIONS, TIMING,
    EVENT_CONTEXT, SNAPSHOTS, SNAPSHOT_SCHOOLS, EVENT_FLAGS, SCHOOL_PAGES, SCHOOL_PAGE_DICTIONARY,
)
