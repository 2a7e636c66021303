"""out.snapshots: the one rule that says whether a school-level file describes England."""

from __future__ import annotations

from pathlib import Path

from tiny_warehouse import D, Tiny, rows

from evenhand import maps
from evenhand.derive.as_at import default_as_at
from evenhand.derive.pipeline import derive_all
from evenhand.derive.snapshots import coverage_text, is_national


def test_the_rule() -> None:
    n = len(maps.ofsted_regions())
    assert n == 8
    assert is_national(8, 150, 153)
    assert not is_national(7, 153, 153)  # a region missing
    assert not is_national(8, 100, 153)  # too few local authorities
    assert coverage_text(True, ["Leeds"], 8) == "England"
    assert coverage_text(False, ["Leeds"], 1) == "Leeds only"
    assert coverage_text(False, [f"LA {i}" for i in range(12)], 2) == "12 local authorities in 2 regions"


def test_newest_national_file_is_the_default_not_a_newer_one_authority_extract(tmp_path: Path) -> None:
    t = Tiny(tmp_path / "w.duckdb")
    urn = 100000
    for year in (2020, 2025):  # two national files: every region, two authorities in each
        for region in maps.ofsted_regions():
            for la in (f"{region} A", f"{region} B"):
                urn += 1
                t.school(urn, D(year, 8, 31), file_id=year, la=la, ofsted_region=region)
    t.school(999001, D(2026, 2, 28), file_id=9, la="Leeds", ofsted_region="North East, Yorkshire and the Humber")
    con = t.write()
    derive_all(con)
    got = {r["file_id"]: r for r in rows(con, "SELECT * FROM out.snapshots")}
    assert {k: (v["national"], v["coverage"], v["newest_national"]) for k, v in got.items()} == {
        2020: (True, "England", False), 2025: (True, "England", True), 9: (False, "Leeds only", False),
    }
    assert got[2025]["n_schools"] == 16 and got[9]["n_local_authorities"] == 1
    assert default_as_at(con) == D(2025, 8, 31)
    assert {r["as_at"] for r in rows(con, "SELECT DISTINCT as_at FROM out.latest_as_at")} == {D(2025, 8, 31)}


def test_without_a_national_file_the_newest_file_is_used_and_says_what_it_covers(tmp_path: Path) -> None:
    t = Tiny(tmp_path / "w.duckdb")
    t.school(1, D(2021, 8, 31), file_id=1, la="Town", ofsted_region="London")
    t.school(2, D(2022, 2, 28), file_id=2, la="Leeds", ofsted_region="North East, Yorkshire and the Humber")
    con = t.write()
    derive_all(con)
    assert default_as_at(con) == D(2022, 2, 28)
    assert rows(con, "SELECT coverage FROM out.snapshots WHERE file_id = 2")[0]["coverage"] == "Leeds only"


def test_a_newer_national_file_closes_the_schools_of_an_abolished_authority(tmp_path: Path) -> None:
    """The 2020 file has Northamptonshire; the 2025 file has North and West Northamptonshire
    (2021) and no Northamptonshire: a 2020 Northamptonshire school missing from the 2025 file is
    not open in 2025, though no 2025 row names its authority. A one-authority extract still
    closes no-one outside its authority."""
    from evenhand.derive.as_at import latest_as_at

    t = Tiny(tmp_path / "w.duckdb")
    urn = 100000
    for year in (2020, 2025):
        for region in maps.ofsted_regions():
            for la in (f"{region} A", f"{region} B", f"{region} C"):
                urn += 1
                t.school(urn, D(year, 8, 31), file_id=year, la=la, ofsted_region=region)
    t.school(200001, D(2020, 8, 31), file_id=2020, la="Northamptonshire", ofsted_region="East Midlands")
    t.school(200002, D(2020, 8, 31), file_id=2020, la="Northamptonshire", ofsted_region="East Midlands")
    t.school(200002, D(2025, 8, 31), file_id=2025, la="West Northamptonshire", ofsted_region="East Midlands")
    t.school(999001, D(2026, 2, 28), file_id=9, la="Leeds", ofsted_region="North East, Yorkshire and the Humber")
    con = t.write()
    derive_all(con)
    in_2020 = set(latest_as_at(con, D(2020, 8, 31))["urn"].to_list())
    in_2025 = set(latest_as_at(con, D(2025, 8, 31))["urn"].to_list())
    in_2026 = set(latest_as_at(con, D(2026, 2, 28))["urn"].to_list())
    assert {200001, 200002} <= in_2020 and len(in_2020) == 26
    assert 200001 not in in_2025 and 200002 in in_2025 and len(in_2025) == 25
    assert in_2026 == in_2025 | {999001}
