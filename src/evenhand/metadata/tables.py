"""Every warehouse table, declared once. Add a table here and the DDL, validation and
data dictionary follow."""

from __future__ import annotations

from evenhand import maps
from evenhand.metadata.out_tables import OUT_TABLES
from evenhand.metadata.schema import Field, Table


def _eras() -> tuple[str, ...]:
    return tuple(e.era for e in maps.eras())


def _kinds() -> tuple[str, ...]:
    return ("graded", "ungraded", "monitoring", "report_card")


def _scales() -> tuple[str, ...]:
    return maps.scale_names()


def _areas() -> tuple[str, ...]:
    return tuple(maps.areas())


def _layouts() -> tuple[str, ...]:
    return tuple(maps.layouts())


def _blocks() -> tuple[str, ...]:
    return tuple(maps.blocks())


def _categories() -> tuple[str, ...]:
    return tuple(c.code for c in maps.codes() if c.scale == "category_of_concern")


FILE_ID = Field("file_id", "int", "Input file", nullable=False, references="meta.files.file_id")
ROW = Field("row_number", "int", "1-based row in the input file as a spreadsheet shows it (title and header rows count)", nullable=False)

FILES = Table(
    "files",
    "meta",
    "Provenance: every input file the build looked at, recognised or not.",
    (
        Field("file_id", "int", "Identifier of the file within this build", nullable=False),
        Field("path", "text", "Path relative to the raw folder", nullable=False),
        Field("sha256", "text", "SHA-256 of the file's bytes", nullable=False),
        Field("bytes", "int", "Size in bytes", nullable=False),
        Field("status", "text", "What the build did with the file", nullable=False, allowed=("loaded", "unrecognised", "rejected")),
        Field("container", "text", "File container", allowed=("csv", "xlsx", "ods", "parquet")),
        Field("encoding", "text", "Text encoding detected (CSV only)"),
        Field("layout", "text", "Layout recognised from the header", allowed=_layouts),
        Field("publication", "text", "Which publication the layout says this is (official statistics, management information, ...)"),
        Field("sheet", "text", "Worksheet read (spreadsheets only)"),
        Field("header_row", "int", "1-based row of the header"),
        Field("as_at", "date", "The date the file describes the system 'as at'"),
        Field("as_at_source", "text", "Where the as-at date came from", allowed=("title", "file name", "option", "latest date in file")),
        Field("as_at_approximate", "bool", "True when only the month of the as-at date is known (a file name such as 'gias_links_2021-05.csv'): the date is the first of that month"),
        Field("rows_read", "int", "Data rows read (trailing empty rows excluded)"),
        Field("rows_empty", "int", "Completely empty rows skipped"),
        Field("rows_rejected", "int", "Rows rejected (lenient builds only; a strict build fails instead)"),
        Field("warnings", "int", "Warnings raised for this file"),
        Field("unmapped_columns", "text[]", "Columns no map knows: kept in the raw layer, reported as a warning"),
        Field("message", "text", "Why a file was not loaded"),
    ),
    primary_key=("file_id",),
)

WARNINGS = Table(
    "warnings",
    "meta",
    "Warnings raised while building: the build went on, but a reader should know.",
    (
        Field("file_id", "int", "Input file", references="meta.files.file_id"),
        Field("row_number", "int", "Row, where one row is at fault"),
        Field("column_name", "text", "Raw column header"),
        Field("value", "text", "The value at fault"),
        Field("message", "text", "What is wrong", nullable=False),
        Field("count", "int", "How many rows share this warning", nullable=False),
    ),
)

REJECTIONS = Table(
    "rejections",
    "meta",
    "Rows a lenient build left out, with the reason (a strict build fails on the first file with any).",
    (FILE_ID, ROW, Field("column_name", "text", "Raw column header"), Field("value", "text", "The value at fault"), Field("message", "text", "What is wrong", nullable=False)),
)

