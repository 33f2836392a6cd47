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
    assert normalize_phone("1234567890123456", "GB") == PhoneResult("1234567890123456")


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
