"""normalize_email_cell / normalize_email_key (handed case 10 and its kind)."""
from __future__ import annotations

import pytest

from easycrm_pipeline.rules.emails import EmailResult, emails_in_text, normalize_email_cell, normalize_email_key


@pytest.mark.parametrize("cell,result", [
    ("  Jane.Doe@Example.COM ", EmailResult("jane.doe@example.com")),
    ("mailto:sam.roe@example.org", EmailResult("sam.roe@example.org")),
    ("MAILTO:Sam.Roe@Example.org", EmailResult("sam.roe@example.org")),
    ("Kim Lee <kim.lee@example.net>", EmailResult("kim.lee@example.net")),
    ('"Lee, Kim" <Kim.Lee@example.net>', EmailResult("kim.lee@example.net")),
    ("max.park@example.com; max@park-example.com", EmailResult("max.park@example.com", ["max@park-example.com"])),
    ("a@example.com, b@example.com b@example.com", EmailResult("a@example.com", ["b@example.com"])),
    ("ola.nord@example", EmailResult(None, [], ["ola.nord@example"])),
    ("liv.berg@example.se\u200b", EmailResult("liv.berg@example.se")),
    ("\u00a0\ufeffliv.berg@example.se\u00a0", EmailResult("liv.berg@example.se")),
    ("good@example.com; bad@@example.com", EmailResult("good@example.com", [], ["bad@@example.com"])),
    ("n/a", EmailResult(None)),
    ("", EmailResult(None)),
    (None, EmailResult(None)),
    ("unknown", EmailResult(None)),  # a placeholder (issue 15), no invalid address
    ("see notes", EmailResult(None, [], ["see notes"])),
])
def test_normalize_email_cell(cell, result):
    assert normalize_email_cell(cell) == result


@pytest.mark.parametrize("text,key", [
    ("  Jane.Doe@Example.COM ", "jane.doe@example.com"),
    ("N/A", None), ("null", None), ("None", None), ("", None), ("   ", None), (None, None),
    ("x@y.z", "x@y.z"),
])
def test_normalize_email_key(text, key):
    assert normalize_email_key(text) == key


def test_emails_in_text_finds_addresses_in_free_text():
    assert emails_in_text("call or write to Jane <Jane@Example.com>, cc: ops@example.org.") == {
        "jane@example.com", "ops@example.org"}
    assert emails_in_text("no address here") == set()


def test_mailto_with_query_and_sentence_dot():
    assert normalize_email_cell("mailto:Sam.Roe@example.org?subject=Hello") == EmailResult("sam.roe@example.org")
    # the words around the address are kept (remarks "email note: write to")
    assert normalize_email_cell("write to sam@example.org.") == EmailResult("sam@example.org", notes=["write to"])


@pytest.mark.parametrize("text,result", [
    # breaker m3: addresses glued with "/" or "|" (no spaces)
    ("h1@example.com/h1b@example.com", EmailResult("h1@example.com", ["h1b@example.com"])),
    ("h2@example.com|h2b@example.com", EmailResult("h2@example.com", ["h2b@example.com"])),
    # "/" is allowed in a local part: one address with one "@" is not split
    ("first/last@example.com", EmailResult("first/last@example.com")),
])
def test_addresses_glued_with_slash_or_bar(text, result):
    assert normalize_email_cell(text) == result
