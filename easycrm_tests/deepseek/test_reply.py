"""parse_content and join_items as pure functions (cases 15, 16, 18 and their whole kinds)."""
from __future__ import annotations

import json

import pytest

from easycrm_pipeline.deepseek import BadJson, BlankContent, coerce_value, join_items, parse_content
from easycrm_pipeline.models import RawRow

from .conftest import fields_by_id, load_case, rows_from_batch, to_wire


@pytest.mark.parametrize("index", [0, 1, 2])
def test_case_15_fenced_and_prose_replies_parse(index):
    case = load_case("15_")
    rows = rows_from_batch(case["request_batch"])
    parsed = parse_content(case["raw_responses"][index])
    matched, missing, ignored = join_items(rows, parsed)  # the fixture's "row_id" key is accepted as id
    assert matched == fields_by_id(case["expected_parsed_leads"])
    assert missing == [] and ignored == []


def test_fence_stripping_survives_backticks_inside_values():
    doc = {"leads": [{"id": "a", "remarks": "uses ``` in notes and `code`"}]}
    assert parse_content("```json\n" + json.dumps(doc) + "\n```") == doc
    assert parse_content("```\n" + json.dumps(doc) + "\n```") == doc
    assert parse_content("Sure! {not json} here: " + json.dumps(doc) + " bye {") == doc


def test_top_level_list_and_other_list_key_are_accepted():
    assert parse_content('[{"id": "a"}]') == {"leads": [{"id": "a"}]}
    assert parse_content('{"results": [{"id": "a"}]}')["leads"] == [{"id": "a"}]


@pytest.mark.parametrize("content", ["", "      \n   ", None, "\t"])
def test_case_16_blank_content_raises_blank(content):
    with pytest.raises(BlankContent):
        parse_content(content)


@pytest.mark.parametrize("content", ['{"leads": [{"id": "a", "firstName": "Al', "no json here", "{}", "42"])
def test_unparseable_or_cut_content_raises_bad_json(content):
    with pytest.raises(BadJson):
        parse_content(content)


def test_case_18_join_on_id_never_position():
    case = load_case("18_")
    rows = rows_from_batch(case["request_batch"])
    parsed = {"leads": [to_wire(item) for item in case["raw_response_leads"]]}
    matched, missing, ignored = join_items(rows, parsed)
    assert missing == case["expected_missing_after_first_call"]
    expected = fields_by_id(case["expected_leads"])
    assert matched == {rid: expected[rid] for rid in matched}
    assert matched["f2:r11"]["firstName"] == "Jo"  # the id-less item, placed by its email
    assert ignored == []


def _rows():
    return [RawRow(f"r{i}", None, i, (("Name", f"P{i}"), ("Email", f" P{i}@Example.com "))) for i in range(1, 5)]


def _item(i, **extra):
    return {"id": f"r{i}", "firstName": f"P{i}", "email": f"p{i}@example.com", **extra}


def test_duplicates_unknown_ids_and_non_objects_are_ignored():
    parsed = {"leads": [_item(1), _item(1, lastName="dup"), {**_item(2), "id": "r99"}, "junk", _item(3),
                        {**_item(4), "id": "r4,r2"}]}
    matched, missing, ignored = join_items(_rows(), parsed)
    assert list(matched) == ["r3"]
    assert missing == ["r1", "r2", "r4"]
    assert sorted(i["reason"] for i in ignored) == ["duplicate id", "duplicate id", "not an object", "unknown id",
                                                     "unknown id"]


def test_item_without_id_needs_a_unique_unmatched_email():
    rows = _rows() + [RawRow("r5", None, 5, (("Email", "p4@example.com"),))]  # p4 is on two rows
    parsed = {"leads": [
        {"firstName": "X", "email": "P2@EXAMPLE.COM "},    # unique unmatched -> r2
        {"firstName": "Y", "email": "p1@example.com"},     # r1 already matched by id -> ignored
        {"firstName": "Z", "email": "p4@example.com"},     # two rows -> ambiguous -> ignored
        {"firstName": "W"},                                # no id, no email
        _item(1),
    ]}
    matched, missing, ignored = join_items(rows, parsed)
    assert set(matched) == {"r1", "r2"} and matched["r2"]["firstName"] == "X"
    assert missing == ["r3", "r4", "r5"]
    assert len(ignored) == 3


def test_fields_restricted_and_coerced():
    (row,) = _rows()[:1]
    parsed = {"leads": [{"id": "r1", "firstName": "  Ann ", "phone": 4915112345678, "email": ["a@x.com", "b@x.com"],
                         "title": "", "company": {"n": 1}, "confidence": 0.9, "remarks": 1.0}]}
    matched, _, _ = join_items([row], parsed)
    # lastName is left out (the rules' value stands, DESIGN.md section 5): it stays absent, never becomes null
    assert matched["r1"] == {"firstName": "Ann", "title": None, "company": '{"n": 1}',
                             "email": "a@x.com; b@x.com", "phone": "4915112345678", "remarks": "1"}
    assert tuple(matched["r1"]) == ("firstName", "title", "company", "email", "phone", "remarks")  # field order
    assert coerce_value(float("nan")) is None and coerce_value(True) == "true" and coerce_value(2.5) == "2.5"


def test_numeric_ids_match_their_text():
    row = RawRow("7", None, 7, (("Name", "A"),))
    matched, missing, _ = join_items([row], {"leads": [{"id": 7, "firstName": "A"}]})
    assert list(matched) == ["7"] and missing == []


def test_merged_item_is_not_trusted():
    rows = _rows()
    merged = {"id": "r1", "firstName": "P1 & P2", "email": "p1@example.com; p2@example.com"}
    matched, missing, ignored = join_items(rows, {"leads": [merged, _item(3), _item(4)]})
    assert set(matched) == {"r3", "r4"} and missing == ["r1", "r2"]
    assert [i["reason"] for i in ignored] == ["merged with another row"]
    # the same address on two rows of the batch (file duplicates) is not a merge
    twin = rows[:1] + [RawRow("r9", None, 9, (("Email", "p1@example.com"),))]
    matched, _, _ = join_items(twin, {"leads": [_item(1)]})
    assert list(matched) == ["r1"]
