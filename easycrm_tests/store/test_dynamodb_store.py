"""DynamoDB-specific guarantees on a moto server (SERVER mode, loopback): explicit init with the EmailIndex GSI,
the email-uniqueness race between writers, several writer processes and a reader, re-run after a partial write."""
from __future__ import annotations

import threading

import boto3
import pytest
from botocore.exceptions import ClientError

from easycrm_pipeline.store.base import StoreError
from easycrm_pipeline.store import dynamodb_store
from easycrm_pipeline.store.dynamodb_store import DynamoDBStore
from easycrm_tests.store.conftest import make_dynamodb_store
from easycrm_tests.store.helpers import content, numbered_leads
from easycrm_tests.store.multiproc import kill_worker, three_writers_and_a_reader, worker


@pytest.fixture
def dstore(dynamo_endpoint):
    return make_dynamodb_store(dynamo_endpoint)


def raw_client(endpoint):
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")


def test_init_creates_leads_table_with_email_index_and_is_idempotent(dstore, dynamo_endpoint):
    dstore.init()  # second time: nothing to do, no error
    desc = raw_client(dynamo_endpoint).describe_table(TableName=dstore.table)["Table"]
    assert desc["KeySchema"] == [{"AttributeName": "leadId", "KeyType": "HASH"}]
    (gsi,) = desc["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "EmailIndex"
    assert gsi["KeySchema"] == [{"AttributeName": "email", "KeyType": "HASH"}]
    assert gsi["Projection"]["ProjectionType"] == "ALL"
    meta = raw_client(dynamo_endpoint).describe_table(TableName=dstore.meta_table)["Table"]
    assert meta["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"},
                                 {"AttributeName": "sk", "KeyType": "RANGE"}]


def test_tables_are_never_created_by_a_write(dynamo_endpoint):
    s = DynamoDBStore("never-initialized", endpoint_url=dynamo_endpoint, region_name="us-east-1")
    with pytest.raises(ClientError) as info:
        s.upsert_file(numbered_leads([1], tag="T"), source_file="a.csv")
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert "never-initialized" not in raw_client(dynamo_endpoint).list_tables()["TableNames"]


def test_uniqueness_items_point_at_the_leads(dstore, dynamo_endpoint):
    dstore.upsert_file(numbered_leads(list(range(40)), tag="A"), source_file="a.csv")
    dstore.upsert_file(numbered_leads(list(range(20, 60)), tag="B"), source_file="b.csv")
    items = raw_client(dynamo_endpoint).scan(TableName=dstore.meta_table)["Items"]
    owners = {i["pk"]["S"][6:]: i["leadId"]["S"] for i in items if i["pk"]["S"].startswith("EMAIL#")}
    leads = dstore.all_leads()
    assert len(leads) == 60
    assert owners == {r["email"]: r["leadId"] for r in leads}