CONFLICTS = Table(
    "conflicts",
    "meta",
    "Where the same inspection arrived from several files (or rows) with different values. "
    "The events/judgements tables keep the value from the most recent file (latest as-at date); "
    "every value seen is listed here.",
    (
        Field("event_id", "text", "Inspection event", nullable=False, references="core.events.event_id"),
        Field("field", "text", "Event field, or 'judgement:<area>'", nullable=False),
        Field("value", "text", "A value seen"),
        FILE_ID,
        ROW,
        Field("kept", "bool", "Whether this is the value kept in the core table", nullable=False),
    ),
)

SCHOOLS = Table(
    "schools",
    "core",
    "Schools as each file reports them, one row per school per file, with the file's as-at date.",
    (
        FILE_ID,
        ROW,
        Field("as_at", "date", "The file's as-at date"),
        Field("publication", "text", "official_statistics, management_information, ..."),
        Field("urn", "int", "Unique reference number of the school (current form)", nullable=False),
        Field("laestab", "int", "Local authority number and establishment number"),
        Field("school_name", "text", "School name", nullable=False),
        Field("phase", "text", "Ofsted phase"),
        Field("school_type", "text", "Type of education"),
        Field("open_date", "date", "School open date"),
        Field("admissions_policy", "text", "Admissions policy"),
        Field("sixth_form_status", "text", "Whether the school has a sixth form"),
        Field("religious_character", "text", "Designated religious character"),
        Field("religious_ethos", "text", "Religious ethos"),
        Field("faith_grouping", "text", "Faith grouping"),
        Field("ofsted_region", "text", "Ofsted region"),
        Field("region", "text", "Government office region"),
        Field("local_authority", "text", "Local authority"),
        Field("constituency", "text", "Parliamentary constituency"),
        Field("postcode", "text", "Postcode"),
        Field("trust_uid", "int", "Multi-academy trust UID (GIAS group UID)"),
        Field("trust_name", "text", "Multi-academy trust name"),
        Field("sponsor_uid", "int", "Academy sponsor UID"),
        Field("sponsor_name", "text", "Academy sponsor name"),
        Field("idaci_quintile", "smallint", "IDACI quintile of the school's pupils as Ofsted publishes it: 1 = least deprived, 5 = most deprived"),
        Field("pupils", "int", "Total number of pupils", unit="pupils"),
        Field("lowest_age", "smallint", "Statutory lowest age", unit="years"),
        Field("highest_age", "smallint", "Statutory highest age", unit="years"),
        Field("warning_notices", "int", "Number of warning notices issued in the file's academic year"),
        Field("ungraded_count", "int", "Number of ungraded inspections since the last graded inspection"),
        Field("monitoring_count", "int", "Number of monitoring and urgent inspections since the last graded inspection"),
        Field("c6_school_type", "text", "Current school type as the official statistics chart C6 groups it"),
        Field("most_recent_category_of_concern", "text", "Most recent category of concern", allowed=_categories),
    ),
    primary_key=("file_id", "row_number"),
)

EVENTS = Table(
    "events",
    "core",
    "Inspection events: ONE row per inspection, whatever file(s) it came from.",
    (
        Field("event_id", "text", "The inspection number where there is one, else 'URN<urn>-<start date>'", nullable=False),
        Field("inspection_number", "text", "Ofsted inspection number (8 digits, or 'ITS' and digits for older inspections)"),
        Field("urn", "int", "URN of the school at the time of the inspection", nullable=False),
        Field("laestab", "int", "LAESTAB at the time of the inspection"),
        Field("school_name", "text", "School name at the time of the inspection; where its file rows give none (earlier inspections in the history files), the name a school-level file gives the same URN, else the name Get Information About Schools gives it in a link; empty only when no file names the URN"),
        Field("school_type", "text", "School type at the time of the inspection"),
        Field("kind", "text", "graded, ungraded, monitoring or report_card", nullable=False, allowed=_kinds),
        Field("era", "text", "Framework era by start date (maps/eras.csv)", allowed=_eras),
        Field("inspection_type", "text", "Inspection type as published"),
        Field("inspection_type_grouping", "text", "Inspection type grouping as published"),
        Field("event_type_grouping", "text", "Event type grouping as published"),
        Field("start_date", "date", "Inspection start date"),
        Field("end_date", "date", "Inspection end date (only some files carry it)"),
        Field("publication_date", "date", "Report publication date"),
        Field("category_of_concern", "text", "Category of concern given at this inspection", allowed=_categories),
        Field("converted_to_graded", "bool", "Ungraded inspection converted to a graded one"),
        Field("n_sources", "int", "How many file rows reported this event", nullable=False),
        Field("n_conflicts", "int", "How many fields disagreed between sources (see meta.conflicts)", nullable=False),
        Field("source_files", "text[]", "Files that reported this event", nullable=False),
    ),
    primary_key=("event_id",),
)

