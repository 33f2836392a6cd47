"""Upsert semantics, audit trail, quarantine and queries, through the public ``LeadStore`` API.

Rules under test come from the seeds (000/002 "Duplicate Lead Handling") and DESIGN.md section 6 "Rules".
"""
from __future__ import annotations

import time

import pytest

from easycrm_pipeline.models import QuarantineRow
from easycrm_pipeline.rules import RULES_VERSION
from easycrm_pipeline.store.base import LeadQuery
from easycrm_tests.store.helpers import Dup, lead, numbered_leads


def all_leads(store) -> list[dict]:
    rows, total = store.query_leads(LeadQuery(sort="sourceRow", descending=False, page_size=100))
    assert total == len(rows)
    return rows


# ---------------------------------------------------------------- create / update / unchanged


def test_first_upsert_creates_leads(store):
    stats = store.upsert_file(
        [lead(2, firstName="Ann", lastName="Lee", email="Ann@Example.com", company="Acme"),
         lead(3, firstName="Bob", email="bob@example.com", phone="+493012345")],
        source_file="a.csv", run_id="run-1",
    )
    assert (stats.total, stats.created, stats.updated, stats.unchanged, stats.duplicates_detected) == (2, 2, 0, 0, 0)
    assert stats.processing_ms >= 0 and stats.duplicate_detection_ms >= 0
    ann = store.get_lead_by_email("ann@example.com")
    assert ann["firstName"] == "Ann" and ann["lastName"] == "Lee" and ann["company"] == "Acme"
    assert ann["email"] == "ann@example.com"  # normalized
    assert ann["sourceFile"] == "a.csv" and ann["sourceRow"] == 2 and ann["sourceRowId"] == "0:2"
    assert ann["sourceWorksheet"] is None
    assert ann["createdAt"] == ann["updatedAt"] and ann["createdAt"].endswith("Z")
    assert ann["rawRow"] == {"firstName": "Ann", "lastName": "Lee", "email": "Ann@Example.com", "company": "Acme"}
    assert ann["standardizer"] == RULES_VERSION  # the helper's default: the lead as given
    assert len(ann["leadId"]) == 36
    assert store.count_leads() == 2


def test_update_keeps_leadid_and_createdat_and_sets_source(store):
    store.upsert_file([lead(2, firstName="Ann", email="ann@example.com", title="CTO", company="Acme")],
                      source_file="old.csv")
    before = store.get_lead_by_email("ann@example.com")
    time.sleep(0.01)
    stats = store.upsert_file(
        [lead(7, sheet="Leads", firstName="Ann", email="ANN@example.com ", title="CEO", company="Acme")],
        source_file="new.xlsx", run_id="run-2",
    )
    assert (stats.created, stats.updated, stats.unchanged, stats.duplicates_detected) == (0, 1, 0, 1)
    after = store.get_lead_by_email("ann@example.com")
    assert after["leadId"] == before["leadId"]
    assert after["createdAt"] == before["createdAt"]
    assert after["updatedAt"] > before["updatedAt"]
    assert after["title"] == "CEO"
    assert (after["sourceFile"], after["sourceWorksheet"], after["sourceRow"]) == ("new.xlsx", "Leads", 7)
    assert store.count_leads() == 1


def test_unchanged_update_writes_nothing(store):
    store.upsert_file([lead(2, firstName="Ann", email="ann@example.com")], source_file="a.csv")
    before = store.get_lead_by_email("ann@example.com")
    n_changes = len(store.changes())
    stats = store.upsert_file([lead(9, firstName="Ann", email="ann@example.com")], source_file="b.csv")
    assert (stats.created, stats.updated, stats.unchanged, stats.duplicates_detected) == (0, 0, 1, 1)
    assert store.get_lead_by_email("ann@example.com") == before  # updatedAt, sourceFile, sourceRow all kept
    assert len(store.changes()) == n_changes


def test_rerun_of_same_file_is_idempotent(store):
    leads = numbered_leads(list(range(20)), tag="T") + [lead(40, firstName="NoMail")]
    store.upsert_file(leads, source_file="a.csv", run_id="r1")
    snapshot = all_leads(store)
    n_changes = len(store.changes())
    # same file, but the no-email lead is not in it (it would be a new lead every time, per the seeds)
    stats = store.upsert_file(leads[:-1], source_file="a.csv", run_id="r2")
    assert (stats.created, stats.updated, stats.unchanged) == (0, 0, 20)
    assert all_leads(store) == snapshot
    assert len(store.changes()) == n_changes
    assert store.changes(run_id="r2") == []


