"""`evenhand run` (and the analysis half of `evenhand demo`): the whole pipeline in one call.

fetch (when the folder holds no data) -> build -> audits -> national evidence pack ->
open-data export. Every step opens the warehouse through :class:`evenhand.engine.Evenhand`,
so the pack, the audit files and the dashboard describe the same snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from evenhand.engine import DEFAULT_SEED, AuditRun, Evenhand
from evenhand.errors import EvenhandError

Progress = Callable[[str, int, int], None]


@dataclass
class PipelineResult:
    out: Path
    warehouse: Path
    outputs: dict[str, Path] = field(default_factory=dict)  # what -> file or folder
    notes: list[str] = field(default_factory=list)  # steps that were not available, and why
    open_first: Path | None = None
    synthetic: bool = False  # the warehouse is synthetic: every output says so


def national_pack(
    eh: Evenhand,
    out_dir: Path,
    as_at: str | None = None,
    seed: int = DEFAULT_SEED,
    pdf: bool = True,
    raw: str | None = None,
    progress: Progress | None = None,
) -> tuple[AuditRun, list[Path]]:
    """Run every audit and write the evidence pack (HTML, PDF, tables) into ``out_dir``."""
    from evenhand.present.report import provenance, reproduce_commands, write_national

    run = eh.run_audits(None, as_at, seed, progress, keep_going=True)
    built = eh.build_info()
    with eh.cursor() as cur:
        inputs = provenance(cur)
    commands = reproduce_commands(str(eh.path), run.snapshot.as_at, str(out_dir), raw or built.get("raw"),
                                  built.get("mode") == "lenient")
    paths = write_national(out_dir, run.slots, run.snapshot.as_at, inputs, commands, run.synthetic, pdf=pdf,
                           coverage=run.snapshot.coverage)
    return run, paths


def analyse(warehouse: Path, out: Path, result: PipelineResult, progress: Progress | None, step: int, steps: int,
            pdf: bool = True, raw: Path | None = None) -> None:
    """Audits -> national evidence pack -> open-data export, into ``out``.

    An audit that cannot run on these data is listed in ``result.notes`` (and shown as 'not
    available' in the pack), never given a number."""
    from evenhand.present.export import export

    if progress:
        progress("running the audits and writing the national evidence pack", step, steps)
    with Evenhand(warehouse) as eh:
        run, paths = national_pack(eh, out / "report", pdf=pdf, raw=str(raw) if raw else None)
    result.synthetic = result.synthetic or run.synthetic
    from evenhand.present.synthetic import stamp_outputs

    for s in run.slots:
        if s.result is not None:
            written = s.result.write(out / "audit")
            if run.synthetic:  # every file of a synthetic run says so (evenhand.present.synthetic)
                stamp_outputs(written)
        else:
            result.notes.append(f"audit {s.name}: {s.reason}")
    result.outputs["audits"] = out / "audit"
    html = next((p for p in paths if p.suffix == ".html"), None)
    if html is not None:
        result.outputs["evidence pack"] = html
        result.open_first = html
    if progress:
        progress("exporting open data", step + 1, steps)
    export(warehouse, out / "open-data")
    if run.synthetic:  # the Parquet tables keep their declared columns and say so in their metadata
        stamp_outputs([out / "open-data"], table_columns=False)
    result.outputs["open data"] = out / "open-data" / "datapackage.json"
    if result.open_first is None:
        result.open_first = result.outputs["open data"]


def has_data_files(raw: Path) -> bool:
    from evenhand.core.pipeline import DATA_SUFFIXES

    return raw.exists() and any(p.is_file() and p.suffix.lower() in DATA_SUFFIXES for p in raw.rglob("*"))


def run_pipeline(raw: Path, out: Path, warehouse: Path, fetch: bool | None = None, mirror: str | None = None,
                 pdf: bool = True, progress: Progress | None = None) -> PipelineResult:
    """Fetch (when ``raw`` holds no data files, or ``fetch`` is True) -> build -> audits ->
    national evidence pack -> open-data export."""
    from evenhand.core.pipeline import build_warehouse

    steps = 4
    result = PipelineResult(out, warehouse)
    if fetch or (fetch is None and not has_data_files(raw)):
        from evenhand.fetch import fetch as do_fetch

        if progress:
            progress(f"fetching the official files into {raw}", 0, steps)
        report = do_fetch(raw, mirror=mirror)
        bad = [f"{f.url}: {f.message}" for f in report.files if f.status in ("rejected", "failed")] + report.problems
        result.notes += [f"fetch: {b}" for b in bad]
        if not has_data_files(raw):
            raise EvenhandError(f"no data files in {raw} after fetching: " + ("; ".join(bad) or "nothing found"))
    if progress:
        progress(f"building the warehouse from {raw}", 1, steps)
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    build_warehouse(raw, warehouse)
    result.outputs["warehouse"] = warehouse
    analyse(warehouse, out, result, progress, 2, steps, pdf=pdf, raw=raw)
    if progress:
        progress("done", steps, steps)
    return result
