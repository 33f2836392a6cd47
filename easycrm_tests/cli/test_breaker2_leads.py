"""Breaker 2: ``easycrm leads`` / ``export`` on a DynamoDB store whose table does not exist yet (moto in server mode).
``LeadStore.exists`` says "reads of a store that does not exist see no leads", and the DuckDB store does exactly that
(a missing file: no leads, a one-line note); on DynamoDB the same read is a botocore traceback and exit 1."""
from __future__ import annotations

import json

from easycrm_pipeline.cli.main import main
from easycrm_tests.support.fixtures import moto_server  # noqa: F401


def test_leads_of_a_missing_dynamodb_table_are_none(moto_server, monkeypatch, capsys):  # noqa: F811
    monkeypatch.setenv("EASYCRM_STORE", "dynamodb")
    monkeypatch.setenv("EASYCRM_DYNAMODB_TABLE", "breaker2-never-created")
    assert main(["leads", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["total"] == 0 and doc["leads"] == []