def test_null_email_is_always_a_new_lead(store):
    s1 = store.upsert_file([lead(2, firstName="X", email=None), lead(3, firstName="X", email="n/a"),
                            lead(4, firstName="X", email="  ")], source_file="a.csv")
    s2 = store.upsert_file([lead(2, firstName="X", email="NULL")], source_file="a.csv")
    assert (s1.created, s2.created, s2.updated) == (3, 1, 0)
    rows = all_leads(store)
    assert len(rows) == 4 and {r["email"] for r in rows} == {None}
    assert len({r["leadId"] for r in rows}) == 4


# ---------------------------------------------------------------- merge policies, provided fields


def test_replace_overwrites_with_empty_values(store):
    store.upsert_file([lead(2, firstName="Ann", email="a@x.com", title="CTO", phone="+4930")], source_file="a.csv")
    stats = store.upsert_file([lead(2, firstName="Ann", email="a@x.com", title="", phone=None)],
                              source_file="b.csv", merge="replace")
    assert stats.updated == 1
    got = store.get_lead_by_email("a@x.com")
    assert got["title"] is None and got["phone"] is None and got["firstName"] == "Ann"


def test_fill_blank_never_overwrites_with_empty(store):
    store.upsert_file([lead(2, firstName="Ann", email="a@x.com", title="CTO", phone="+4930")], source_file="a.csv")
    stats = store.upsert_file(
        [lead(2, firstName="Anna", email="a@x.com", title="", phone=None, company="Acme")],
        source_file="b.csv", merge="fill-blank",
    )
    assert stats.updated == 1
    got = store.get_lead_by_email("a@x.com")
    assert (got["firstName"], got["title"], got["phone"], got["company"]) == ("Anna", "CTO", "+4930", "Acme")
    change = store.changes(source_file="b.csv")[0]
    assert change["fieldsChanged"] == {"firstName": {"before": "Ann", "after": "Anna"},
                                       "company": {"before": None, "after": "Acme"}}


def test_fill_blank_with_only_empty_values_is_unchanged(store):
    store.upsert_file([lead(2, firstName="Ann", email="a@x.com", title="CTO")], source_file="a.csv")
    stats = store.upsert_file([lead(2, firstName="", email="a@x.com", title=None)], source_file="b.csv",
                              merge="fill-blank")
    assert (stats.updated, stats.unchanged) == (0, 1)
    assert store.get_lead_by_email("a@x.com")["sourceFile"] == "a.csv"


def test_field_not_provided_is_left_untouched(store):
    store.upsert_file([lead(2, firstName="Ann", email="a@x.com", phone="+4930", remarks="vip")],
                      source_file="a.csv")
    # the second file has no phone and no remarks column: those are not overwritten even in replace mode
    stats = store.upsert_file(
        [lead(2, firstName="Ann", lastName="Lee", email="a@x.com", provided={"firstName", "lastName", "email"})],
        source_file="b.csv",
    )
    assert stats.updated == 1
    got = store.get_lead_by_email("a@x.com")
    assert (got["lastName"], got["phone"], got["remarks"]) == ("Lee", "+4930", "vip")
    # a new lead from such a file has the not-provided fields NULL
    store.upsert_file([lead(3, firstName="Bo", email="b@x.com", phone="+1", provided={"firstName", "email"})],
                      source_file="b.csv")
    assert store.get_lead_by_email("b@x.com")["phone"] is None


def test_unknown_merge_policy_and_empty_source_rejected(store):
    with pytest.raises(ValueError, match="merge must be one of replace, fill-blank"):
        store.upsert_file([lead(2, email="a@x.com")], source_file="a.csv", merge="overwrite")
    with pytest.raises(ValueError, match="source_file"):
        store.upsert_file([lead(2, email="a@x.com")], source_file=" ")
    assert store.count_leads() == 0


def test_same_email_twice_in_one_call_last_wins(store):
    stats = store.upsert_file(
        [lead(2, firstName="First", email="a@x.com"), lead(3, firstName="Other", email="b@x.com"),
         lead(4, firstName="Last", email="A@X.COM")],
        source_file="a.csv",
    )
    assert (stats.total, stats.created, stats.batch_duplicates, stats.duplicates_detected) == (3, 2, 1, 1)
    got = store.get_lead_by_email("a@x.com")
    assert (got["firstName"], got["sourceRow"]) == ("Last", 4)


