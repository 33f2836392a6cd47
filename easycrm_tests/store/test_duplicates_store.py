"""Issue 18 in the stores: possible duplicates recorded per import, listed, dismissed for good; merge KEEP OTHER and
its undo, with audit rows; on every back end."""
from __future__ import annotations

import pytest

from easycrm_pipeline.matching.merge import OTHER_EMAIL_REMARK
from easycrm_pipeline.pipeline.duplicates import detect_duplicates
from easycrm_pipeline.store.base import LEAD_COLUMNS, UndoRefused
from easycrm_tests.store.helpers import lead


def _anna_files(store):
    store.upsert_file([
        lead(2, firstName="Anna", lastName="Müller", company="Acme Logistics GmbH", email="anna.mueller@acme.de",
             phone="+4930123456", title="Buyer"),
        lead(3, firstName="Ben", lastName="Weber", company="Globex AG", email="ben.weber@globex.com"),
    ], source_file="a.csv", run_id="run-a")
    store.upsert_file([
        # the same Anna under another email, and again with no email at all
        lead(2, firstName="Anna", lastName="Müller", company="ACME Logistics", email="a.mueller@gmail.com",
             remarks="met at the fair"),
        lead(3, firstName="Anna", lastName="Mueller", phone="030123456"),
        # family member sharing her phone: another person
        lead(4, firstName="Jonas", lastName="Müller", email="jonas.mueller@gmail.com", phone="+4930123456"),
        # same name at another company: another person
        lead(5, firstName="Ben", lastName="Weber", company="Initech Inc.", email="ben.weber@initech.com"),
    ], source_file="b.csv", run_id="run-b")
    ids = {(x["firstName"], x["email"]): x["leadId"] for x in store.all_leads()}
    return ids


def _pairs(store, min_score=0.0):
    return {(p["leadA"], p["leadB"]) for p in store.possible_duplicates(min_score)}


def _pair(a, b):
    return (a, b) if a < b else (b, a)


def test_detect_records_pairs_with_evidence_and_never_merges(store):
    ids = _anna_files(store)
    anna, gmail, none = (ids[("Anna", "anna.mueller@acme.de")], ids[("Anna", "a.mueller@gmail.com")],
                         ids[("Anna", None)])
    before = store.count_leads()
    result = detect_duplicates(store, run_id="run-b", source_file="b.csv")
    assert result.leads_compared == 4
    assert store.count_leads() == before  # recorded, not merged
    found = _pairs(store)
    assert _pair(anna, gmail) in found and _pair(anna, none) in found
    others = {ids[("Jonas", "jonas.mueller@gmail.com")], ids[("Ben", "ben.weber@initech.com")]}
    assert not any(set(p) & others for p in found), found
    assert result.pairs_found == len(found)
    assert result.by_rule["name"] >= 1 and result.by_rule["phone"] >= 1
    listed = {(p["leadA"], p["leadB"]): p for p in store.possible_duplicates()}
    p = listed[_pair(anna, none)]
    assert p["sourceFile"] == "b.csv" and p["runId"] == "run-b" and 0.8 <= p["score"] <= 1
    assert p["rules"] == ["phone"]  # Mueller and Müller have different name keys: the phone brought them together
    assert {(e["field"], e["how"]) for e in p["evidence"]} >= {("phone", "exact"), ("lastName", "similar")}
    assert {p["a"]["leadId"], p["b"]["leadId"]} == {anna, none} and p["a"]["firstName"] == "Anna"
    # again: the same pairs, refreshed, not doubled
    detect_duplicates(store, run_id="run-b", source_file="b.csv")
    assert len(store.possible_duplicates()) == len(listed)
    assert _pairs(store, min_score=1.01) == set()


def test_dismissed_pair_never_comes_back(store):
    ids = _anna_files(store)
    anna, gmail = ids[("Anna", "anna.mueller@acme.de")], ids[("Anna", "a.mueller@gmail.com")]
    detect_duplicates(store, run_id="run-b", source_file="b.csv")
    assert store.dismiss_pair(gmail, anna) is True
    assert store.dismiss_pair(anna, gmail) is False
    assert _pair(anna, gmail) not in _pairs(store)
    detect_duplicates(store, run_id="run-b", source_file="b.csv")
    assert _pair(anna, gmail) not in _pairs(store)
    assert store.dismissed_pairs() == {_pair(anna, gmail)}
    with pytest.raises(ValueError, match="no lead"):
        store.dismiss_pair(anna, "nope")
    with pytest.raises(ValueError):
        store.dismiss_pair(anna, anna)


