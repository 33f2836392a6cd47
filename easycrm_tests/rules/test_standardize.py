"""standardize_rows: the offline rules on rows of every kind the handed cases show."""
from __future__ import annotations

from easycrm_pipeline.models import LEAD_FIELDS
from easycrm_pipeline.rules import RULES_VERSION, standardize_rows
from easycrm_pipeline.rules.standardize import company_case

from .helpers import all_fields, raw


def _one(pairs, region=None):
    (lead,) = standardize_rows([raw(pairs)], region)
    return lead


def test_shape_of_a_lead():
    row = raw([("Email", " Ann@Example.com "), ("First Name", "ann"), ("Last Name", "LEE"), ("City", "Oslo"),
               ("Phone", "")], row_number=7, sheet="Leads", sheet_index=2)
    (lead,) = standardize_rows([row])
    assert (lead.row_id, lead.sheet, lead.row_number, lead.standardizer, lead.flags) == (
        "2:7", "Leads", 7, RULES_VERSION, ())
    assert tuple(lead.fields) == LEAD_FIELDS
    assert lead.fields == all_fields({"firstName": "Ann", "lastName": "Lee", "title": None, "company": None,
                                      "email": "ann@example.com", "phone": None, "remarks": "City: Oslo"})
    assert lead.provided == frozenset({"email", "firstName", "lastName", "phone", "remarks"})
    assert lead.raw == {"Email": " Ann@Example.com ", "First Name": "ann", "Last Name": "LEE", "City": "Oslo"}
    assert lead.email == "ann@example.com"


def test_remarks_order_and_joining():
    lead = _one([
        ("Name", "Dr. Ann Lee"), ("Email", "ann@example.com; ann.lee@example.org"), ("Email 2", "bad@"),
        ("Phone", "+44 20 7946 0000"), ("Mobile", "+44 7700 900123"), ("Notes", "met at booth"),
        ("Fax", "020 7946 0001"), ("Comments", "N/A"), ("Notes 2", "hot lead"),
    ])
    assert lead.fields["remarks"] == (
        "met at booth; hot lead; alt email: ann.lee@example.org; invalid email in source: bad@; "
        "mobile: +447700900123; honorific: Dr.; Fax: 020 7946 0001"
    )
    assert (lead.fields["firstName"], lead.fields["lastName"]) == ("Ann", "Lee")


def test_phone_falls_back_to_mobile_and_invalid_phone_is_remarked():
    lead = _one([("Email", "a@example.com"), ("Phone", "-7700900456"), ("Mobile", "447700900321")])
    assert (lead.fields["phone"], lead.fields["remarks"]) == ("447700900321",
                                                              "invalid phone in source: -7700900456")
    lead = _one([("Email", "a@example.com"), ("Phone", "NA"), ("Mobile", "")])
    assert (lead.fields["phone"], lead.fields["remarks"]) == (None, None)
    # the same number twice is not repeated in remarks
    lead = _one([("Phone", "+44 20 7946 0000"), ("Phone 2", "0044 20 7946 0000"), ("Email", "a@example.com")])
    assert (lead.fields["phone"], lead.fields["remarks"]) == ("+442079460000", None)


def test_default_region_applies_to_local_numbers():
    lead = _one([("Email", "a@example.de"), ("Telefon", "030 0000 3333")], region="DE")
    assert lead.fields["phone"] == "+493000003333"


def test_name_casing_rules():
    # all caps / all lower -> title case; mixed case kept; short shouted surname next to a normal name kept
    assert _one([("First Name", "JOHN"), ("Last Name", "O'NEIL")]).fields["lastName"] == "O'Neil"
    assert _one([("First Name", "maria del carmen"), ("Last Name", "ruiz-vega")]).fields["firstName"] == \
        "Maria del Carmen"
    lead = _one([("First Name", "Yeon"), ("Last Name", "NA")])
    assert (lead.fields["firstName"], lead.fields["lastName"]) == ("Yeon", "NA")
    lead = _one([("First Name", "Ivy"), ("Last Name", "null")])
    assert lead.fields["lastName"] == "null"
    lead = _one([("First Name", "Jean"), ("Last Name", "DUPONT")])
    assert lead.fields["lastName"] == "Dupont"
    lead = _one([("First Name", "Wei"), ("Last Name", "NG")])
    assert lead.fields["lastName"] == "Ng"  # ALL CAPS is re-cased (cases/README); only NA/null-like names are kept
    lead = _one([("First Name", "ANN"), ("Last Name", "Abbott")])
    assert lead.fields["firstName"] == "Ann"
    lead = _one([("First Name", "McKenzie"), ("Last Name", "de Vries")])
    assert (lead.fields["firstName"], lead.fields["lastName"]) == ("McKenzie", "de Vries")


