"""The readers work on the store interface alone: export, ask, the quality report and a re-standardization dry run
on DynamoDB (moto server) give the same answers as on DuckDB."""
from __future__ import annotations

import csv

import pytest

from easycrm_pipeline.config import get_settings
from easycrm_pipeline.pipeline.restandardize import restandardize
from easycrm_pipeline.pipeline.standardizer import RulesStandardizer
from easycrm_pipeline.readers.ask import answer
from easycrm_pipeline.readers.export import export_leads
from easycrm_pipeline.readers.quality import quality_report
from easycrm_pipeline.store.base import LeadQuery
from easycrm_pipeline.store.duckdb_store import DuckDBStore
from easycrm_tests.readers.seed import HYPERLINK, seed
from easycrm_tests.store.conftest import dynamo_endpoint, make_dynamodb_store  # noqa: F401


@pytest.fixture(params=["duckdb", "dynamodb"])
def any_store(request, tmp_path):
    if request.param == "duckdb":
        store = DuckDBStore(tmp_path / "leads.duckdb")
        store.init()
    else:
        store = make_dynamodb_store(request.getfixturevalue("dynamo_endpoint"))
    seed(store)
    return store


def test_readers_on_both_back_ends(any_store, tmp_path):
    out = tmp_path / "acme.csv"
    assert export_leads(any_store, out, LeadQuery(company="acme", sort="lastName", descending=False)) == 3
    with out.open(encoding="utf-8-sig", newline="") as fh:
        assert [r["lastName"] for r in csv.DictReader(fh)] == ["Chan", "Lee", "Stone"]
    assert export_leads(any_store, out) == 7
    with out.open(encoding="utf-8-sig", newline="") as fh:
        assert "'" + HYPERLINK in [r["company"] for r in csv.DictReader(fh)]

    settings = get_settings()
    assert answer("how many leads from acme", any_store, settings).rows == [[3]]
    assert answer("how many leads from file crm_b.xlsx", any_store, settings).rows == [[2]]
    assert answer("find kim lee", any_store, settings).rows[0][:2] == ["Kim", "Lee"]

    report = quality_report(any_store)
    assert (report.total_leads, report.leads_by_source, report.duplicates_resolved, report.quarantine_by_reason) == (
        7, {"crm_a.csv": 5, "crm_b.xlsx": 2}, 1, {"footer": 2, "no lead fields": 1})

    dry = restandardize(any_store, RulesStandardizer(), dry_run=True)
    assert dry.stale == 0  # the seed is written with the current rules version


def test_restandardize_on_both_back_ends(any_store):
    from easycrm_tests.store.helpers import lead

    any_store.upsert_file(
        [lead(2, firstName="ALEX", lastName="SMITH", email="alex@x.example", standardizer="rules-0"),
         lead(3, firstName="Bo", lastName="Lee", email="bo@x.example", standardizer="rules-0")],
        source_file="old.csv",
    )
    result = restandardize(any_store, RulesStandardizer(), run_id="restd")
    assert (result.stale, result.updated, result.unchanged) == (2, 1, 1)
    alex = any_store.get_lead_by_email("alex@x.example")
    assert (alex["firstName"], alex["lastName"], alex["standardizer"]) == ("Alex", "Smith", "rules-1")
    assert [c["email"] for c in any_store.changes(run_id="restd")] == ["alex@x.example"]
    assert result.version_bumped == 1 and result.notes == []
    assert any_store.get_lead_by_email("bo@x.example")["standardizer"] == "rules-1"
