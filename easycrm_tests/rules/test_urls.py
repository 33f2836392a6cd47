"""The linkedinUrl field (docs/adding-a-field.md): its rule, the rules/DeepSeek path, both stores, export, filter."""
import csv

import pytest

from easycrm_pipeline.models import RawRow
from easycrm_pipeline.readers.export import export_leads
from easycrm_pipeline.rules.standardize import standardize_row
from easycrm_pipeline.rules.urls import normalize_linkedin_url
from easycrm_pipeline.rules.validate import validate_candidate
from easycrm_pipeline.store.base import LeadQuery
from easycrm_pipeline.store.duckdb_store import DuckDBStore
from easycrm_tests.store.conftest import dynamo_endpoint, make_dynamodb_store  # noqa: F401 (fixture)

URL = "https://www.linkedin.com/in/ann-lee"


@pytest.mark.parametrize("cell, value", [
    ("https://www.linkedin.com/in/ann-lee", URL), ("de.linkedin.com/in/Ann-Lee/?trk=x", URL),
    ("http://linkedin.com/in/ann-lee#top", URL), ("linkedin.com/company/acme", None), ("ann lee", None),
])
def test_normalize_linkedin_url(cell, value):
    got, remarks = normalize_linkedin_url(cell)
    assert got == value
    assert remarks == (() if value else (f"invalid LinkedIn URL in source: {cell}",))


def _row(*cells):
    return RawRow("0:2", None, 2, (("First Name", "Ann"), ("Email", "ann@x.example"), *cells))


def test_rules_fill_the_field_and_keep_the_rest():
    lead = standardize_row(_row(("LinkedIn", "linkedin.com/in/Ann-Lee")))
    assert lead.fields["linkedinUrl"] == URL and lead.fields["remarks"] is None
    assert "linkedinUrl" in lead.provided
    bad = standardize_row(_row(("LinkedIn URL", "see website")))
    assert bad.fields["linkedinUrl"] is None
    assert bad.fields["remarks"] == "invalid LinkedIn URL in source: see website"
    assert "linkedinUrl" not in standardize_row(_row()).provided


def test_deepseek_value_is_checked():
    row = _row(("LinkedIn", "linkedin.com/in/ann-lee"))
    assert validate_candidate(row, {"id": "0:2", "linkedinUrl": "https://linkedin.com/in/ann-lee/"}
                              ).fields["linkedinUrl"] == URL
    wrong = validate_candidate(row, {"id": "0:2", "linkedinUrl": "https://www.linkedin.com/in/bob"})
    assert wrong.fields["linkedinUrl"] == URL and "llm-value-rejected:linkedinUrl" in wrong.flags


@pytest.mark.parametrize("backend", ["duckdb", "dynamodb"])
def test_stores_export_and_filter(backend, tmp_path, request):
    if backend == "duckdb":
        store = DuckDBStore(tmp_path / "leads.duckdb")
        store.init()
    else:
        store = make_dynamodb_store(request.getfixturevalue("dynamo_endpoint"))
    store.upsert_file([standardize_row(_row(("LinkedIn", "linkedin.com/in/Ann-Lee")))], source_file="a.csv")
    # a later file without the column leaves the value alone
    store.upsert_file([standardize_row(_row(("Title", "CEO")))], source_file="b.csv")
    leads, total = store.query_leads(LeadQuery(filters={"linkedinUrl": "IN/ANN-LEE"}))
    assert total == 1 and leads[0]["linkedinUrl"] == URL and leads[0]["title"] == "CEO"
    assert store.query_leads(LeadQuery(filters={"linkedinUrl": "bob"}))[1] == 0
    assert store.query_leads(LeadQuery(search="ann-lee"))[1] == 1
    out = tmp_path / "out.csv"
    export_leads(store, out, all_columns=True)
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    assert rows[0]["linkedinUrl"] == URL
