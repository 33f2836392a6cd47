"""Column roles from content (issue 15)."""
from __future__ import annotations

from easycrm_pipeline.rules.columns import content_roles, fits, guess_header


def test_roles_from_content():
    rows = [["Christa Beispiel", "Beispiel AG", "Head of HR", "https://example.org/in/cb", "cb@example.org"],
            ["Max Muster", "Muster GmbH", "Sales Manager", "https://example.org/in/mm", "mm@example.org"]]
    assert content_roles(rows) == ["fullName", "company", "title", "website", "email"]
    assert content_roles([["Anna", "Beispiel", "963944000111"]]) == ["firstName", "lastName", "phone"]
    assert fits("email", "cb@example.org") and not fits("phone", "555123") and fits("phone", "963944000111")


def test_first_row_data_or_header():
    rows = [["Christa Beispiel", "Beispiel AG", "Head of HR", "https://example.org/in/cb", "cb@example.org"]]
    assert guess_header(rows) == (True, ["fullName", "company", "title", "website", "email"])
    assert guess_header([["Anna", "963944000111"], ["Bruno", "963944000222"]]) == (True, ["firstName", "phone"])
    assert guess_header([["Feld1", "Feld2"], ["Anna Beispiel", "anna@example.com"]]) == (False, ["fullName", "email"])


def test_no_lead_content_is_no_guess():
    assert guess_header([["sku", "price"], ["A1", "9.99"]]) is None
    # a lookup list of capitalised words (countries, statuses) is not a list of people
    assert guess_header([["Germany"], ["France"], ["Spain"]]) is None
    assert guess_header([["Germany", "DE"], ["France", "FR"]]) is None


def test_a_proposed_role_must_agree_with_the_content():
    """DeepSeek's header mapping is checked against the cells (issue 15): emails look like emails, phones parse,
    names look like names; an empty column agrees with nothing."""
    from easycrm_pipeline.rules.columns import agrees

    emails = ["anna@example.org", "max@example.org", ""]
    names = ["Anna", "max", "Jean-Luc"]
    assert agrees("email", emails) and not agrees("phone", emails) and not agrees("firstName", emails)
    assert agrees("firstName", names) and agrees("lastName", names) and not agrees("email", names)
    assert agrees("phone", ["+49 30 1234567", "(555) 201-0143"]) and not agrees("phone", ["555123", "12"])
    assert agrees("fullName", ["Anna Beispiel", "Max Muster"]) and not agrees("fullName", ["Anna", "Max"])
    assert agrees("company", ["Beispielwerke", "Muster Logistik"]) and not agrees("company", emails)
    assert not agrees("title", ["https://example.org/a", "https://example.org/b"])
    assert not agrees("email", ["", " "]) and not agrees("remarks", ["anything"])