EVENT_SOURCES = Table(
    "event_sources",
    "core",
    "Which file row reported which event, and for which current school.",
    (
        Field("event_id", "text", "Inspection event", nullable=False, references="core.events.event_id"),
        FILE_ID,
        ROW,
        Field("block", "text", "Which block of the row held the event", nullable=False, allowed=_blocks),
        Field("reported_urn", "int", "URN of the school the row is about (its current URN in that file)", nullable=False),
        Field("relates_to_current_urn", "bool", "Ofsted's flag: does the inspection relate to the URN of the current school?"),
        Field("as_at", "date", "The file's as-at date"),
    ),
)

JUDGEMENTS = Table(
    "judgements",
    "core",
    "Judgements, long: one row per event and area, each on its own scale (never forced onto another).",
    (
        Field("event_id", "text", "Inspection event", nullable=False, references="core.events.event_id"),
        Field("area", "text", "What was judged (maps/areas.csv)", nullable=False, allowed=_areas),
        Field("scale", "text", "Grading scale of the code (maps/codes.csv)", nullable=False, allowed=_scales),
        Field("code", "text", "Code on that scale", nullable=False),
        Field("label", "text", "Label of the code valid on the judgement date", nullable=False),
        Field("graded", "bool", "False for not-applicable codes (8, 9, 'Not judged', ...)", nullable=False),
        Field("rank", "smallint", "Order on the scale: 1 is best; comparable only within one scale"),
        Field("judgement_date", "date", "Date of the judgement (report-card areas carry their own; else the start date)"),
        Field("raw_value", "text", "The value as published", nullable=False),
    ),
    primary_key=("event_id", "area"),
)

GIAS_LINKS = Table(
    "gias_links",
    "core",
    "GIAS establishment links (predecessor / successor), the union of every links file read; "
    "a link seen in several files is kept once, from the newest file.",
    (
        FILE_ID,
        Field("urn", "int", "Establishment", nullable=False),
        Field("link_urn", "int", "Linked establishment", nullable=False),
        Field("link_name", "text", "Name of the linked establishment"),
        Field("link_type", "text", "Link type as published (e.g. 'Predecessor - merged')", nullable=False),
        Field("link_established_date", "date", "Date the link was established"),
        Field("n_files", "int", "How many links files carried this link", nullable=False),
    ),
)

GIAS_GROUPS = Table(
    "gias_groups",
    "core",
    "GIAS groups: trusts, federations, sponsors.",
    tuple(
        [FILE_ID, Field("group_uid", "int", "Group UID", nullable=False)]
        + [Field(n, t, d) for n, t, d in [
            ("group_id", "text", "Group ID"),
            ("group_name", "text", "Group name"),
            ("companies_house_number", "text", "Companies House number"),
            ("group_type_code", "text", "Group type code"),
            ("group_type", "text", "Group type"),
            ("closed_date", "date", "Closed date"),
            ("open_date", "date", "Open date"),
            ("incorporated_date", "date", "Incorporated on"),
            ("group_status_code", "text", "Group status code"),
            ("group_status", "text", "Group status"),
            ("group_postcode", "text", "Group postcode"),
            ("ukprn", "text", "UK provider reference number"),
        ]]
    ),
)

