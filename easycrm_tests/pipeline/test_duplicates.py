"""detect_duplicates: the run's leads (or the given ones) against the table; nothing for a run that wrote nothing."""
import pytest

import easycrm_pipeline.pipeline.duplicates as duplicates
from easycrm_pipeline.matching.gold import make_gold_set
from easycrm_pipeline.models import LEAD_FIELDS
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


def test_rounds_find_the_same_pairs(tmp_path, monkeypatch):
    """A run's leads matched a few at a time (bounded memory) give the pairs of one round."""
    gold = make_gold_set(9, people=300, duplicates=40, lookalikes=20, strangers=20)
    found = {}
    for chunk in (5000, 7):
        s = DuckDBStore(tmp_path / f"r{chunk}.duckdb")
        s.init()
        def as_leads(rows):
            return [lead(i + 2, **{f: r.get(f) for f in LEAD_FIELDS}) for i, r in enumerate(rows)]

        s.upsert_file(as_leads(gold.table), source_file="table.csv", run_id="t")
        s.upsert_file(as_leads(gold.new), source_file="new.csv", run_id="n")
        monkeypatch.setattr(duplicates, "CHUNK", chunk)
        result = detect_duplicates(s, run_id="n")
        by_id = {x["leadId"]: (x["firstName"], x["lastName"], x["email"], x["phone"]) for x in s.all_leads()}
        found[chunk] = ({frozenset((by_id[p["leadA"]], by_id[p["leadB"]])) for p in s.possible_duplicates()},
                        result.candidates, result.pairs_found)
    assert found[5000] == found[7] and found[7][2] >= 38