def test_merge_and_its_undo(store):
    ids = _anna_files(store)
    anna, gmail = ids[("Anna", "anna.mueller@acme.de")], ids[("Anna", "a.mueller@gmail.com")]
    detect_duplicates(store, run_id="run-b", source_file="b.csv")
    snapshot = {x["leadId"]: x for x in store.all_leads()}
    dry = store.merge_leads(anna, gmail, dry_run=True)
    assert dry.dry_run and {x["leadId"]: x for x in store.all_leads()} == snapshot
    result = store.merge_leads(anna, gmail)
    kept = {x["leadId"]: x for x in store.all_leads()}
    assert gmail not in kept and anna in kept
    k = kept[anna]
    assert k["createdAt"] == snapshot[anna]["createdAt"] and k["email"] == "anna.mueller@acme.de"
    assert k["phone"] == "+4930123456" and k["title"] == "Buyer"
    assert k["remarks"] == f"met at the fair; {OTHER_EMAIL_REMARK}a.mueller@gmail.com"
    assert result.changed == {"remarks": {"before": None, "after": k["remarks"]}}
    assert _pair(anna, gmail) not in _pairs(store)
    rows = [r for r in store.changes() if r["runId"] == result.merge_id]
    assert {(r["action"], r["leadId"]) for r in rows} == {("lead_merged", anna), ("lead_merged_away", gmail)}
    # the import that created KEEP cannot be undone silently over the merge
    with pytest.raises(UndoRefused, match="changed later"):
        store.undo_import("a.csv", dry_run=True)
    with pytest.raises(ValueError):
        store.merge_leads(anna, gmail)  # OTHER is gone
    undone = store.undo_merge(anna, undo_run_id="undo-1")
    assert undone.undone and undone.other == gmail
    back = {x["leadId"]: x for x in store.all_leads()}
    assert set(back) == set(snapshot)
    for lead_id, row in snapshot.items():
        assert {c: back[lead_id][c] for c in LEAD_COLUMNS} == {c: row[c] for c in LEAD_COLUMNS}, lead_id
    assert _pair(anna, gmail) in _pairs(store)
    restored = [r for r in store.changes() if r["runId"] == "undo-1"]
    assert {(r["action"], r["leadId"]) for r in restored} == {("lead_restored", anna), ("lead_restored", gmail)}
    with pytest.raises(UndoRefused, match="no merge"):
        store.undo_merge(anna)
    # a merge and its undo together changed nothing: the imports of both leads undo without --force
    assert store.undo_import("b.csv").conflicts == [] and store.count_leads() == 2
    assert store.undo_import("a.csv").deleted == 2 and store.count_leads() == 0


def test_merge_fills_a_missing_email_and_undo_refuses_after_later_changes(store):
    ids = _anna_files(store)
    anna, none = ids[("Anna", "anna.mueller@acme.de")], ids[("Anna", None)]
    result = store.merge_leads(none, anna)  # KEEP has no email: it takes OTHER's
    k = {x["leadId"]: x for x in store.all_leads()}[none]
    assert k["email"] == "anna.mueller@acme.de" and k["company"] == "Acme Logistics GmbH"
    assert OTHER_EMAIL_REMARK not in (k["remarks"] or "")
    assert result.changed["email"] == {"before": None, "after": "anna.mueller@acme.de"}
    store.upsert_file([lead(9, firstName="Anna", lastName="Müller", email="anna.mueller@acme.de", title="CEO",
                            provided=("firstName", "lastName", "email", "title"))],
                      source_file="c.csv", run_id="run-c")
    with pytest.raises(UndoRefused, match="changed after the merge") as info:
        store.undo_merge(none)
    assert info.value.leads and info.value.leads[0]["changedBy"] == "c.csv"
    forced = store.undo_merge(none, force=True)
    assert forced.conflicts
    back = {x["leadId"]: x for x in store.all_leads()}
    assert back[anna]["email"] == "anna.mueller@acme.de" and back[none]["email"] is None