GIAS_GROUP_LINKS = Table(
    "gias_group_links",
    "core",
    "GIAS group links: which establishment belongs to which group, and since when.",
    tuple(
        [FILE_ID, Field("urn", "int", "Establishment", nullable=False), Field("group_uid", "int", "Group UID", nullable=False)]
        + [Field(n, t, d) for n, t, d in [
            ("group_id", "text", "Group ID"),
            ("group_name", "text", "Group name"),
            ("group_type", "text", "Group type"),
            ("group_status", "text", "Group status"),
            ("joined_date", "date", "Date the establishment joined the group (1900-01-01 in GIAS means unknown)"),
            ("establishment_name", "text", "Establishment name"),
            ("establishment_type", "text", "Type of establishment"),
            ("phase", "text", "Phase of education"),
            ("la_code", "text", "Local authority code"),
            ("la_name", "text", "Local authority name"),
        ]]
    ),
)


def _context_measures() -> tuple[str, ...]:
    from evenhand.core.dfe_context import measures

    return tuple(measures())


def _suppression_reasons() -> tuple[str, ...]:
    from evenhand.core.dfe_context import suppression_reasons

    return suppression_reasons()


def _year_sources() -> tuple[str, ...]:
    from evenhand.core.dfe_context import YEAR_SOURCES

    return YEAR_SOURCES


CONTEXT = Table(
    "context",
    "core",
    "School context from DfE files (census, absence, key stage 2, 4 and 5, school spine, CFR finance, "
    "Explore Education Statistics, finance interchange): one row per school, academic year and measure "
    "as one file published it; units are in the measure names (maps/measures.csv). Suppressed and "
    "special values (SUPP, NE, z, c ...) have a null value and their reason in `suppression`; an empty "
    "cell gives no row. The same (urn, academic_year, measure) from two files is kept twice (file_id "
    "differs): later derivations choose. Local-authority and national total rows are not kept.",
    (
        FILE_ID,
        ROW,
        Field("layout", "text", "Layout the file was recognised as (maps/layouts.toml)", nullable=False, allowed=_layouts),
        Field("urn", "int", "Unique reference number of the school as the file gives it", nullable=False),
        Field("academic_year", "text", "Academic year, e.g. '2018/19'; null where no source states it (see year_source)"),
        Field("year_source", "text", "Where the academic year came from: the file's content, a single year in the content "
              "(read as the academic year ending in it), an explicit option, the file name, or unknown",
              nullable=False, allowed=_year_sources),
        Field("measure", "text", "What is measured, unit in the name (maps/measures.csv)", nullable=False, allowed=_context_measures),
        Field("value", "float", "The value; null when suppressed (see suppression) and for text measures"),
        Field("value_text", "text", "Band label (progress bands) or text (text measures)"),
        Field("suppression", "text", "Why the value is missing: the reason of its special code (maps/suppression.csv)",
              allowed=_suppression_reasons),
        Field("raw_value", "text", "The value as published", nullable=False),
    ),
    primary_key=("file_id", "row_number", "measure"),
)

DFE_FIELD_DICTIONARY = Table(
    "dfe_field_dictionary",
    "meta",
    "DfE performance tables field dictionaries (the *_meta.csv files published beside each dataset): "
    "what each published column of a DfE file means, one row per column as the dictionary lists it. "
    "Which dataset a dictionary describes is in its file name (meta.files.path).",
    (
        FILE_ID,
        ROW,
        Field("column_number", "int", "Position of the column in the dataset (1 = first)", nullable=False),
        Field("field_name", "text", "The column's published name (e.g. RECTYPE, PTFSM6CLA1A)", nullable=False),
        Field("description", "text", "The published label or description"),
        Field("methodology_changes", "text", "Methodology changes noted for the field (key stage 4 dictionaries)"),
    ),
    primary_key=("file_id", "row_number"),
)