def test_empty_file_is_a_no_op(store):
    stats = store.upsert_file([], source_file="empty.csv")
    assert (stats.total, stats.created, stats.updated) == (0, 0, 0)
    assert store.count_leads() == 0 and store.changes() == []


# ---------------------------------------------------------------- audit trail


def test_audit_rows_for_create_and_update(store):
    store.upsert_file([lead(2, firstName="Ann", email="a@x.com", title="CTO", company="Acme")],
                      source_file="old.csv", run_id="r1", batch_ids={"0:2": "batch_00001"})
    store.upsert_file([lead(5, firstName="Ann", email="a@x.com", title="CEO", company="Acme Inc")],
                      source_file="new.csv", run_id="r2", batch_ids={"0:5": "batch_00003"})
    created, updated = store.changes()
    lead_id = store.get_lead_by_email("a@x.com")["leadId"]
    assert created["action"] == "lead_created" and created["leadId"] == lead_id and created["email"] == "a@x.com"
    assert created["fieldsChanged"] == {"firstName": {"before": None, "after": "Ann"},
                                        "title": {"before": None, "after": "CTO"},
                                        "company": {"before": None, "after": "Acme"},
                                        "email": {"before": None, "after": "a@x.com"}}
    assert (created["newSourceFile"], created["previousSourceFile"]) == ("old.csv", None)
    assert (created["batchId"], created["runId"], created["rowId"]) == ("batch_00001", "r1", "0:2")
    assert updated["action"] == "lead_updated" and updated["leadId"] == lead_id
    assert updated["fieldsChanged"] == {"title": {"before": "CTO", "after": "CEO"},
                                        "company": {"before": "Acme", "after": "Acme Inc"}}
    assert (updated["previousSourceFile"], updated["newSourceFile"]) == ("old.csv", "new.csv")
    assert (updated["batchId"], updated["runId"], updated["rowId"]) == ("batch_00003", "r2", "0:5")
    assert updated["previousUpdatedAt"] == created["at"]
    assert [c["action"] for c in store.changes(source_file="new.csv")] == ["lead_updated"]
    assert [c["action"] for c in store.changes(run_id="r1")] == ["lead_created"]
    assert store.changes(source_file="new.csv", run_id="r1") == []


def test_batch_ids_are_text_even_when_given_as_numbers(store):
    store.upsert_file([lead(2, email="a@x.com"), lead(3, email="b@x.com")], source_file="a.csv",
                      batch_ids={"0:2": 7}, duplicates_resolved=[Dup("b@x.com", "0:3", ["0:1"])])
    assert [(c["action"], c["batchId"]) for c in store.changes()] == [
        ("lead_created", "7"), ("lead_created", None), ("batch_duplicate_resolved", None)]


def test_duplicates_resolved_write_audit_rows(store):
    stats = store.upsert_file(
        [lead(9, firstName="Kept", email="a@x.com"), lead(4, firstName="Solo", email="b@x.com")],
        source_file="d.csv", run_id="r1", batch_ids={"0:9": "batch_00002"},
        duplicates_resolved=[Dup("a@x.com", "0:9", ["0:2", "0:5"])],
    )
    assert (stats.created, stats.batch_duplicates, stats.duplicates_detected) == (2, 2, 2)
    rows = [c for c in store.changes() if c["action"] == "batch_duplicate_resolved"]
    assert len(rows) == 1
    (row,) = rows
    assert row["email"] == "a@x.com"
    assert row["leadId"] == store.get_lead_by_email("a@x.com")["leadId"]
    assert row["details"] == {"keptRowId": "0:9", "mergedRowIds": ["0:2", "0:5"]}
    assert (row["newSourceFile"], row["runId"], row["batchId"]) == ("d.csv", "r1", "batch_00002")


