"""DynamoDB-specific guarantees of ``undo`` on a moto server (SERVER mode, loopback): a lead changed between the
conflict check and the write is never silently overwritten, an interrupted undo is finished by the next one, and the
``EMAIL#`` uniqueness items keep pointing at exactly the stored leads. (The shared semantics are tested on both
stores in ``easycrm_tests/pipeline/test_undo.py``.)"""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from easycrm_pipeline.pipeline.undo import UndoRefused, undo_file
from easycrm_tests.store.conftest import make_dynamodb_store
from easycrm_tests.store.helpers import numbered_leads


@pytest.fixture
def dstore(dynamo_endpoint):
    return make_dynamodb_store(dynamo_endpoint)


def raw_leads(store) -> dict[str, dict]:
    """``{leadId: raw item}`` of every lead (all attributes, DynamoDB-typed)."""
    items = store.client.scan(TableName=store.table, ConsistentRead=True)["Items"]
    return {i["leadId"]["S"]: i for i in items}


def without_rev(items: dict[str, dict]) -> dict[str, dict]:
    return {k: {a: v for a, v in item.items() if a != "rev"} for k, item in items.items()}


def email_owners(store) -> dict[str, str]:
    items = store.client.scan(TableName=store.meta_table, ConsistentRead=True)["Items"]
    return {i["pk"]["S"][6:]: i["leadId"]["S"] for i in items if i["pk"]["S"].startswith("EMAIL#")}


def after_first_plan(monkeypatch, store, action):
    """Run ``action()`` once, right after the undo computed its first plan (between the check and the write)."""
    original = store._undo_plan
    calls = []

    def plan_then_interfere(file):
        plan = original(file)
        if not calls:
            calls.append(file)
            action()
        return plan

    monkeypatch.setattr(store, "_undo_plan", plan_then_interfere)
    return calls


def test_a_lead_changed_between_check_and_write_is_not_overwritten(dstore, monkeypatch):
    dstore.upsert_file(numbered_leads([1, 2], tag="A"), source_file="a.csv", run_id="r1")
    dstore.upsert_file(numbered_leads([1, 2, 3], tag="B"), source_file="b.csv", run_id="r2")
    calls = after_first_plan(monkeypatch, dstore, lambda: dstore.upsert_file(
        numbered_leads([1, 3], tag="C"), source_file="c.csv", run_id="r3"))
    with pytest.raises(UndoRefused) as refused:
        undo_file(dstore, "b.csv", undo_run_id="u1")
    assert calls == ["b.csv"]
    assert sorted((c["email"], c["changedBy"]) for c in refused.value.leads) == [
        ("p1@example.com", "c.csv"), ("p3@example.com", "c.csv")]
    # the concurrent write survived; the three leads share one transaction, so none of them was reverted
    assert dstore.get_lead_by_email("p1@example.com")["title"] == "C"
    assert dstore.get_lead_by_email("p3@example.com")["title"] == "C"
    assert dstore.get_lead_by_email("p2@example.com")["title"] == "B"
    assert [c for c in dstore.changes() if c.get("runId") == "u1"] == []


def test_force_recomputes_after_a_race_and_keeps_the_racing_fields(dstore, monkeypatch):
    dstore.upsert_file(numbered_leads([1], tag="A"), source_file="a.csv", run_id="r1")
    dstore.upsert_file(numbered_leads([1], tag="B"), source_file="b.csv", run_id="r2")

    def change_phone():
        (lead,) = numbered_leads([1], tag="B")
        lead.fields["phone"] = "+49301111111"
        dstore.upsert_file([lead], source_file="c.csv", run_id="r3")

    after_first_plan(monkeypatch, dstore, change_phone)
    result = undo_file(dstore, "b.csv", force=True, undo_run_id="u1")
    assert (result.restored, [c["changedBy"] for c in result.conflicts]) == (1, ["c.csv"])
    got = dstore.get_lead_by_email("p1@example.com")
    # b.csv's change (title) reverted, c.csv's phone (written after b.csv) kept, as the DuckDB store does
    assert (got["title"], got["phone"], got["sourceFile"]) == ("A", "+49301111111", "a.csv")


