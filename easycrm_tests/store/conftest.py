"""The ``store`` fixture: a fresh, initialized lead store per test, for every back end under test."""
from __future__ import annotations

import pytest

from easycrm_pipeline.store.duckdb_store import DuckDBStore

BACKENDS = ["duckdb"]


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    """An initialized, empty store (``DuckDBStore`` on ``tmp_path / "leads.duckdb"``)."""
    if request.param == "duckdb":
        s = DuckDBStore(tmp_path / "leads.duckdb")
    else:  # pragma: no cover - extended when more back ends exist
        raise AssertionError(request.param)
    s.init()
    return s