def test_rerun_writes_no_duplicate_resolved_rows_twice(store):
    """Issue 16 item 2: re-running an unchanged file writes its in-file duplicates' audit rows again no more; a
    re-run that changes the kept lead writes them with its update."""
    leads = [lead(9, firstName="Kept", email="a@x.com"), lead(4, firstName="Solo", email="b@x.com")]
    dups = [Dup("a@x.com", "0:9", ["0:2", "0:5"]), Dup("b@x.com", "0:4", ["0:3"])]
    store.upsert_file(leads, source_file="d.csv", run_id="r1", duplicates_resolved=dups)
    first = len(store.changes())
    assert first == 4
    stats = store.upsert_file(leads, source_file="d.csv", run_id="r2", duplicates_resolved=dups)
    assert (stats.created, stats.updated, stats.unchanged) == (0, 0, 2)
    assert len(store.changes()) == first and store.changes(run_id="r2") == []
    changed = [lead(9, firstName="Kept2", email="a@x.com"), leads[1]]
    store.upsert_file(changed, source_file="d.csv", run_id="r3", duplicates_resolved=dups)
    assert sorted((c["action"], c["email"]) for c in store.changes(run_id="r3")) == [
        ("batch_duplicate_resolved", "a@x.com"), ("lead_updated", "a@x.com")]


# ---------------------------------------------------------------- quarantine, imports


def test_quarantine_rows_are_kept_with_reason(store):
    n = store.add_quarantine(
        [QuarantineRow("Sheet1", 7, "no name, no email, no phone", {"Notes": "total: 12"}),
         QuarantineRow(None, None, "unsplittable line", {"_line": "a;b;;"})],
        source_file="q.xlsx", run_id="r9",
    )
    assert n == 2
    assert store.add_quarantine([], source_file="q.xlsx") == 0
    store.add_quarantine([QuarantineRow(None, 3, "footer", {"x": "y"})], source_file="other.csv")
    rows = store.quarantine_rows(source_file="q.xlsx")
    assert [(r["sheet"], r["row"], r["reason"], r["rawRow"], r["runId"]) for r in rows] == [
        ("Sheet1", 7, "no name, no email, no phone", {"Notes": "total: 12"}, "r9"),
        (None, None, "unsplittable line", {"_line": "a;b;;"}, "r9"),
    ]
    assert len(store.quarantine_rows()) == 3
    assert store.count_leads() == 0


def test_a_quarantined_row_already_stored_for_the_file_is_not_stored_again(store):
    """Re-running a file (or finishing an interrupted run) never doubles its quarantine: a row identical in sheet,
    row, reason and raw cells to one already stored for the same file is skipped."""
    rows = [QuarantineRow("Sheet1", 7, "footer", {"Notes": "total: 12"}),
            QuarantineRow(None, None, "unsplittable line", {"_line": "a;b;;"})]
    assert store.add_quarantine(rows, source_file="q.xlsx", run_id="r1") == 2
    assert store.add_quarantine(rows, source_file="q.xlsx", run_id="r2") == 0
    assert store.add_quarantine(rows[:1], source_file="other.xlsx", run_id="r2") == 1  # another file: stored
    changed = QuarantineRow("Sheet1", 7, "footer", {"Notes": "total: 13"})
    assert store.add_quarantine([*rows, changed], source_file="q.xlsx", run_id="r3") == 1
    assert [(r["row"], r["rawRow"], r["runId"]) for r in store.quarantine_rows("q.xlsx")] == [
        (7, {"Notes": "total: 12"}, "r1"), (None, {"_line": "a;b;;"}, "r1"), (7, {"Notes": "total: 13"}, "r3")]


# ---------------------------------------------------------------- queries


@pytest.fixture
def filled(store):
    store.upsert_file(
        [lead(2, firstName="Ann", lastName="Lee", title="CTO", company="Acme GmbH", email="ann@acme.de",
              phone="+49301234567"),
         lead(3, firstName="bob", lastName="Marley", title="Sales", company="Zeta", email="bob@zeta.io",
              phone="0044 20 7946"),
         lead(4, firstName="Carla", lastName="Acme", title="cfo", company="Other", email=None),
         lead(5, firstName="Dan", lastName="Brown", title=None, company="acme inc", email="dan@b.com")],
        source_file="Leads_Q1.csv",
    )
    store.upsert_file([lead(2, firstName="Eve", company="Foo", email="eve@foo.com")], source_file="late.xlsx")
    return store


def names(rows):
    return [r["firstName"] for r in rows]


