"""Breaker case on ``easycrm export``: the output path may be the lead store itself; the export then replaces the
DuckDB file with CSV text (every lead, the audit trail and the quarantine gone) and exits 0."""
from __future__ import annotations

import json
import os

import pytest

from easycrm_pipeline.cli.main import main
from easycrm_tests.readers.seed import env_store, seed


@pytest.mark.xfail(strict=True, reason="breaker: `easycrm export $EASYCRM_DB` overwrites the DuckDB store with the CSV")
def test_breaker_export_onto_the_store_file_is_refused_and_changes_nothing(capsys):
    seed(env_store())
    db = os.environ["EASYCRM_DB"]
    before = open(db, "rb").read(16)
    code = main(["export", db])
    capsys.readouterr()
    assert code != 0
    assert open(db, "rb").read(16) == before
    assert main(["leads", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["leads"]) == 7
