"""The one query spec (store/query.py): the same LeadQuery gives the same leads in the same order rendered to SQL
(run in an in-memory DuckDB) and to Python."""
import duckdb
import pytest

from easycrm_pipeline.store.base import LeadQuery
from easycrm_pipeline.store.query import matches, phone_prefix, sort_rows, terms, to_sql

ROWS = [
    {"leadId": "a", "firstName": "Ann", "lastName": "Lee", "title": None, "company": "ACME", "email": "ann@acme.io",
     "phone": "+44 20 7946 0000", "sourceFile": "one.csv", "sourceRow": 2},
    {"leadId": "b", "firstName": "bob", "lastName": None, "title": "CTO", "company": "acme GmbH", "email": None,
     "phone": "0049 30 1234", "sourceFile": "two.csv", "sourceRow": 1},
    {"leadId": "c", "firstName": None, "lastName": "Ng", "title": None, "company": None, "email": "c@x.io",
     "phone": "(555) 123-4567", "sourceFile": "one.csv", "sourceRow": None},
    {"leadId": "d", "firstName": "ann", "lastName": "Ng", "title": None, "company": "Zeta", "email": "d@zeta.io",
     "phone": None, "sourceFile": "one.csv", "sourceRow": 2},
]
COLS = ("leadId", "firstName", "lastName", "title", "company", "email", "phone", "sourceFile", "sourceRow")


def sql_ids(q: LeadQuery) -> list[str]:
    con = duckdb.connect()
    con.execute("CREATE TABLE leads (" + ", ".join(
        f'"{c}" {"INTEGER" if c == "sourceRow" else "VARCHAR"}' for c in COLS) + ")")
    con.executemany(f"INSERT INTO leads VALUES ({', '.join('?' for _ in COLS)})", [[r[c] for c in COLS] for r in ROWS])
    where, params, order = to_sql(q)
    return [r[0] for r in con.execute(f'SELECT "leadId" FROM leads {where} ORDER BY {order}', params).fetchall()]


def py_ids(q: LeadQuery) -> list[str]:
    return [r["leadId"] for r in sort_rows(filter(matches(q), ROWS), q)]


@pytest.mark.parametrize("kwargs, expected", [
    ({"company": "acme", "sort": "leadId", "descending": False}, ["a", "b"]),
    ({"phone": "555 123", "sort": "leadId", "descending": False}, ["c"]),
    ({"phone": "+44 20", "sort": "leadId"}, ["a"]),
    ({"phone": "+49", "sort": "leadId"}, ["b"]),  # 0049 read as +49
    ({"search": "ANN acme", "sort": "leadId"}, ["a"]),
    ({"search": "ng", "sort": "firstName", "descending": False}, ["d", "c"]),  # NULL first name last
    ({"sort": "firstName", "descending": True}, ["b", "a", "d", "c"]),  # case-insensitive, ties by sourceRow, id
    ({"sort": "firstName", "descending": False}, ["a", "d", "b", "c"]),
    ({"sort": "sourceRow", "descending": True}, ["a", "d", "b", "c"]),
])
def test_sql_and_python_agree(kwargs, expected):
    q = LeadQuery(**kwargs)
    assert py_ids(q) == expected
    assert sql_ids(q) == expected


def test_terms_and_phone_prefix():
    assert phone_prefix(" +44 (20) ") == "+4420" and phone_prefix("020") is None
    kinds = [t.kind for t in terms(LeadQuery(phone="+1", company="x", search="a b"))]
    assert kinds == ["contains", "prefix", "contains", "contains"]
    assert [t.kind for t in terms(LeadQuery(phone="abc"))] == ["contains"]