def test_query_default_sort_newest_first(filled):
    rows, total = filled.query_leads(LeadQuery())
    assert total == 5
    assert names(rows) == ["Eve", "Ann", "bob", "Carla", "Dan"]  # newest file first, then row order


def test_query_contains_filters_case_insensitive(filled):
    assert names(filled.query_leads(LeadQuery(company="ACME", sort="firstName", descending=False))[0]) == \
        ["Ann", "Dan"]
    assert names(filled.query_leads(LeadQuery(email="ZETA"))[0]) == ["bob"]
    assert names(filled.query_leads(LeadQuery(title="cfo"))[0]) == ["Carla"]
    assert names(filled.query_leads(LeadQuery(first_name="AN", sort="firstName", descending=False))[0]) == \
        ["Ann", "Dan"]
    assert names(filled.query_leads(LeadQuery(last_name="marl"))[0]) == ["bob"]
    assert names(filled.query_leads(LeadQuery(source_file="q1"))[0]) == ["Ann", "bob", "Carla", "Dan"]
    assert names(filled.query_leads(LeadQuery(company="acme", title="cto"))[0]) == ["Ann"]
    assert filled.query_leads(LeadQuery(company="nope")) == ([], 0)


def test_query_phone_filter_matches_digits(filled):
    assert names(filled.query_leads(LeadQuery(phone="030 1234"))[0]) == []  # no national-prefix magic
    assert names(filled.query_leads(LeadQuery(phone="30 123"))[0]) == ["Ann"]
    assert names(filled.query_leads(LeadQuery(phone="+44"))[0]) == ["bob"]  # "0044 20 7946" is +44 20 7946
    assert names(filled.query_leads(LeadQuery(phone="+4930"))[0]) == ["Ann"]
    assert names(filled.query_leads(LeadQuery(phone="7946"))[0]) == ["bob"]


def test_query_phone_filter_with_plus_matches_from_the_start(store):
    """Issue 16 item 5: ``--phone +1`` is the country code 1, not "contains the digit 1"."""
    store.upsert_file(
        [lead(2, firstName="Uma", email="u@x.us", phone="+15551234567"),
         lead(3, firstName="Lou", email="l@x.uk", phone="+442012345678"),
         lead(4, firstName="Nat", email="n@x.de", phone="0301111111")],
        source_file="p.csv",
    )
    by = lambda text: sorted(names(store.query_leads(LeadQuery(phone=text))[0]))  # noqa: E731
    assert by("+1") == ["Uma"]
    assert by(" +44 20 ") == ["Lou"]
    assert by("+49") == []  # the digits-only number has no country code to match
    assert by("+") == ["Lou", "Uma"]
    assert by("1") == ["Lou", "Nat", "Uma"]  # without '+': contains, as before


def test_query_search_across_fields(filled):
    rows, total = filled.query_leads(LeadQuery(search="acme", sort="firstName", descending=False))
    assert (names(rows), total) == (["Ann", "Carla", "Dan"], 3)  # company, lastName, company
    assert names(filled.query_leads(LeadQuery(search="ann cto"))[0]) == ["Ann"]  # every term must match
    assert names(filled.query_leads(LeadQuery(search="ann sales"))[0]) == []
    assert names(filled.query_leads(LeadQuery(search="ZETA.IO"))[0]) == ["bob"]


def test_query_sort_both_ways_case_insensitive_nulls_last(filled):
    asc = names(filled.query_leads(LeadQuery(sort="firstName", descending=False))[0])
    assert asc == ["Ann", "bob", "Carla", "Dan", "Eve"]
    desc = names(filled.query_leads(LeadQuery(sort="firstName", descending=True))[0])
    assert desc == ["Eve", "Dan", "Carla", "bob", "Ann"]
    by_title = filled.query_leads(LeadQuery(sort="title", descending=False))[0]
    assert [r["title"] for r in by_title] == ["cfo", "CTO", "Sales", None, None]
    by_email_desc = filled.query_leads(LeadQuery(sort="email"))[0]
    assert [r["email"] for r in by_email_desc][-1] is None


def test_query_pagination_and_total(store):
    store.upsert_file(numbered_leads(list(range(23)), tag="T"), source_file="p.csv")
    pages = [store.query_leads(LeadQuery(sort="sourceRow", descending=False, page=p, page_size=10))
             for p in (1, 2, 3, 4)]
    assert [len(rows) for rows, _ in pages] == [10, 10, 3, 0]
    assert {total for _, total in pages} == {23}
    rows = [r for page, _ in pages for r in page]
    assert [r["sourceRow"] for r in rows] == list(range(2, 25))
    assert len({r["leadId"] for r in rows}) == 23
    rows, total = store.query_leads(LeadQuery(search="First1", page=1, page_size=100))
    assert total == 11  # First1, First10..First19


