"""Blocking keys: the examples of the docstrings, and the Python keys equal the DuckDB SQL keys on many leads."""
import duckdb
import pandas as pd

from easycrm_pipeline.matching.gold import make_gold_set
from easycrm_pipeline.matching.keys import (RULES, SQL_KEYS, blocking_keys, company_key, full_name, name_part,
                                           phone_key, sql_keys_select)


def test_normalizers():
    assert name_part("O'Brien-Smith") == "obriensmith"
    assert name_part("  Müller ") == "muller"
    assert full_name({"firstName": "Anna", "lastName": "Müller"}) == "anna muller"
    assert full_name({"firstName": None, "lastName": "Müller"}) == ""
    assert company_key("ACME GmbH") == company_key("Acme Corp.") == "acme"
    assert company_key("Smith & Sons, Inc.") == "smithsons"
    assert company_key("Paper Software S.L.") == company_key("paper software") == "papersoftware"
    assert phone_key("+49 30 1234567") == phone_key("030 1234567") == "01234567"
    assert phone_key("12 34") == ""


def test_blocking_keys_example():
    lead = {"firstName": "Anna", "lastName": "Müller", "email": "a.mueller@acme.de", "phone": "+4930123456",
            "company": "ACME GmbH"}
    assert blocking_keys(lead) == {"phone": "30123456", "name": "anna muller",
                                   "email_domain_surname": "acme.de|muller", "company": "acme|a"}
    assert blocking_keys({"firstName": "Anna"}) == {}


EDGE = [
    {"firstName": "Zoé", "lastName": "de Vries", "email": None, "phone": "0049 (0)30-12 34 56", "company": "S.A. Foo"},
    {"firstName": "", "lastName": "X", "email": "x@", "phone": "123", "company": "GmbH"},
    {"firstName": "Ørjan", "lastName": "Ærø", "email": "o@y.no", "phone": None, "company": "Ærø Co."},
    {"firstName": "J.", "lastName": "Smith", "email": "J@Foo.COM", "phone": "+1 (555) 010-9999 ext 12",
     "company": "Smith & Sons, Inc."},
    {"firstName": None, "lastName": None, "email": None, "phone": None, "company": None},
]


def test_sql_keys_equal_python_keys():
    gold = make_gold_set(7, people=500, duplicates=100, lookalikes=50, strangers=50)
    leads = gold.table + gold.new + [dict(e, leadId=f"edge-{i}") for i, e in enumerate(EDGE)]
    frame = pd.DataFrame([{c: lead.get(c) for c in ("leadId", "firstName", "lastName", "email", "phone", "company")}
                          for lead in leads])
    con = duckdb.connect()
    con.register("t", frame)
    rows = con.execute(sql_keys_select("t")).fetchall()
    by_id = {lead["leadId"]: lead for lead in leads}
    mismatches = []
    for lead_id, *values in rows:
        sql = {rule: v for rule, v in zip(SQL_KEYS, values) if v is not None}
        if sql != blocking_keys(by_id[lead_id]):
            mismatches.append((by_id[lead_id], sql, blocking_keys(by_id[lead_id])))
    assert not mismatches, mismatches[:3]
    assert set(SQL_KEYS) == set(RULES)