def test_a_created_lead_updated_between_check_and_delete_is_not_deleted(dstore, monkeypatch):
    dstore.upsert_file(numbered_leads([1], tag="B"), source_file="b.csv", run_id="r2")
    after_first_plan(monkeypatch, dstore, lambda: dstore.upsert_file(
        numbered_leads([1], tag="C"), source_file="c.csv", run_id="r3"))
    with pytest.raises(UndoRefused):
        undo_file(dstore, "b.csv")
    assert dstore.get_lead_by_email("p1@example.com")["title"] == "C"
    assert email_owners(dstore) == {"p1@example.com": dstore.get_lead_by_email("p1@example.com")["leadId"]}


def test_an_interrupted_undo_is_finished_by_the_next_one(dstore, monkeypatch):
    dstore.upsert_file(numbered_leads(list(range(60)), tag="A"), source_file="a.csv", run_id="r1")
    before = raw_leads(dstore)
    dstore.upsert_file(numbered_leads(list(range(30, 110)), tag="B"), source_file="b.csv", run_id="r2")
    client = dstore.client
    real = client.transact_write_items
    calls = []

    def crash_on_second(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "simulated crash"}},
                              "TransactWriteItems")
        return real(**kwargs)

    monkeypatch.setattr(client, "transact_write_items", crash_on_second)
    with pytest.raises(ClientError, match="simulated crash"):
        undo_file(dstore, "b.csv", undo_run_id="u1")
    first_part = [c for c in dstore.changes() if c.get("runId") == "u1"]
    assert 0 < len(first_part) < 80  # part of it committed
    monkeypatch.setattr(client, "transact_write_items", real)
    result = undo_file(dstore, "b.csv", undo_run_id="u2")  # the same import, not a.csv's
    assert result.run_id == "r2" and result.conflicts == []
    assert result.deleted + result.restored == 80 - len(first_part)
    assert without_rev(raw_leads(dstore)) == without_rev(before)
    assert {c["details"]["undoOfChange"] for c in dstore.changes() if c.get("runId") in ("u1", "u2")} == {
        c["changeId"] for c in dstore.changes(source_file="b.csv", run_id="r2")}
    with pytest.raises(UndoRefused, match="no import of 'b.csv' left to undo"):
        undo_file(dstore, "b.csv")


def test_email_uniqueness_items_follow_the_undo(dstore):
    dstore.upsert_file(numbered_leads(list(range(10)), tag="A"), source_file="a.csv", run_id="r1")
    dstore.upsert_file(numbered_leads(list(range(5, 20)), tag="B"), source_file="b.csv", run_id="r2")
    undo_file(dstore, "b.csv")
    assert email_owners(dstore) == {r["email"]: r["leadId"] for r in dstore.all_leads()}
    assert len(email_owners(dstore)) == 10
    # the freed emails can be created again, exactly once
    stats = dstore.upsert_file(numbered_leads(list(range(5, 20)), tag="B"), source_file="b.csv", run_id="r3")
    assert (stats.created, stats.updated) == (10, 5)
    assert email_owners(dstore) == {r["email"]: r["leadId"] for r in dstore.all_leads()}
    assert dstore.count_leads() == 20


def test_undo_without_tables_is_refused_in_one_line(dynamo_endpoint):
    from easycrm_pipeline.store.dynamodb_store import DynamoDBStore

    s = DynamoDBStore("never-initialized-undo", endpoint_url=dynamo_endpoint, region_name="us-east-1")
    with pytest.raises(UndoRefused, match="no import of 'a.csv' left to undo") as refused:
        undo_file(s, "a.csv")
    assert "\n" not in str(refused.value)
