"""The readers work on the store interface alone: export, ask, the quality report and a re-standardization dry run
on DynamoDB (moto server) give the same answers as on DuckDB."""
from __future__ import annotations

import csv
import threading
import time

import pytest

from easycrm_pipeline.config import get_settings
from easycrm_pipeline.pipeline.restandardize import restandardize
from easycrm_pipeline.pipeline.standardizer import RulesStandardizer
from easycrm_pipeline.readers.ask import answer, executable_sql, validate_sql
from easycrm_pipeline.readers.export import export_leads
from easycrm_pipeline.readers.quality import quality_report
from easycrm_pipeline.rules import RULES_VERSION
from easycrm_pipeline.store.base import LeadQuery, QueryTimeLimit
from easycrm_pipeline.store.duckdb_store import DuckDBStore
from easycrm_tests.readers.seed import HYPERLINK, seed
from easycrm_tests.store.conftest import dynamo_endpoint, make_dynamodb_store  # noqa: F401
from easycrm_tests.store.helpers import lead, numbered_leads
from easycrm_tests.store.multiproc import worker


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
    assert (alex["firstName"], alex["lastName"], alex["standardizer"]) == ("Alex", "Smith", RULES_VERSION)
    assert [c["email"] for c in any_store.changes(run_id="restd")] == ["alex@x.example"]
    assert result.version_bumped == 1 and result.notes == []
    assert any_store.get_lead_by_email("bo@x.example")["standardizer"] == RULES_VERSION


# ---------------------------------------------------------------------------------------------------- ask limits
CROSS_JOIN = executable_sql(validate_sql("SELECT count(*) AS n FROM leads a, leads b, leads c, leads d, leads e"))


def test_ask_time_limit_stops_a_runaway_query_and_says_so(any_store):
    """Issue 16 item 6: a 5-way self cross join is stopped at the time limit, in one line naming it."""
    any_store.upsert_file(numbered_leads(list(range(300)), tag="x"), source_file="many.csv")
    started = time.monotonic()
    with pytest.raises(QueryTimeLimit) as caught:
        any_store.run_readonly_sql(CROSS_JOIN, max_rows=10, time_limit=1)
    assert time.monotonic() - started < 30  # stopped, not run to the end (300^5 rows)
    assert str(caught.value).startswith("the query was stopped after 1 s (time limit; EASYCRM_ASK_TIMEOUT_SECONDS)")
    assert "\n" not in str(caught.value)
    # the store still answers afterwards
    assert any_store.run_readonly_sql(executable_sql(validate_sql("SELECT count(*) FROM leads")))[1] == [(307,)]


def test_ask_row_limit_says_when_more_rows_matched(any_store):
    """Issue 16 item 6: at most 100 rows, and the answer says when more matched."""
    settings = get_settings()
    any_store.upsert_file([lead(2 + i, firstName=f"F{i}", lastName="Smithson", email=f"s{i}@x.com")
                           for i in range(101)], source_file="smith.csv")
    cut = answer("find smithson", any_store, settings)
    assert len(cut.rows) == 100
    assert cut.note == "row limit: only the first 100 rows are shown; more matched (ask a narrower question)"
    assert cut.to_dict()["note"] == cut.note
    whole = answer("find Lee", any_store, settings)  # the seed's one Lee: no note, no "note" key
    assert whole.note is None and "note" not in whole.to_dict() and len(whole.rows) == 1


def test_ask_never_blocks_an_ingest(tmp_path):
    """Issue 16 item 6: while a question runs (here: until its time limit), another process's ingest writes the
    store without waiting for it; the question still ends at its limit."""
    store = DuckDBStore(tmp_path / "leads.duckdb")
    store.init()
    store.upsert_file(numbered_leads(list(range(300)), tag="x"), source_file="many.csv")
    outcome: list[BaseException | tuple] = []

    def ask() -> None:
        try:
            outcome.append(store.run_readonly_sql(CROSS_JOIN, max_rows=10, time_limit=20))
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
            outcome.append(exc)

    asker = threading.Thread(target=ask, daemon=True)
    asker.start()
    time.sleep(1.0)  # the question is running its query by now
    writer = worker("upsert-one", str(store.path), "late@example.com", "5")  # another process, 5 s lock timeout
    out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    assert asker.is_alive() and outcome == []  # the ingest finished while the question was still running
    asker.join(60)
    assert len(outcome) == 1 and isinstance(outcome[0], QueryTimeLimit)
    assert store.get_lead_by_email("late@example.com") is not None