def test_full_name_used_only_when_first_and_last_are_empty():
    lead = _one([("First Name", ""), ("Last Name", ""), ("Full Name", "Ng, Wei Jie")])
    assert (lead.fields["firstName"], lead.fields["lastName"]) == ("Wei Jie", "Ng")
    lead = _one([("First Name", "Wei"), ("Last Name", "Ng"), ("Full Name", "Ng Wei Jie")])
    assert (lead.fields["firstName"], lead.fields["lastName"]) == ("Wei", "Ng")
    lead = _one([("Vorname", "Hans"), ("Zweiter Vorname", "Peter"), ("Nachname", "Müller")])
    assert (lead.fields["firstName"], lead.fields["lastName"]) == ("Hans Peter", "Müller")


def test_company_and_title_cleanup():
    lead = _one([("Company", "  SMITH   EXAMPLE HOLDINGS "), ("Title", " Head of\nSales "), ("Email", "a@b.co")])
    assert (lead.fields["company"], lead.fields["title"]) == ("Smith Example Holdings", "Head of Sales")
    # issue 15: a placeholder is no company ("N/A", "-", "#N/A", "NaN", "[not provided]")
    for placeholder in ("n/a", "N/A", "-", "#N/A", "NaN", "[not provided]"):
        lead = _one([("Company", placeholder), ("Email", "a@b.co")])
        assert lead.fields["company"] is None and lead.fields["remarks"] is None, placeholder
    assert _one([("Company", "x"), ("Title", "N/A")]).fields["title"] is None


def test_company_case():
    assert company_case("SMITH EXAMPLE HOLDINGS") == "Smith Example Holdings"
    assert company_case("EXAMPLE TRADING GMBH") == "Example Trading GmbH"
    # issue 15: companies keep the case they were given (brands, acronyms, one shouted word)
    assert company_case("IKEA") == "IKEA"
    assert company_case("ACME-X") == "ACME-X"
    assert company_case("ACME GMBH") == "ACME GMBH"
    assert company_case("IBM") == "IBM"
    assert company_case("BMW AG") == "BMW AG"
    assert company_case("Example null Co") == "Example null Co"
    assert company_case("acme corp") == "acme corp"
    assert company_case("O'REILLY MEDIA") == "O'Reilly Media"


def test_placeholders_in_notes_are_null_but_names_stay():
    lead = _one([("First Name", "Tim"), ("Last Name", "None"), ("Phone", "n/a"), ("Notes", "-"),
                 ("Email", "tim.none@example.com")])
    assert lead.fields == all_fields({"firstName": "Tim", "lastName": "None", "title": None, "company": None,
                           "email": "tim.none@example.com", "phone": None, "remarks": None})


def test_row_without_email_keeps_other_fields():
    lead = _one([("Name", "Ola Nord"), ("Email", "ola.nord@example"), ("Company", "Nord AS")])
    assert lead.fields["email"] is None
    assert lead.fields["remarks"] == "invalid email in source: ola.nord@example"
    assert lead.provided == frozenset({"firstName", "lastName", "email", "company", "remarks"})


def test_one_lead_per_row_same_order():
    rows = [raw([("Email", f"u{i}@example.com")], row_number=i + 2) for i in range(5)]
    leads = standardize_rows(rows)
    assert [lead.row_id for lead in leads] == ["0:2", "0:3", "0:4", "0:5", "0:6"]
    assert standardize_rows([]) == []


# ---- issue 15: the field rules real exports break -------------------------------------------------------------


def test_companies_keep_their_case():
    for given in ("IKEA", "ACME-X", "BMW AG"):
        assert _one([("Company", given), ("Email", "a@example.com")]).fields["company"] == given
    # person names written ALL CAPS / all lower are still re-cased
    lead = _one([("First Name", "ANNA"), ("Last Name", "beispiel"), ("Company", "IKEA")])
    assert (lead.fields["firstName"], lead.fields["lastName"], lead.fields["company"]) == ("Anna", "Beispiel", "IKEA")


def test_honorifics_degrees_and_emoji_leave_names_into_remarks():
    lead = _one([("First Name", "Dr. Anna"), ("Last Name", "Beispiel, MBA, PMP")])
    assert (lead.fields["firstName"], lead.fields["lastName"]) == ("Anna", "Beispiel")
    assert lead.fields["remarks"] == "honorific: Dr.; credentials: MBA, PMP"
    lead = _one([("Full Name", "Max Muster DVM")])
    assert (lead.fields["firstName"], lead.fields["lastName"]) == ("Max", "Muster")
    assert lead.fields["remarks"] == "credentials: DVM"
    lead = _one([("First Name", "Max"), ("Last Name", "Muster 🍀")])
    assert (lead.fields["firstName"], lead.fields["lastName"]) == ("Max", "Muster")
    assert lead.fields["remarks"] == "emoji in name: 🍀"


