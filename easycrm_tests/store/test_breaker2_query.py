"""Breaker 2: the one query spec (store/query.py) with unicode text - the SQL rendering (DuckDB, the default store)
and the Python rendering (DynamoDB's scan) must find the same leads, and a filter that is an exact piece of the
stored value must find it ("case-insensitive contains", docs/contracts.md)."""
import duckdb
import pytest

from easycrm_pipeline.store.base import LeadQuery
from easycrm_pipeline.store.query import matches, to_sql

ROWS = [
    {"leadId": "tr", "company": "İstanbul Tekstil"},
    {"leadId": "gr", "company": "ΟΔΥΣΣΕΥΣ Shipping"},
]


def sql_ids(q: LeadQuery) -> list[str]:
    con = duckdb.connect()
    con.execute('CREATE TABLE leads ("leadId" VARCHAR, "company" VARCHAR, "phone" VARCHAR, "sourceRow" INTEGER)')
    con.executemany("INSERT INTO leads VALUES (?, ?, NULL, NULL)", [[r["leadId"], r["company"]] for r in ROWS])
    where, params, order = to_sql(q)
    return [r[0] for r in con.execute(f'SELECT "leadId" FROM leads {where} ORDER BY {order}', params).fetchall()]


@pytest.mark.parametrize("text, expected", [("İstanbul", ["tr"]), ("ΟΔΥΣΣΕΥΣ", ["gr"])])
def test_an_exact_piece_of_the_value_is_found_by_both_renderings(text, expected):
    q = LeadQuery(company=text, sort="leadId")
    assert [r["leadId"] for r in ROWS if matches(q)(r)] == expected  # Python (DynamoDB)
    assert sql_ids(q) == expected  # SQL (DuckDB)
