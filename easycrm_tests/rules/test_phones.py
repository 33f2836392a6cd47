"""normalize_phone: E.164 with + / 00, digits otherwise, placeholders, Excel garbage (handed cases 02/03/04/13)."""
from __future__ import annotations

import pytest

from easycrm_pipeline.rules.phones import PhoneResult, normalize_phone


@pytest.mark.parametrize("text,phone", [
    ("+46 70 000 12 34", "+46700001234"),
    ("+44 7700 900123", "+447700900123"),
    ("+49 (0)30 0000 2222", "+493000002222"),
    ("+49(0)30-0000-2222", "+493000002222"),
    ("+44 (0) 20 7946 0000", "+442079460000"),
    ("00912200004444", "+912200004444"),
    ("0041 79 000 00 03", "+41790000003"),
    ("030 0000 3333", "03000003333"),
    ("01 99 00 12 34", "0199001234"),
    ("07700900456", "07700900456"),
    ("447700900789", "447700900789"),
    ("(202) 555-0171", "2025550171"),
    ("202.555.0171", "2025550171"),
    ("7700900456.0", "7700900456"),
    ("4.47700900789E+11", "447700900789"),
])
def test_phone_without_region(text, phone):
    assert normalize_phone(text) == PhoneResult(phone)


@pytest.mark.parametrize("text", ["NA", "N/A", "n/a", "-", "none", "null", "", "  ", None, "#N/A"])
def test_placeholders_are_no_phone_and_no_remark(text):
    assert normalize_phone(text) == PhoneResult(None, None)


@pytest.mark.parametrize("text", ["-7700900456", "2024-03-05", "05/03/2024", "call me", "4.477E+11", "123",
                                  "+999 123456", "12:30"])
def test_garbage_goes_to_remarks(text):
    assert normalize_phone(text) == PhoneResult(None, f"invalid phone in source: {text}")


def test_extension_kept_in_remark():
    assert normalize_phone("+44 20 7946 0000 x123") == PhoneResult("+442079460000", "phone ext: 123")
    assert normalize_phone("030 1234567 ext. 45") == PhoneResult("0301234567", "phone ext: 45")


def test_default_region():
    assert normalize_phone("030 0000 3333", "DE") == PhoneResult("+493000003333")
    assert normalize_phone("07700 900456", "gb") == PhoneResult("+447700900456")
    # + numbers ignore the region; an impossible local number stays digits only (nothing invented)
    assert normalize_phone("+1 202 555 0171", "DE") == PhoneResult("+12025550171")
    assert normalize_phone("123456789012345", "GB") == PhoneResult("123456789012345")
    # more than 15 digits (E.164's maximum) is no phone, region or not (breaker finding 4)
    assert normalize_phone("1234567890123456", "GB").phone is None


@pytest.mark.parametrize("text,result", [
    ("030 1234567 / 0171 2345678", PhoneResult("0301234567", "other phone: 01712345678")),
    ("+44 20 7946 0000, +44 7700 900123", PhoneResult("+442079460000", "other phone: +447700900123")),
    ("n/a; 0171 2345678", PhoneResult("01712345678")),
    ("tel:+44 20 7946 0000", PhoneResult("+442079460000")),
    ("Tel.: +49 30 123456", PhoneResult("+4930123456")),
    ("Mob: 07700 900123", PhoneResult("07700900123")),
    ('="07700900456"', PhoneResult("07700900456")),
    ("1,5", PhoneResult(None, "invalid phone in source: 1,5")),
])
def test_several_numbers_labels_and_wrappers(text, result):
    assert normalize_phone(text) == result


@pytest.mark.parametrize("text,result", [
    ("07700 900123 (mobile)", PhoneResult("07700900123", "phone note: mobile")),
    ("+44 20 7946 0958 ext. 12", PhoneResult("+442079460958", "phone ext: 12")),
    ("0171 555 1234 / 0171 555 9999", PhoneResult("01715551234", "other phone: 01715559999")),
    ("+44 20 7946 0958 (office)", PhoneResult("+442079460958", "phone note: office")),
    ("+49 30 1234567 - Zentrale", PhoneResult("+49301234567", "phone note: Zentrale")),
    ("0044 20 7946 0958 (London office)", PhoneResult("+442079460958", "phone note: London office")),
    ("+44 20 7946 0958 ext. 12 (reception)", PhoneResult("+442079460958", "phone ext: 12; phone note: reception")),
    ("020 7946 0958 (switchboard) / 07700 900123 (mobile)",
     PhoneResult("02079460958", "phone note: switchboard; other phone: 07700900123 (mobile)")),
    ("+33 1 23 45 67 89 (standard), +33 6 12 34 56 78 (portable)",
     PhoneResult("+33123456789", "phone note: standard; other phone: +33612345678 (portable)")),
    ("+44 20 7946 0958 or 07700 900123 (mobile)", PhoneResult("+442079460958", "other phone: 07700900123 (mobile)")),
    ("ask for Bob: 07700 900123", PhoneResult("07700900123", "phone note: ask for Bob")),
    ("Tel. +44 20 7946 0958 (direct)", PhoneResult("+442079460958", "phone note: direct")),
    ("07700 900123 (mobile) / call me", PhoneResult("07700900123", "phone note: mobile; invalid phone in source: call me")),
    # words around something that is no phone: the whole cell stays in remarks
    ("Room 12345 building", PhoneResult(None, "invalid phone in source: Room 12345 building")),
    ("05/03/2024 meeting", PhoneResult(None, "invalid phone in source: 05/03/2024 meeting")),
    ("n/a (left company)", PhoneResult(None, "invalid phone in source: n/a (left company)")),
])
def test_annotated_cells_keep_the_number_and_the_words(text, result):
    assert normalize_phone(text) == result


