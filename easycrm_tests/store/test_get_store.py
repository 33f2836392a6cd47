"""``get_store``: the store the environment asks for (DESIGN.md section 3), nothing created until ``init()``."""
from __future__ import annotations

import boto3
import pytest

from easycrm_pipeline.store.dynamodb_store import DynamoDBStore
from easycrm_tests.store.helpers import numbered_leads


def raw_client(endpoint):
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")


def test_get_store_picks_dynamodb_from_the_environment(dynamo_endpoint, monkeypatch):
    """``EASYCRM_STORE=dynamodb`` + ``AWS_ENDPOINT_URL`` (boto3's own variable) is all it takes."""
    from easycrm_pipeline.store import get_store

    monkeypatch.setenv("EASYCRM_STORE", "dynamodb")
    monkeypatch.setenv("EASYCRM_DYNAMODB_TABLE", "from-env")
    monkeypatch.setenv("AWS_ENDPOINT_URL", dynamo_endpoint)
    s = get_store()
    assert isinstance(s, DynamoDBStore) and s.table == "from-env" and s.endpoint_url is None
    s.init()
    assert s.upsert_file(numbered_leads([1, 2], tag="T"), source_file="a.csv").created == 2
    assert "from-env" in raw_client(dynamo_endpoint).list_tables()["TableNames"]


def test_get_store_defaults_to_duckdb_at_easycrm_db(tmp_path, monkeypatch):
    from easycrm_pipeline.store import get_store
    from easycrm_pipeline.store.duckdb_store import DuckDBStore

    monkeypatch.setenv("EASYCRM_DB", str(tmp_path / "x.duckdb"))
    s = get_store()
    assert isinstance(s, DuckDBStore) and s.path == tmp_path / "x.duckdb"
    assert not (tmp_path / "x.duckdb").exists()  # nothing created before init()


def test_open_store_runs_the_schema_ddl_once_per_process_and_path(settings, tmp_path):
    """``open_store``: the DDL (which takes the store's write lock) runs on the first call for a path only, so the
    mapped steps of a run never queue for the write lock just to re-create the tables (issue 17 step 2)."""
    from easycrm_pipeline.store import StoreLockTimeout, open_store
    from easycrm_pipeline.store.locking import file_lock

    settings = settings.replace(db_path=tmp_path / "sub" / "a.duckdb", lock_timeout=1)
    first = open_store(settings)  # folder, file and tables created
    assert (tmp_path / "sub" / "a.duckdb").exists()
    first.upsert_file(numbered_leads([1], tag="T"), source_file="a.csv")
    with file_lock(first.lock_path, exclusive=True):  # another writer holds the store
        with pytest.raises(StoreLockTimeout):
            first.init()  # the DDL would wait for the lock ...
        again = open_store(settings)  # ... the second open does not run it
    assert [lead["sourceFile"] for lead in again.all_leads()] == ["a.csv"]
    (tmp_path / "sub" / "a.duckdb").unlink()  # the file went away: the next open creates it again
    assert open_store(settings).all_leads() == []