BUILD = Table(
    "build",
    "meta",
    "How and when the warehouse was built: evenhand version, time, raw folder, strict or lenient; synthetic = true for a demo nation.",
    (
        Field("key", "text", "What", nullable=False, allowed=("evenhand_version", "built_at", "raw", "mode", "synthetic")),
        Field("value", "text", "Its value"),
    ),
    primary_key=("key",),
)

META_CODES = Table(
    "codes",
    "meta",
    "The grading scales and codes the build used (maps/codes.csv), stored beside the data they explain.",
    (
        Field("scale", "text", "Grading scale", nullable=False),
        Field("code", "text", "Code as stored in core.judgements", nullable=False),
        Field("label", "text", "Label people read", nullable=False),
        Field("aliases", "text", "Published spellings of the code, separated by '|'"),
        Field("rank", "int", "Order on the scale, 1 best"),
        Field("valid_from", "date", "First date the code has this label"),
        Field("valid_to", "date", "Last date the code has this label"),
        Field("graded", "bool", "A judgement (false: not applicable, not judged)", nullable=False),
        Field("description", "text", "What the code means"),
    ),
)

META_AREAS = Table(
    "areas",
    "meta",
    "The judgement areas the build used (maps/areas.csv), in Ofsted's order.",
    (
        Field("area", "text", "Judgement area", nullable=False),
        Field("scales", "text", "Scales the area accepts, in priority order, separated by '|'", nullable=False),
        Field("framework_family", "text", "Frameworks the area belongs to"),
        Field("description", "text", "What the area is"),
        Field("order", "int", "Ofsted's order of the areas", nullable=False),
        Field("label", "text", "Name people read", nullable=False),
    ),
    primary_key=("area",),
)

META_ERAS = Table(
    "eras",
    "meta",
    "The framework eras the build used (maps/eras.csv).",
    (
        Field("era", "text", "Era", nullable=False),
        Field("label", "text", "Name people read", nullable=False),
        Field("valid_from", "date", "First day", nullable=False),
        Field("valid_to", "date", "Last day (open-ended when null)"),
        Field("description", "text", "What changed"),
        Field("framework", "text", "The inspection framework the era belongs to"),
    ),
    primary_key=("era",),
)

META_COLUMN_MAPS = Table(
    "column_maps",
    "meta",
    "The column maps the build used (maps/<source>.csv via maps/layouts.toml): canonical column -> published header per layout.",
    (
        Field("layout", "text", "Layout (maps/layouts.toml)", nullable=False),
        Field("canonical", "text", "Canonical column", nullable=False),
        Field("header", "text", "Published header (a regular expression when is_regex)", nullable=False),
        Field("is_regex", "bool", "The header is a regular expression", nullable=False),
        Field("required", "bool", "The layout requires the column", nullable=False),
    ),
    primary_key=("layout", "canonical"),
)

#: derived (stage 3) from core.schools; declared here, beside the table it copies the fields of
SCHOOL_LATEST = Table(
    "school_latest",
    "out",
    "One row per URN: the newest row any school-level file gives for it (core.schools ordered by "
    "as-at date, newest first, then file_id and row number, highest first). The one definition of "
    "'the school as last reported' (its name, type, postcode, local authority) that search, the "
    "school report and the audits read; a school closed before the newest file keeps its last row.",
    SCHOOLS.fields,
    primary_key=("urn",),
)

TABLES: tuple[Table, ...] = (
    FILES, WARNINGS, REJECTIONS, CONFLICTS, BUILD, META_CODES, META_AREAS, META_ERAS, META_COLUMN_MAPS,
    SCHOOLS, EVENTS, EVENT_SOURCES, JUDGEMENTS,
    GIAS_LINKS, GIAS_GROUPS, GIAS_GROUP_LINKS,
    CONTEXT,
    DFE_FIELD_DICTIONARY,
    *OUT_TABLES,
    SCHOOL_LATEST,
)


def table(qualified: str) -> Table:
    for t in TABLES:
        if t.qualified == qualified or t.name == qualified:
            return t
    raise KeyError(qualified)