def test_reads_on_missing_database_are_empty(tmp_path):
    from easycrm_pipeline.store.duckdb_store import DuckDBStore

    s = DuckDBStore(tmp_path / "nowhere" / "x.duckdb")
    assert s.count_leads() == 0
    assert s.query_leads(LeadQuery()) == ([], 0)
    assert s.get_lead_by_email("a@x.com") is None
    assert s.changes() == [] and s.quarantine_rows() == []
    assert not (tmp_path / "nowhere").exists()  # a read never creates anything


def test_get_lead_by_email_edge_cases(filled):
    assert filled.get_lead_by_email("n/a") is None
    assert filled.get_lead_by_email("nobody@x.com") is None
    assert filled.get_lead_by_email("  BOB@zeta.io")["lastName"] == "Marley"


def test_record_import(store):
    store.record_import("a.csv", "run-1", {"created": 3, "status": "completed"})
    store.record_import("b.csv", None, {"created": 1})
    rows = store.file_imports("a.csv")
    assert [(r["sourceFile"], r["runId"], r["stats"]) for r in rows] == \
        [("a.csv", "run-1", {"created": 3, "status": "completed"})]
    assert len(store.file_imports()) == 2


# ---------------------------------------------------------------- streaming, version bump


def test_iter_leads_streams_all_matches_in_order(store):
    store.upsert_file(numbered_leads(list(range(25)), tag="T"), source_file="p.csv")
    store.upsert_file([lead(2, firstName="Zed", email=None)], source_file="q.csv")
    got = list(store.iter_leads(chunk_size=7))  # default: newest first
    assert len(got) == 26 and len({r["leadId"] for r in got}) == 26
    assert got[0]["firstName"] == "Zed" and [r["sourceRow"] for r in got[1:]] == list(range(2, 27))
    oldest = list(store.iter_leads(LeadQuery(sort="createdAt", descending=False, page_size=5), chunk_size=4))
    assert [r["firstName"] for r in oldest[:2]] == ["First0", "First1"] and oldest[-1]["firstName"] == "Zed"
    desc = list(store.iter_leads(LeadQuery(sort="firstName", descending=True), chunk_size=4))
    assert [r["firstName"] for r in desc[:3]] == ["Zed", "First9", "First8"] and len(desc) == 26
    only = list(store.iter_leads(LeadQuery(search="first1", sort="sourceRow", descending=False)))
    assert [r["firstName"] for r in only] == ["First1"] + [f"First{i}" for i in range(10, 20)]
    slim = list(store.iter_leads(LeadQuery(email="p3@"), columns=["email", "rawRow", "createdAt"]))
    assert slim == [{"email": "p3@example.com", "rawRow": got[4]["rawRow"], "createdAt": got[4]["createdAt"]}]
    assert isinstance(slim[0]["rawRow"], dict) and slim[0]["createdAt"].endswith("Z")
    with pytest.raises(ValueError, match="chunk_size"):
        list(store.iter_leads(chunk_size=0))
    with pytest.raises(ValueError, match="unknown lead column"):
        list(store.iter_leads(columns=["salary"]))


def test_set_standardizer_bumps_only_differing_versions_without_audit(store):
    store.upsert_file(numbered_leads([1, 2, 3], tag="T"), source_file="p.csv")  # written with RULES_VERSION
    newer = RULES_VERSION + "-next"
    ids = [r["leadId"] for r in store.iter_leads()]
    before = {r["leadId"]: r for r in store.iter_leads()}
    n_changes = len(store.changes())
    assert store.set_standardizer(ids[:2] + ["no-such-id"], newer) == 2
    assert store.set_standardizer(ids, newer) == 1
    assert store.set_standardizer([], newer) == 0
    after = {r["leadId"]: r for r in store.iter_leads()}
    assert {r["standardizer"] for r in after.values()} == {newer}
    assert all(after[i]["updatedAt"] == before[i]["updatedAt"] for i in ids)
    assert len(store.changes()) == n_changes