def test_annotated_cells_with_a_default_region():
    assert normalize_phone("07700 900123 (mobile)", "GB") == PhoneResult("+447700900123", "phone note: mobile")
    assert normalize_phone("0171 555 1234 / 0171 555 9999 (home)", "DE") == PhoneResult(
        "+491715551234", "other phone: +491715559999 (home)")
    assert normalize_phone("+1 (202) 555-0171 x 12 (NY office)", "GB") == PhoneResult(
        "+12025550171", "phone ext: 12; phone note: NY office")


def test_annotations_reach_the_lead_remarks():
    from easycrm_pipeline.models import RawRow
    from easycrm_pipeline.rules import standardize_rows

    row = RawRow("0:2", None, 2, (("Email", "ann@example.com"), ("Phone", "020 7946 0958 (switchboard) / "
                                                                           "07700 900123 (mobile)"),
                                  ("Notes", "met at fair")))
    lead = standardize_rows([row])[0]
    assert lead.fields["phone"] == "02079460958"
    assert lead.fields["remarks"] == "met at fair; phone note: switchboard; other phone: 07700900123 (mobile)"


@pytest.mark.parametrize("text,phone", [
    ("030 / 123 45 67", "0301234567"),
    ("030/1234567", "0301234567"),
    ("0171 / 2345678", "01712345678"),
    ("+49 (0) 30 / 123 45 67", "+49301234567"),
    ("0049 30 / 123 45 67", "+49301234567"),
])
def test_german_area_code_slash_number_is_one_phone(text, phone):
    # breaker p4: "area code / number" was split into "030" (invalid) and "1234567" (stored: a different number)
    assert normalize_phone(text) == PhoneResult(phone)


def test_german_area_code_slash_number_with_a_default_region():
    assert normalize_phone("030 / 123 45 67", "DE") == PhoneResult("+49301234567")
    assert normalize_phone("0171 / 2345678", "DE") == PhoneResult("+491712345678")


@pytest.mark.parametrize("text,result", [
    # the whole cell is no single number (22 digits): two numbers
    ("0171 555 1234 / 0171 555 9999", PhoneResult("01715551234", "other phone: 01715559999")),
    ("030 1234567 / 0171 2345678", PhoneResult("0301234567", "other phone: 01712345678")),
    # each side is a full number on its own: two numbers, never glued into one
    ("555 1234 / 555 5678", PhoneResult("5551234", "other phone: 5555678")),
    ("+44 20 7946 0000 / +44 7700 900123", PhoneResult("+442079460000", "other phone: +447700900123")),
    # a date stays garbage
    ("05 / 03 / 2024", PhoneResult(None, "invalid phone in source: 05 / 03 / 2024")),
])
def test_slash_still_separates_several_numbers(text, result):
    assert normalize_phone(text) == result


@pytest.mark.parametrize("text,result", [
    # breaker p3: German-locale Excel writes the decimal comma; the comma is no separator between two numbers here
    ("4,47700900123E+11", PhoneResult("447700900123")),
    ("4,47700900123e11", PhoneResult("447700900123")),
    ("447700900123,0", PhoneResult("447700900123")),
    ("7700900456,00", PhoneResult("7700900456")),
    ("4,47701E+11", PhoneResult(None, "invalid phone in source: 4,47701E+11")),  # digits lost: no phone
    ("1,5", PhoneResult(None, "invalid phone in source: 1,5")),
    # Excel's text marker apostrophe
    ("'07700900456", PhoneResult("07700900456")),
    ("'+44 7700 900123", PhoneResult("+447700900123")),
])
def test_german_locale_floats_and_excel_text_marker(text, result):
    assert normalize_phone(text) == result


@pytest.mark.parametrize("text,result", [
    # breaker p2 / x3: a line break (Alt+Enter) or Google Contacts' " ::: " between numbers
    ("+351 91 000 0002\n+351 21 000 0001", PhoneResult("+351910000002", "other phone: +351210000001")),
    ("07700 900123\r\n020 7946 0958", PhoneResult("07700900123", "other phone: 02079460958")),
    ("+351 91 000 0002 ::: +351 21 000 0001", PhoneResult("+351910000002", "other phone: +351210000001")),
    ("07700 900123\n", PhoneResult("07700900123")),
    ("n/a\n0171 2345678", PhoneResult("01712345678")),
])
def test_line_breaks_and_google_separator_split_numbers(text, result):
    assert normalize_phone(text) == result


def test_a_line_break_before_an_annotation_keeps_the_note():
    assert normalize_phone("07700 900123\n(mobile)") == PhoneResult("07700900123", "phone note: mobile")


@pytest.mark.parametrize("text,phone", [
    # breaker p3 E7: a float shown with thousands separators and decimals; the ".00" is no part of the number
    ("447 700 900 123.00", "447700900123"),
    ("447,700,900,123.00", "447700900123"),
    ("447.700.900.123,00", "447700900123"),
])
def test_float_with_thousands_separators(text, phone):
    assert normalize_phone(text) == PhoneResult(phone)


@pytest.mark.parametrize("text,result", [
    # breaker p4 G6 / p2 C5: an extension behind "," or ";" belongs to the number, it is no second number
    ("+1 (202) 555-0143, ext. 12", PhoneResult("+12025550143", "phone ext: 12")),
    ("+1-202-555-0143;ext=12", PhoneResult("+12025550143", "phone ext: 12")),
    ("030 1234567, Durchwahl 45", PhoneResult("0301234567", "phone ext: 45")),
])
def test_extension_after_a_comma_or_semicolon(text, result):
    assert normalize_phone(text) == result
