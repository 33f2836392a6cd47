"""``get_store``: the store the environment asks for (DESIGN.md section 3), nothing created until ``init()``."""
from __future__ import annotations

import boto3

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
