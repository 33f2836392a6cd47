"""Collecting a file whose settled leads come as a Parquet lead file (issue 13), on every store back end: DuckDB
dedupes and upserts set-based, the others read the file in blocks; both give the same counts and leads."""
from __future__ import annotations

from easycrm_pipeline.parsing import read_file
from easycrm_pipeline.pipeline.collect import ParseSummary, collect_file
from easycrm_pipeline.pipeline.leadfile import write_leads
from easycrm_pipeline.rules import standardize_rows
from easycrm_tests.pipeline.test_leadfile import CSV


def test_a_lead_file_is_deduped_and_upserted_the_same_on_every_store(store, tmp_path):
    path = tmp_path / "f.csv"
    path.write_text(CSV, encoding="utf-8")
    parsed = read_file(path)
    summary = ParseSummary(file_name="f.csv", rows_read=parsed.rows_read, quarantine=parsed.quarantine,
                           sheets=parsed.sheets)
    lead_file = write_leads(tmp_path / "settled.parquet", standardize_rows(parsed.rows))
    first = collect_file([], summary, store, run_id="r1", lead_files=[lead_file])
    assert (first.leads_created, first.leads_updated, first.duplicates_resolved) == (5, 0, 2)
    ann = store.get_lead_by_email("ann@example.com")
    assert (ann["lastName"], ann["company"], ann["remarks"]) == ("Lee-Smith", "Acme GmbH", "first; VIP; second; third")
    again = collect_file([], summary, store, run_id="r2", lead_files=[lead_file])
    assert (again.leads_created, again.leads_updated, again.leads_unchanged) == (0, 0, 5)
