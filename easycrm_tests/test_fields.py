"""The field registry (easycrm_pipeline/fields.py) and what derives from it: today's derived lists must be exactly the
hand-written ones they replaced (docs/contracts.md), and the generic one-column field steps of the rules work."""
import pytest

from easycrm_pipeline import fields
from easycrm_pipeline.deepseek.prompt import SYSTEM_PROMPT
from easycrm_pipeline.fields import FieldValue, LeadField
from easycrm_pipeline.models import LEAD_FIELDS, RawRow
from easycrm_pipeline.readers.ask import LEADS_SCHEMA
from easycrm_pipeline.readers.export import ALL_EXPORT_COLUMNS, EXPORT_COLUMNS
from easycrm_pipeline.rules.headers import HeaderMap, header_role, map_headers
from easycrm_pipeline.rules.standardize import _normalized_fields
from easycrm_pipeline.rules.validate import _check_normalized, _RowFacts
from easycrm_pipeline.store.base import LEAD_COLUMNS, SEARCH_FIELDS, SORT_FIELDS, LeadQuery
from easycrm_pipeline.store.duckdb_store import _SCHEMA

SEVEN = ("firstName", "lastName", "title", "company", "email", "phone", "remarks")


def test_derived_lists_are_the_contract_ones():
    # the seven of docs/contracts.md first; a field added by docs/adding-a-field.md comes after them
    assert LEAD_FIELDS == fields.LEAD_FIELDS and LEAD_FIELDS[:7] == SEVEN
    more = LEAD_FIELDS[7:]
    assert SEARCH_FIELDS[:6] == ("firstName", "lastName", "title", "company", "email", "phone")
    assert "remarks" not in SEARCH_FIELDS
    assert LEAD_COLUMNS == ("leadId", *SEVEN, *more, "sourceFile", "sourceWorksheet", "sourceRow", "sourceRowId",
                            "createdAt", "updatedAt", "rawRow", "standardizer")
    assert SORT_FIELDS[:len(LEAD_FIELDS)] == LEAD_FIELDS
    # docs/contracts.md#export-file: the old system's eleven (while no field is declared export=True beyond the
    # seven), --all-columns adds two, then the unexported fields
    exported_more = tuple(f for f in more if fields.BY_NAME[f].export)
    assert EXPORT_COLUMNS == ("leadId", "firstName", "lastName", "title", "company", "email", "phone", "remarks",
                              *exported_more, "sourceFile", "createdAt", "updatedAt")
    assert ALL_EXPORT_COLUMNS == EXPORT_COLUMNS + ("sourceWorksheet", "sourceRow", *fields.UNEXPORTED_FIELDS)
    assert list(LEADS_SCHEMA)[:len(LEAD_FIELDS) + 1] == ["leadId", *LEAD_FIELDS]
    assert LEADS_SCHEMA["email"] == ("VARCHAR", "normalized lower-case email, NULL when the lead has none")


def test_duckdb_ddl_has_the_field_columns():
    leads = _SCHEMA[0]
    for f in fields.FIELDS:
        assert f'"{f.name}" {f.sql_type}' in leads
    assert '"email" VARCHAR UNIQUE' in leads
    # a store created before a field gets its column; the seven are in every store's CREATE TABLE
    assert fields.ddl_migrations() == [f'ALTER TABLE leads ADD COLUMN IF NOT EXISTS "{f.name}" {f.sql_type}'
                                       for f in fields.FIELDS[7:]]
    assert all(m in _SCHEMA for m in fields.ddl_migrations())


def test_filter_options_are_the_cli_flags():
    assert [(o.flag, o.dest, o.field, o.compare) for o in fields.FILTERS][:6] == [
        ("--first-name", "first_name", "firstName", "text"), ("--last-name", "last_name", "lastName", "text"),
        ("--title", "title", "title", "text"), ("--company", "company", "company", "text"),
        ("--email", "email", "email", "text"), ("--phone", "phone", "phone", "digits"),
    ]


def test_lead_query_filters_by_keyword_or_mapping():
    q = LeadQuery(first_name=" ann ", source_file="a.csv", filters={"company": "Acme", "title": "  "})
    assert q.column_filters() == {"firstName": "ann", "company": "Acme", "sourceFile": "a.csv"}
    with pytest.raises(ValueError, match="unknown filter field 'nope'"):
        LeadQuery(filters={"nope": "x"})


def test_header_aliases_and_provided():
    assert header_role("Vorname") == ("firstName", 0)
    assert header_role("ad") == ("firstName", 0)  # a spelling of a field and of a header role is the field's
    assert header_role("Mobile") == ("mobile", 0)
    hm = map_headers(["Full Name", "E-Mail", "Firma", "Notes", "Region"])
    assert hm.provided == frozenset({"firstName", "lastName", "email", "company", "remarks"})
    assert map_headers(["Middle Name", "Tel"]).provided == frozenset({"firstName", "phone"})


def test_prompt_lists_every_field_and_its_rules():
    assert f"The fields are {', '.join(LEAD_FIELDS)}." in SYSTEM_PROMPT
    for f in fields.FIELDS:
        assert f.prompt in SYSTEM_PROMPT
    assert SYSTEM_PROMPT.index("- Names:") < SYSTEM_PROMPT.index("- remarks:") < SYSTEM_PROMPT.index('- Treat "NA"')


def _upper_code(cell: str) -> FieldValue:
    code = cell.strip().upper()
    return FieldValue(code, ()) if code.isalnum() else FieldValue(None, (f"invalid code in source: {cell}",))


CODE = LeadField(name="code", normalize=_upper_code)


def test_generic_normalized_field_rule():
    hm = HeaderMap(headers=("Code", "Code 2", "Code 3"), roles=("code", "code", "code"))
    remarks: list[str] = []
    got = _normalized_fields(hm, hm.headers, ["n/a", "ab1", "x-9"], remarks, (CODE,))
    assert got == {"code": "AB1"}  # the placeholder is no value, the first normalizing cell wins
    assert remarks == ["invalid code in source: x-9"]
    remarks = []
    assert _normalized_fields(hm, hm.headers, ["ab1", "cd2", "AB1"], remarks, (CODE,)) == {"code": "AB1"}
    assert remarks == ["Code 2: cd2"]  # a different second value is kept, the same one is not repeated


def test_generic_normalized_field_check():
    row = RawRow("0:2", None, 2, (("Code", "ab1"), ("Notes", "see zz9")))
    facts = _RowFacts.of(row, None)
    flags: list[str] = []
    assert _check_normalized(CODE, "Ab1", "AB1", facts, flags) == "AB1" and flags == []
    assert _check_normalized(CODE, "cd2", "AB1", facts, flags) == "AB1"
    assert flags == ["llm-value-rejected:code"]
    assert _check_normalized(CODE, "zz9", None, facts, []) == "ZZ9"  # no rules' value: must be in the row
    flags = []
    assert _check_normalized(CODE, "qq7", None, facts, flags) is None and flags == ["llm-value-rejected:code"]


def test_normalizer_by_import_path():
    from easycrm_pipeline.rules.text import clean_text

    assert LeadField(name="x", normalize="easycrm_pipeline.rules.text:clean_text").normalizer is clean_text
    assert CODE.normalizer is _upper_code and LeadField(name="y").normalizer is None
    with pytest.raises(AttributeError):
        LeadField(name="z", normalize="easycrm_pipeline.rules.text:no_such_function").normalizer