def test_two_writers_racing_on_the_same_new_emails_make_one_lead_each(dynamo_endpoint, dstore):
    """Two store instances (own clients) upsert the same 30 brand-new emails at the same moment, 2 rounds."""
    other = DynamoDBStore(dstore.table, endpoint_url=dynamo_endpoint, region_name="us-east-1")
    results, errors = [], []
    barrier = threading.Barrier(2)

    def run(s, name):
        try:
            for rnd in range(2):
                barrier.wait(timeout=30)
                results.append(s.upsert_file(numbered_leads(list(range(30)), tag=f"{name}{rnd}"),
                                             source_file=f"{name}{rnd}.csv", run_id=f"{name}{rnd}"))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s, n)) for s, n in ((dstore, "x"), (other, "y"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    leads = dstore.all_leads()
    assert len(leads) == len({r["email"] for r in leads}) == 30
    assert sum(r.created for r in results) == 30
    assert sum(r.created + r.updated for r in results) == len(dstore.changes())
    assert all(r.created + r.updated + r.unchanged == 30 for r in results)


def test_three_writer_processes_and_a_reader_at_once(dstore, dynamo_endpoint, tmp_path):
    """Small on purpose: moto deep-copies every table on each transaction and is not thread-safe (concurrent
    requests get HTTP 500 "dictionary changed size during iteration", retried by botocore), so large concurrent
    loads test moto, not the store. The race logic itself is tested deterministically below."""
    three_writers_and_a_reader(dstore, f"dynamodb:{dstore.table}@{dynamo_endpoint}", tmp_path,
                               files_per_writer=2, pool=50)


def test_partial_write_then_rerun_equals_clean_run(dstore, dynamo_endpoint, monkeypatch):
    """DynamoDB commits per transaction (<= 33 leads; 10 here): a crash in the third transaction leaves the leads of
    the first two complete (each with its audit row); re-running the file gives the table of a clean run."""
    monkeypatch.setattr(dynamodb_store, "_LEADS_PER_TRANSACTION", 10)
    base = numbered_leads(list(range(30)), tag="A")
    big = numbered_leads(list(range(10, 50)), tag="B")  # 20 updates (10..29), then 20 new leads
    clean = make_dynamodb_store(dynamo_endpoint)
    for s in (dstore, clean):
        s.upsert_file(base, source_file="base.csv")
    clean.upsert_file(big, source_file="big.csv")

    client = dstore.client
    real = client.transact_write_items
    calls = {"n": 0}

    def crash_on_third(**kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated crash")
        return real(**kwargs)

    monkeypatch.setattr(client, "transact_write_items", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        dstore.upsert_file(big, source_file="big.csv")
    monkeypatch.setattr(client, "transact_write_items", real)
    assert dstore.count_leads() == 30  # the two committed transactions were the 20 updates
    assert [c["action"] for c in dstore.changes(source_file="big.csv")] == ["lead_updated"] * 20
    rerun = dstore.upsert_file(big, source_file="big.csv")
    assert (rerun.created, rerun.updated, rerun.unchanged) == (20, 0, 20)
    assert content(dstore.all_leads()) == content(clean.all_leads())
    assert len(dstore.changes()) == len(clean.changes()) == 30 + 40


def test_gives_up_clearly_when_always_losing(dstore, monkeypatch):
    dstore.max_attempts = 2
    client = dstore.client

    def always_cancelled(**kwargs):
        raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "x"}}, "TransactWriteItems")

    monkeypatch.setattr(client, "transact_write_items", always_cancelled)
    with pytest.raises(StoreError, match="kept conflicting with concurrent writers after 2 attempts"):
        dstore.upsert_file(numbered_leads([1, 2], tag="T"), source_file="a.csv")


def competing_write_after_first_read(monkeypatch, store, competitor, leads, source_file):
    """Make ``store``'s first read of existing leads stale: right after it, ``competitor`` upserts ``leads``."""
    real = store._existing
    calls = {"n": 0}

    def stale_read(emails):
        calls["n"] += 1
        found = real(emails)
        if calls["n"] == 1:
            competitor.upsert_file(leads, source_file=source_file, run_id="competitor")
        return found

    monkeypatch.setattr(store, "_existing", stale_read)
    return calls


def test_race_on_creating_the_same_email_turns_into_an_update(dstore, dynamo_endpoint, monkeypatch):
    other = DynamoDBStore(dstore.table, endpoint_url=dynamo_endpoint, region_name="us-east-1")
    calls = competing_write_after_first_read(monkeypatch, dstore, other, numbered_leads(list(range(10)), tag="theirs"),
                                             "theirs.csv")
    stats = dstore.upsert_file(numbered_leads(list(range(10)), tag="mine"), source_file="mine.csv", run_id="me")
    assert calls["n"] >= 2  # the first transaction failed on the EMAIL# uniqueness item and was recomputed
    assert (stats.created, stats.updated) == (0, 10)
    leads = dstore.all_leads()
    assert len(leads) == 10 and {r["title"] for r in leads} == {"mine"}
    theirs = {c["email"]: c for c in dstore.changes(run_id="competitor")}
    for c in dstore.changes(run_id="me"):
        assert c["action"] == "lead_updated"
        assert c["leadId"] == theirs[c["email"]]["leadId"]  # the competitor's lead was kept
        assert c["fieldsChanged"] == {"title": {"before": "theirs", "after": "mine"}}


def test_race_on_updating_the_same_lead_is_never_lost(dstore, dynamo_endpoint, monkeypatch):
    dstore.upsert_file(numbered_leads(list(range(10)), tag="base"), source_file="base.csv")
    other = DynamoDBStore(dstore.table, endpoint_url=dynamo_endpoint, region_name="us-east-1")
    competing_write_after_first_read(monkeypatch, dstore, other, numbered_leads(list(range(10)), tag="theirs"),
                                     "theirs.csv")
    stats = dstore.upsert_file(numbered_leads(list(range(10)), tag="mine"), source_file="mine.csv", run_id="me")
    assert (stats.created, stats.updated) == (0, 10)
    for c in dstore.changes(run_id="me"):
        # recomputed from the competitor's version (rev check), not from the stale "base" read
        assert c["fieldsChanged"] == {"title": {"before": "theirs", "after": "mine"}}
        assert c["previousSourceFile"] == "theirs.csv"
    assert {r["title"] for r in dstore.all_leads()} == {"mine"}



def file_state(store) -> tuple:
    """What one file's collect step writes besides the leads: its quarantine rows, and whether it was recorded."""
    return ([(q["sheet"], q["row"], q["reason"], q["rawRow"]) for q in store.quarantine_rows("c.csv")],
            bool(store.file_imports("c.csv")))


@pytest.mark.parametrize("point", ["upsert", "quarantine"])
def test_kill_9_between_the_collect_steps_then_rerun_converges(dstore, dynamo_endpoint, point):
    """DynamoDB cannot put the upsert, the quarantine and the import record in one transaction: a real ``kill -9``
    after the upsert (or after the quarantine) leaves those parts written; the re-run completes the missing parts
    without doubling any (no second lead without email, each quarantined row once) and equals a clean run."""
    from easycrm_pipeline.pipeline.collect import collect_file
    from easycrm_tests.store._worker import collect_inputs

    n = 40
    clean = make_dynamodb_store(dynamo_endpoint)
    for s in (dstore, clean):
        s.upsert_file(numbered_leads(list(range(480, 520)), tag="A"), source_file="base.csv", run_id="base")
    collect_file(*collect_inputs(n), clean, run_id="clean")
    proc = worker("collect", f"dynamodb:{dstore.table}@{dynamo_endpoint}", str(n), point)
    kill_worker(proc, "CRASH_POINT")
    assert content(dstore.all_leads()) == content(clean.all_leads())  # the upsert was complete
    assert not dstore.file_imports("c.csv")
    stats = collect_file(*collect_inputs(n), dstore, run_id="rerun")
    assert (stats.leads_created, stats.leads_updated, stats.quarantined) == (0, 0, 2)
    assert content(dstore.all_leads()) == content(clean.all_leads())
    assert file_state(dstore) == file_state(clean) and len(file_state(clean)[0]) == 2
    # and a re-run of the finished file changes nothing
    collect_file(*collect_inputs(n), dstore, run_id="again")
    assert content(dstore.all_leads()) == content(clean.all_leads()) and file_state(dstore) == file_state(clean)
