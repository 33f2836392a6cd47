"""The standardization cache's table (``DuckDBStore.cache()``, store/duckdb_store.py) in a real DuckDB store file: one write puts many entries,
an existing key is replaced, entries come back as written (non-ASCII included), a missing key is absent."""
from __future__ import annotations

from easycrm_pipeline.store.duckdb_store import DuckDBStore


def test_put_writes_every_entry_and_replaces_an_existing_key(tmp_path):
    cache = DuckDBStore(tmp_path / "leads.duckdb").cache()
    first = {f"k{i}": {"firstName": "Jürgen", "n": i} for i in range(1_000)}
    assert cache.put(first) == 1_000
    assert cache.put({"k5": {"firstName": "Zoë"}, "new": {"email": None}}) == 2
    found = cache.get(["k0", "k5", "k999", "new", "missing"])
    assert found == {"k0": {"firstName": "Jürgen", "n": 0}, "k5": {"firstName": "Zoë"},
                     "k999": {"firstName": "Jürgen", "n": 999}, "new": {"email": None}}
    assert cache.put({}) == 0
    assert len(cache.get(list(first) + ["new"])) == 1_001