def test_candidate_rounds_equal_one_query_per_round(tmp_path):
    """DuckDB's blocking keys computed once for all rounds (issue 13) give each round exactly what a query of that
    round's leads alone gives: the same pairs with their rules, skipped keys and leads."""
    from easycrm_pipeline.matching import pairs as pairs_mod
    from easycrm_pipeline.store.duckdb_store import DuckDBStore

    store = DuckDBStore(tmp_path / "rounds.duckdb")
    store.init()
    _anna_files(store)
    # a block over MAX_BLOCK (skipped) next to small ones
    store.upsert_file([lead(10 + i, firstName="Ben", lastName="Weber", email=f"b{i}@x.com")
                       for i in range(pairs_mod.MAX_BLOCK + 2)], source_file="c.csv", run_id="run-c")
    ids = [x["leadId"] for x in store.all_leads()]
    for size in (1, 3, len(ids)):
        rounds = list(store.duplicate_candidate_rounds(ids, size))
        assert len(rounds) == -(-len(ids) // size)
        for i, (cands, leads) in enumerate(rounds):
            want_cands, want_leads = store.duplicate_candidates(ids[i * size:(i + 1) * size])
            assert cands.pairs == want_cands.pairs and cands.skipped_keys == want_cands.skipped_keys
            assert leads == want_leads
    assert any(c.skipped_keys for c, _ in store.duplicate_candidate_rounds(ids, len(ids)))
    assert any(c.pairs for c, _ in store.duplicate_candidate_rounds(ids, len(ids)))
    assert list(store.duplicate_candidate_rounds([], 5)) == []


def test_duckdb_rounds_equal_the_in_memory_blocking_of_any_store(tmp_path):
    """The DuckDB store's SQL blocking and the default of every other store (``LeadStore.duplicate_candidate_rounds``:
    one read of the table, :class:`BlockIndex`) give each round the same pairs, skipped keys and leads."""
    from easycrm_pipeline.matching import pairs as pairs_mod
    from easycrm_pipeline.store.base import LeadStore
    from easycrm_pipeline.store.duckdb_store import DuckDBStore

    store = DuckDBStore(tmp_path / "both.duckdb")
    store.init()
    _anna_files(store)
    store.upsert_file([lead(10 + i, firstName="Ben", lastName="Weber", email=f"b{i}@x.com")
                       for i in range(pairs_mod.MAX_BLOCK + 2)], source_file="c.csv", run_id="run-c")
    ids = [x["leadId"] for x in store.all_leads()]
    for size in (2, 7, len(ids)):
        sql = list(store.duplicate_candidate_rounds(ids, size))
        memory = list(LeadStore.duplicate_candidate_rounds(store, ids, size))
        assert [(c.pairs, c.skipped_keys, leads) for c, leads in sql] == \
            [(c.pairs, c.skipped_keys, leads) for c, leads in memory]
    assert sum(len(c.pairs) for c, _ in sql) >= 2 and any(c.skipped_keys for c, _ in sql)


def test_detect_in_rounds_finds_what_one_round_finds(tmp_path, monkeypatch):
    """Matching a run in rounds of any size (issue 13: bounded memory) records the same pairs as one round of all."""
    from easycrm_pipeline.pipeline import duplicates
    from easycrm_pipeline.store.duckdb_store import DuckDBStore

    found = []
    for chunk in (1000, 1, 2):
        store = DuckDBStore(tmp_path / f"d{chunk}.duckdb")
        store.init()
        _anna_files(store)
        monkeypatch.setattr(duplicates, "CHUNK", chunk)
        result = detect_duplicates(store, run_id="run-b", source_file="b.csv")
        key = {(frozenset((p["a"]["firstName"] + str(p["a"]["email"]), p["b"]["firstName"] + str(p["b"]["email"])
                           )), round(p["score"], 6)) for p in store.possible_duplicates()}
        found.append((result.pairs_found, result.candidates, key))
    assert found[0][0] >= 2 and found[0] == found[1] == found[2]
