"""detect_duplicates: the run's leads (or the given ones) against the table; nothing for a run that wrote nothing."""
import pytest

from easycrm_pipeline.pipeline.duplicates import detect_duplicates
from easycrm_pipeline.store.duckdb_store import DuckDBStore
from easycrm_tests.store.helpers import lead


@pytest.fixture
def store(tmp_path):
    s = DuckDBStore(tmp_path / "leads.duckdb")
    s.init()
    s.upsert_file([lead(2, firstName="Ben", lastName="Weber", company="Globex AG", email="ben@globex.com",
                        phone="+4940555666")], source_file="a.csv", run_id="run-a")
    s.upsert_file([lead(2, firstName="Ben", lastName="Weber", phone="040555666")], source_file="b.csv",
                  run_id="run-b")
    return s


def test_run_leads_are_compared(store):
    result = detect_duplicates(store, run_id="run-b", source_file="b.csv")
    assert result.leads_compared == 1 and result.candidates == 1 and result.pairs_found == 1
    assert result.by_rule == {"phone": 1, "name": 1, "email_domain_surname": 0, "company": 0}
    assert result.top[0]["rules"] == ["phone", "name"] and result.to_dict()["threshold"] == 0.8


def test_nothing_to_compare_and_bad_threshold(store):
    empty = detect_duplicates(store, run_id="no-such-run")
    assert empty.leads_compared == 0 and empty.pairs_found == 0 and set(empty.by_rule) == {
        "phone", "name", "email_domain_surname", "company"}
    ids = [x["leadId"] for x in store.all_leads()]
    assert detect_duplicates(store, run_id=None, lead_ids=ids[:1]).pairs_found == 1
    with pytest.raises(ValueError):
        detect_duplicates(store, run_id="run-b", threshold=2)
