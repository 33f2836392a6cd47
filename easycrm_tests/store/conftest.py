"""The ``store`` fixture: a fresh, initialized lead store per test, for every back end.

* ``duckdb``: ``DuckDBStore`` on a file under ``tmp_path``.
* ``dynamodb``: ``DynamoDBStore`` on a moto server in SERVER mode on loopback (one server per test module, a
  fresh table pair per test), reached over real HTTP with dummy credentials.
"""
from __future__ import annotations

import os
import uuid

import pytest

from easycrm_pipeline.store.duckdb_store import DuckDBStore
from easycrm_pipeline.store.dynamodb_store import DynamoDBStore
from easycrm_tests.support.moto_server import apply_fake_aws_env, moto_endpoint

BACKENDS = ["duckdb", "dynamodb"]


@pytest.fixture(scope="module")
def dynamo_endpoint(tmp_path_factory):
    """A moto server on 127.0.0.1 for the module; yields its URL. Dummy AWS credentials are put in the
    environment meanwhile (and restored after)."""
    saved = dict(os.environ)
    with moto_endpoint() as url:
        apply_fake_aws_env(os.environ, url, tmp_path_factory.mktemp("aws"))
        try:
            yield url
        finally:
            os.environ.clear()
            os.environ.update(saved)


def make_dynamodb_store(endpoint: str) -> DynamoDBStore:
    """A ``DynamoDBStore`` on ``endpoint`` with a fresh table name, initialized."""
    s = DynamoDBStore(f"leads-{uuid.uuid4().hex[:10]}", endpoint_url=endpoint, region_name="us-east-1")
    s.init()
    return s


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    """An initialized, empty store of each back end."""
    if request.param == "duckdb":
        s = DuckDBStore(tmp_path / "leads.duckdb")
        s.init()
        return s
    return make_dynamodb_store(request.getfixturevalue("dynamo_endpoint"))
