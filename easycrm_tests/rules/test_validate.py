"""validate_candidate: DeepSeek answers pass the same validators and cannot invent emails, phones or names."""
from __future__ import annotations

from easycrm_pipeline.rules import validate_candidate

from .helpers import all_fields, raw

ROW = raw([("Name", "MARIA GARCIA"), ("Email", "Maria.Garcia@Example.es"), ("Tel", "07700 900456"),
           ("Notes", "call after 2pm, or write to maria@garcia-example.es"), ("Organisation", "GARCIA EXAMPLE SL")])
GOOD = {"id": "0:2", "firstName": "Maria", "lastName": "Garcia", "title": None, "company": "Garcia Example SL",
        "email": "maria.garcia@example.es", "phone": "07700900456",
        "remarks": "call after 2pm, or write to maria@garcia-example.es"}


def test_good_answer_is_kept():
    lead = validate_candidate(ROW, dict(GOOD), None, "deepseek-v4-flash/p1")
    assert lead.fields == all_fields({k: v for k, v in GOOD.items() if k != "id"})
    assert (lead.standardizer, lead.flags, lead.row_id) == ("deepseek-v4-flash/p1", (), "0:2")
    assert lead.raw == ROW.as_request_dict()


def test_invented_email_and_phone_are_rejected():
    lead = validate_candidate(ROW, dict(GOOD, email="maria@gmail.com", phone="+34 600 000 000"), None, "ds")
    assert lead.fields["email"] == "maria.garcia@example.es"
    assert lead.fields["phone"] == "07700900456"
    assert lead.flags == ("llm-value-rejected:email", "llm-value-rejected:phone")


def test_email_from_another_cell_is_rejected_when_the_email_column_has_one():
    # breaker cases l18/l23/l30: an address in the notes may be an injected one; the Email column wins
    lead = validate_candidate(ROW, dict(GOOD, email="MARIA@garcia-example.es"), None, "ds")
    assert (lead.fields["email"], lead.flags) == ("maria.garcia@example.es", ("llm-value-rejected:email",))


def test_invented_country_code_is_rejected_unless_region_configured():
    lead = validate_candidate(ROW, dict(GOOD, phone="+447700900456"), None, "ds")
    assert (lead.fields["phone"], lead.flags) == ("07700900456", ("llm-value-rejected:phone",))
    lead = validate_candidate(ROW, dict(GOOD, phone="+447700900456"), "GB", "ds")
    assert (lead.fields["phone"], lead.flags) == ("+447700900456", ())


def test_reformatted_phone_with_trunk_prefix_is_accepted():
    row = raw([("Email", "jb@example.de"), ("Telefon", "+49 (0)30 0000 2222")])
    lead = validate_candidate(row, {"email": "jb@example.de", "phone": "+49 30 00002222"}, None, "ds")
    assert (lead.fields["phone"], lead.flags) == ("+493000002222", ())
    lead = validate_candidate(row, {"email": "jb@example.de", "phone": 4930000022229}, None, "ds")
    assert lead.fields["phone"] == "+493000002222" and lead.flags == ("llm-value-rejected:phone",)


def test_names_must_come_from_the_row():
    lead = validate_candidate(ROW, dict(GOOD, firstName="María", lastName="Smith", company="Other Corp"), None, "ds")
    assert (lead.fields["firstName"], lead.fields["lastName"], lead.fields["company"]) == (
        "Maria", "Garcia", "Garcia Example SL")
    assert lead.flags == ("llm-value-rejected:firstName", "llm-value-rejected:lastName",
                          "llm-value-rejected:company")


def test_shouting_kept_by_the_model_gets_the_rules_casing():
    lead = validate_candidate(ROW, dict(GOOD, firstName="MARIA", company="GARCIA EXAMPLE SL"), None, "ds")
    assert (lead.fields["firstName"], lead.fields["company"], lead.flags) == ("Maria", "Garcia Example SL", ())


def test_dropped_values_are_restored_from_the_row_and_placeholders_are_null():
    # breaker cases l21/l27: a null / placeholder answer never wipes what the raw row gives
    lead = validate_candidate(ROW, dict(GOOD, email=None, phone="N/A", title="", remarks="  "), None, "ds")
    assert lead.fields["email"] == "maria.garcia@example.es"
    assert (lead.fields["phone"], lead.fields["title"], lead.fields["remarks"]) == (
        "07700900456", None, "call after 2pm, or write to maria@garcia-example.es")
    assert lead.flags == ("llm-value-restored:email", "llm-value-restored:phone", "llm-value-restored:remarks")


def test_invalid_item_falls_back_to_rules():
    lead = validate_candidate(ROW, ["not", "an", "object"], None, "ds")  # type: ignore[arg-type]
    assert lead.flags == ("llm-invalid-item",)
    assert lead.fields["email"] == "maria.garcia@example.es" and lead.standardizer == "ds"
    lead = validate_candidate(ROW, {"firstName": {"x": 1}, "email": ["a"]}, None, "ds")
    assert lead.fields["firstName"] == "Maria"  # not text: restored from the row (breaker case l27)
    assert lead.fields["email"] == "maria.garcia@example.es"