def test_email_or_placeholder_in_a_name_column_is_no_name():
    lead = _one([("First Name", "anna@example.com"), ("Last Name", "Beispiel"), ("Email", "")])
    assert (lead.fields["firstName"], lead.fields["lastName"]) == (None, "Beispiel")
    assert lead.fields["email"] == "anna@example.com"
    lead = _one([("First Name", "anna@example.com"), ("Last Name", ""), ("Email", "a.b@example.com")])
    assert lead.fields["firstName"] is None and lead.fields["email"] == "a.b@example.com"
    assert lead.fields["remarks"] == "alt email: anna@example.com"
    for placeholder in ("[not provided]", "-", "N/A", "#N/A", "NaN"):
        lead = _one([("First Name", "Anna"), ("Last Name", placeholder), ("Email", "a@example.com")])
        assert (lead.fields["firstName"], lead.fields["lastName"]) == ("Anna", None), placeholder
    # next to a real first name, NA / None / Null stay surnames (handed case 13)
    for surname in ("NA", "None", "Null"):
        assert _one([("First Name", "Yeon"), ("Last Name", surname)]).fields["lastName"] == surname


def test_second_company_column_fills_an_empty_first():
    lead = _one([("Company Name", ""), ("Associated Company", "Beispiel AG"), ("Email", "a@example.com")])
    assert lead.fields["company"] == "Beispiel AG" and lead.fields["remarks"] is None
    lead = _one([("Company Name", "Acme"), ("Associated Company", "Beispiel AG")])
    assert lead.fields["company"] == "Acme" and lead.fields["remarks"] == "Associated Company: Beispiel AG"


def test_office_number_fills_an_empty_mobile():
    lead = _one([("Mobile", ""), ("Office Number", "030 1234567"), ("Email", "a@example.com")])
    assert lead.fields["phone"] == "0301234567"
    # both filled: phone columns come before mobile ones (HeaderMap), the other number is kept in remarks
    lead = _one([("Mobile Phone", "0171 2345678"), ("Office Number", "030 1234567")])
    assert lead.fields["phone"] == "0301234567" and lead.fields["remarks"] == "mobile phone: 01712345678"


def test_client_name_next_to_contact_names_goes_to_remarks():
    lead = _one([("Name", "Beispiel Holding"), ("First Name", "Anna"), ("Last Name", "Beispiel")])
    assert (lead.fields["firstName"], lead.fields["lastName"]) == ("Anna", "Beispiel")
    assert lead.fields["remarks"] == "Name: Beispiel Holding"
    lead = _one([("Full Name", "Client Corp"), ("First Name", "Anna"), ("Last Name", "Beispiel")])
    assert lead.fields["remarks"] == "Full Name: Client Corp"
    # the same person written in full is not repeated (Google Contacts: Name, Given Name, Family Name)
    assert _one([("Full Name", "Anna Beispiel"), ("First Name", "Anna"), ("Last Name", "Beispiel")]).fields[
        "remarks"] is None
    assert _one([("Name", "Anna Maria Beispiel"), ("Given Name", "Anna"), ("Family Name", "Beispiel")]).fields[
        "remarks"] is None


def test_every_cell_lands_in_a_field_or_remarks():
    cells = [("Name", "Client Co"), ("First Name", "Anna"), ("Last Name", "Beispiel, MBA"),
             ("Company Name", ""), ("Associated Company", "Beispiel AG"), ("Email", "x@example.com (left company)"),
             ("Mobile", ""), ("Office Number", "030 1234567"), ("Favourite colour", "green")]
    lead = _one(cells)
    text = " ".join(v for v in lead.fields.values() if v)
    for word in ("Client Co", "Anna", "Beispiel", "MBA", "Beispiel AG", "x@example.com", "left company",
                 "0301234567", "green"):
        assert word in text, word


def test_email_cell_notes_and_second_address_kept_in_remarks():
    lead = _one([("Email", "x@example.com (do not email, left company)")])
    assert lead.fields["email"] == "x@example.com"
    assert lead.fields["remarks"] == "email note: do not email, left company"
    lead = _one([("Email", "Jane Doe <jane@example.com> (old: jd@old.example)")])
    assert lead.fields["email"] == "jane@example.com"
    assert lead.fields["remarks"] == "email note: old: jd@old.example"


def test_phone_cells_of_real_exports():
    lead = _one([("Phone", "555-201-0143555-201-0198")])
    assert lead.fields["phone"] == "5552010143" and lead.fields["remarks"] == "other phone: 5552010198"
    lead = _one([("Phone", "(005)405-6818x9500")])
    assert lead.fields["phone"] == "0054056818" and lead.fields["remarks"] == "phone ext: 9500"
    lead = _one([("Phone", "555123")])
    assert lead.fields["phone"] is None and lead.fields["remarks"] == "invalid phone in source: 555123"
    assert _one([("Phone", "555\t123\n4567")]).fields["phone"] == "5551234567"


def test_placeholders_in_email_phone_notes_and_other_columns_say_nothing():
    lead = _one([("First Name", "Anna"), ("Email", "[not provided]"), ("Phone", "#N/A"), ("Notes", "(unknown)"),
                 ("Department", "N/A"), ("Source", "Fair")])
    assert (lead.fields["email"], lead.fields["phone"]) == (None, None)
    assert lead.fields["remarks"] == "Source: Fair"
