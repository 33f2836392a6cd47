"""Store capabilities callers use instead of testing the store's type (store/base.py ``exists``, ``location``,
``cache``, ``quality``), on both back ends."""
from __future__ import annotations

import uuid

from easycrm_pipeline.store.duckdb_store import DuckDBStore
from easycrm_pipeline.store.dynamodb_store import DynamoDBStore
from easycrm_tests.store.helpers import lead


def _store_unchecked_duplicate(store, email: str, source_file: str) -> None:
    """Write a second lead holding ``email`` (differently spelled) past the store's uniqueness rule, as a damaged
    or hand-edited table would have it: what the duplicate check exists to find."""
    if isinstance(store, DuckDBStore):
        with store.write_connection() as con:
            con.execute('INSERT INTO leads ("leadId", "email", "sourceFile", "sourceRow", "createdAt", "updatedAt") '
                        "VALUES ('dup-1', ?, ?, 9, now(), now())", [email, source_file])
    else:
        store.client.put_item(TableName=store.table, Item={
            "leadId": {"S": "dup-1"}, "email": {"S": email}, "sourceFile": {"S": source_file},
            "sourceRow": {"N": "9"}, "createdAt": {"S": "2026-01-01T00:00:00.000000Z"},
            "updatedAt": {"S": "2026-01-01T00:00:00.000000Z"}})


def test_file_leads_and_duplicate_emails_of_a_file(store):
    store.upsert_file([lead(3, firstName="Ann", email="ann@x.io", phone="+4930123"), lead(2, firstName="NoMail")],
                      source_file="a.csv", run_id="r1")
    store.upsert_file([lead(2, firstName="Bob", email="bob@x.io")], source_file="b.csv", run_id="r2")
    leads = list(store.file_leads("a.csv"))
    assert [(r["sourceRow"], r["email"], r["phone"]) for r in leads] == [(2, None, None), (3, "ann@x.io", "+4930123")]
    assert all(set(r) == {"leadId", "email", "phone", "sourceRow"} for r in leads)
    assert store.duplicate_emails("a.csv") == {}
    _store_unchecked_duplicate(store, " ANN@x.io", "c.csv")
    assert store.duplicate_emails("a.csv") == {"ann@x.io": 2}
    assert store.duplicate_emails("b.csv") == {}
    assert list(store.file_leads("missing.csv")) == []


def test_duckdb_file_leads_streams_block_by_block(tmp_path):
    store = DuckDBStore(tmp_path / "leads.duckdb")
    store.upsert_file([lead(i, firstName=f"P{i}", email=f"p{i}@x.io") for i in range(2, 27)],
                      source_file="a.csv", run_id="r1")
    rows = store.file_leads("a.csv", block=4)
    first = next(rows)  # a generator: the rows come while the query is read, 4 at a time
    assert first["sourceRow"] == 2
    assert [r["sourceRow"] for r in rows] == list(range(3, 27))


def test_duckdb_exists_location_and_cache(tmp_path):
    store = DuckDBStore(tmp_path / "sub" / "leads.duckdb")
    assert not store.exists() and store.location() == str(tmp_path / "sub" / "leads.duckdb")
    cache = store.cache()
    assert cache.get(["k1"]) == {}  # no file yet: nothing, nothing created
    assert not store.exists()
    (tmp_path / "sub").mkdir()
    store.init()
    assert store.exists()
    assert cache.put({"k1": {"a": 1}, "k2": {"b": "é"}}) == 2
    assert cache.put({"k1": {"a": 2}}) == 1
    assert store.cache().get(["k1", "k2", "k3"]) == {"k1": {"a": 2}, "k2": {"b": "é"}}


def test_dynamodb_exists_location_and_no_cache(dynamo_endpoint):
    store = DynamoDBStore(f"leads-{uuid.uuid4().hex[:10]}", endpoint_url=dynamo_endpoint, region_name="us-east-1")
    assert not store.exists() and store.location() == store.table
    assert store.cache() is None
    store.init()
    assert store.exists()
