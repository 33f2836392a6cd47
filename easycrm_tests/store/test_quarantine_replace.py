"""A file's quarantine shows its CURRENT state: each ingest re-reads the whole file, so the latest completed run's
quarantine replaces the file's earlier quarantine rows (both back ends). Rows the new run quarantines again are
kept as stored (same ``runId``/``at``): a re-run of an unchanged file changes nothing visible."""
from __future__ import annotations

from easycrm_pipeline.models import QuarantineRow
from easycrm_pipeline.pipeline.batches import BatchResult
from easycrm_pipeline.pipeline.collect import ParseSummary, collect_file
from easycrm_tests.store.helpers import lead

FAILED = "DeepSeek failed after 3 tries"


def rows_of(store, file):
    return [(q["row"], q["reason"], q["rawRow"], q["runId"]) for q in store.quarantine_rows(file)]


def test_replace_keeps_rows_quarantined_again_and_drops_the_others(store):
    a, b, c = (QuarantineRow(None, n, "footer", {"Notes": f"n{n}"}) for n in (2, 3, 4))
    assert store.add_quarantine([a, b], source_file="q.csv", run_id="r1") == 2
    store.add_quarantine([a], source_file="other.csv", run_id="r1")
    assert store.add_quarantine([b, c], source_file="q.csv", run_id="r2", replace=True) == 1
    assert rows_of(store, "q.csv") == [(3, "footer", {"Notes": "n3"}, "r1"), (4, "footer", {"Notes": "n4"}, "r2")]
    assert store.add_quarantine([b, c], source_file="q.csv", run_id="r3", replace=True) == 0  # unchanged: as is
    assert rows_of(store, "q.csv") == [(3, "footer", {"Notes": "n3"}, "r1"), (4, "footer", {"Notes": "n4"}, "r2")]
    assert store.add_quarantine([], source_file="q.csv", run_id="r4", replace=True) == 0
    assert rows_of(store, "q.csv") == []
    assert rows_of(store, "other.csv") == [(2, "footer", {"Notes": "n2"}, "r1")]  # another file: untouched


def dupes_inputs(deepseek_works: bool):
    """``(results, summary)`` of ``dupes.csv``: 6 rows in one batch, standardized, or dead-lettered by DeepSeek."""
    leads = [lead(n, firstName=f"F{n}", email=f"d{n}@x.com") for n in range(2, 8)]
    summary = ParseSummary(file_name="dupes.csv", rows_read=6, batches=1)
    if deepseek_works:
        return [BatchResult(batch="batch_00001", leads=leads)], summary
    dead = [QuarantineRow(None, ld.row_number, FAILED, dict(ld.raw)) for ld in leads]
    return [BatchResult(batch="batch_00001", quarantine=dead, failed=True, error=FAILED,
                        dead_row_ids=[ld.row_id for ld in leads])], summary


def test_rows_that_became_leads_leave_the_quarantine(store):
    store.add_quarantine([QuarantineRow(None, 9, "footer", {"x": "y"})], source_file="other.csv", run_id="r0")
    failed = collect_file(*dupes_inputs(False), store, run_id="r1")
    assert (failed.leads_created, failed.quarantined) == (0, 6)
    assert [r[1] for r in rows_of(store, "dupes.csv")] == [FAILED] * 6
    again = collect_file(*dupes_inputs(False), store, run_id="r2")  # same failure: the same 6 rows, not 12
    assert again.quarantined == 6 and {r[3] for r in rows_of(store, "dupes.csv")} == {"r1"}
    ok = collect_file(*dupes_inputs(True), store, run_id="r3")
    assert (ok.leads_created, ok.quarantined) == (6, 0)
    assert store.count_leads() == 6
    assert rows_of(store, "dupes.csv") == []
    assert len(rows_of(store, "other.csv")) == 1
    rerun = collect_file(*dupes_inputs(True), store, run_id="r4")  # unchanged file: nothing visible changes
    assert (rerun.leads_created, rerun.leads_updated, rerun.quarantined) == (0, 0, 0)
    assert rows_of(store, "dupes.csv") == [] and store.count_leads() == 6
