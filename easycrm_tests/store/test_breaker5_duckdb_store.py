"""Breaker 5: the DuckDB store's set-based possible-duplicate blocking (``DuckDBStore.duplicate_candidate_rounds``)
against the in-memory default every other store uses (``LeadStore.duplicate_candidate_rounds``)."""
from __future__ import annotations

import pytest

from easycrm_pipeline.rules.phones import normalize_phone
from easycrm_pipeline.store.base import LeadStore
from easycrm_pipeline.store.duckdb_store import DuckDBStore
from easycrm_tests.store.helpers import lead


@pytest.mark.parametrize("cell", ["０３０ １２３４５６７", "٠٣٠١٢٣٤٥٦٧"])
def test_phone_in_non_ascii_digits_blocks_the_same_in_sql_and_in_memory(tmp_path, cell):
    """A Japanese or Arabic sheet types its phones in full-width / Arabic-Indic digits; the offline rules keep them
    (``normalize_phone('０３０ １２３４５６７').phone == '０３０１２３４５６７'``). ``keys.phone_key`` counts them as
    digits (``str.isdigit``) while ``SQL_KEYS`` keeps ``[0-9]`` only, so the same two leads are a phone pair on
    DynamoDB and no pair at all on DuckDB."""
    phone = normalize_phone(cell).phone
    assert phone
    store = DuckDBStore(tmp_path / "p.duckdb")
    store.init()
    store.upsert_file([
        lead(2, firstName="Yuki", lastName="Sato", email="yuki@a.example", phone=phone),
        lead(3, firstName="Y.", lastName="Satou", email="ys@b.example", phone=phone),
    ], source_file="jp.csv", run_id="r1")
    ids = [x["leadId"] for x in store.all_leads()]
    sql = [(c.pairs, c.skipped_keys, leads) for c, leads in store.duplicate_candidate_rounds(ids, 10)]
    memory = [(c.pairs, c.skipped_keys, leads) for c, leads in LeadStore.duplicate_candidate_rounds(store, ids, 10)]
    assert sql == memory
    assert [set().union(*c.values()) for c, _, _ in sql] == [{"phone"}]
