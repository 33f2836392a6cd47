"""Shared table rules of the readers (``parsing/table.py``), through ``read_file`` on small CSV files (issue 15):
rows of placeholders, huge cells, redaction of secrets and payment data."""
from __future__ import annotations

from pathlib import Path

from easycrm_pipeline.parsing import read_file
from easycrm_pipeline.parsing.table import MAX_CELL_CHARS, PLACEHOLDER_ROW_REASON
from easycrm_pipeline.rules import standardize_rows


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_row_of_placeholders_is_quarantined_not_a_lead(tmp_path):
    text = "First Name,Last Name,Company,Email\nAnna,Beispiel,IKEA,anna@example.com\n-,-,-,-\nN/A,N/A,,\n" \
           "Yeon,NA,,\n"
    parsed = read_file(_write(tmp_path, "ph.csv", text))
    assert [dict(r.cells)["First Name"] for r in parsed.rows] == ["Anna", "Yeon"]
    assert [(q.row_number, q.reason) for q in parsed.quarantine] == [
        (3, PLACEHOLDER_ROW_REASON), (4, PLACEHOLDER_ROW_REASON)]
    assert parsed.quarantine[0].raw == {"First Name": "-", "Last Name": "-", "Company": "-", "Email": "-"}
    assert parsed.rows_read == 4  # nothing dropped: 2 leads + 2 quarantined


def test_huge_cell_is_capped_with_a_note(tmp_path):
    big = "x" * (50 * 1024 * 1024)
    parsed = read_file(_write(tmp_path, "big.csv", f"Email,Notes\nanna@example.com,{big}\n"))
    notes = dict(parsed.rows[0].cells)["Notes"]
    assert notes.startswith("x" * MAX_CELL_CHARS)
    assert notes.endswith(f"[cut: cell of {len(big):,} characters, first {MAX_CELL_CHARS:,} kept]")
    assert len(notes) < MAX_CELL_CHARS + 100


def test_secret_columns_and_card_numbers_are_redacted(tmp_path):
    text = ("First Name,Email,Card Number,CVV,Password,IBAN,SSN,Notes,Phone\n"
            "Anna,anna@example.com,4111 1111 1111 1111,123,hunter2,DE89 3704 0044 0532 0130 00,078-05-1120,"
            "paid with 5555555555554444,4915112345678\n")
    parsed = read_file(_write(tmp_path, "demo.csv", text))
    cells = dict(parsed.rows[0].cells)
    assert cells["Card Number"] == "[redacted: card number]"
    assert cells["CVV"] == "[redacted: card security code]"
    assert cells["Password"] == "[redacted: password]"
    assert cells["IBAN"] == "[redacted: IBAN]"
    assert cells["SSN"] == "[redacted: national id]"
    assert cells["Notes"] == "paid with [redacted: card number]"  # a card inside text is redacted in place
    assert cells["Phone"] == "4915112345678"  # up to 15 digits a phone column's value is a phone, Luhn or not
    assert parsed.sheets[0].redacted == {"card number": 2, "card security code": 1, "password": 1, "IBAN": 1,
                                         "national id": 1}
    assert parsed.redacted == 6
    lead = standardize_rows(parsed.rows)[0]
    for secret in ("4111", "hunter2", "DE89", "078-05", "5555"):
        assert secret not in (lead.fields["remarks"] or "") and secret not in str(lead.raw)


def test_card_number_by_content_in_an_unnamed_column(tmp_path):
    text = "Email,Extra\nanna@example.com,4111-1111-1111-1111\nbob@example.com,4111-1111-1111-1112\n"
    parsed = read_file(_write(tmp_path, "cards.csv", text))
    assert dict(parsed.rows[0].cells)["Extra"] == "[redacted: card number]"
    assert dict(parsed.rows[1].cells)["Extra"] == "4111-1111-1111-1112"  # Luhn check fails: not a card
    assert parsed.redacted == 1


def test_headerless_file_maps_by_content(tmp_path):
    # issue 15: no header row at all, data on line 1
    text = "Christa Beispiel;Beispiel AG;Head of HR;https://example.org/in/cb;cb@example.org\n"
    parsed = read_file(_write(tmp_path, "nohead.csv", text))
    assert parsed.sheets[0].header_row is None
    assert [h for h, _ in parsed.rows[0].cells] == ["Full Name", "Company", "Job Title", "Website", "Email"]
    assert parsed.rows[0].row_number == 1
    assert parsed.sheets[0].guessed_roles == {"Column 1": "fullName", "Column 2": "company", "Column 3": "title",
                                              "Column 4": "website", "Column 5": "email"}
    lead = standardize_rows(parsed.rows)[0]
    assert lead.fields == {"firstName": "Christa", "lastName": "Beispiel", "title": "Head of HR",
                           "company": "Beispiel AG", "email": "cb@example.org", "phone": None,
                           "remarks": "Website: https://example.org/in/cb"}


def test_header_of_unknown_words_maps_by_content(tmp_path):
    text = "Feld1,Feld2,Feld3\nAnna Beispiel,anna@example.com,+49 30 1234567\nMax Muster,max@example.com,\n"
    parsed = read_file(_write(tmp_path, "felder.csv", text))
    assert parsed.sheets[0].header_row == 1
    assert [h for h, _ in parsed.rows[0].cells] == ["Full Name (Feld1)", "Email (Feld2)", "Phone (Feld3)"]
    leads = standardize_rows(parsed.rows)
    assert [(x.fields["firstName"], x.fields["email"], x.fields["phone"]) for x in leads] == [
        ("Anna", "anna@example.com", "+49301234567"), ("Max", "max@example.com", None)]


def test_headerless_xls_first_names_and_numbers(tmp_path):
    xlwt = __import__("pytest").importorskip("xlwt")
    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("Sheet1")
    for r, (name, number) in enumerate([("Anna", 963944000111), ("Bruno", 963944000222), ("Carla", 963944000333)]):
        ws.write(r, 0, name)
        ws.write(r, 1, number)
    path = tmp_path / "contacts.xls"
    wb.save(str(path))
    parsed = read_file(path)
    assert [h for h, _ in parsed.rows[0].cells] == ["First Name", "Phone"]
    leads = standardize_rows(parsed.rows)
    assert [(x.fields["firstName"], x.fields["phone"]) for x in leads] == [
        ("Anna", "963944000111"), ("Bruno", "963944000222"), ("Carla", "963944000333")]


def test_unknown_header_next_to_known_ones_maps_by_content(tmp_path):
    # the email column's header means nothing, the others map: the addresses are the email, not a remark
    text = ("Vorname,Nachname,Kontakt-Info,Notes,Kanal\nAnna,Beispiel,anna@example.com,met at fair,+49 30 1234567\n"
            "Max,Muster,max@example.com,,+49 30 7654321\n")
    parsed = read_file(_write(tmp_path, "partly.csv", text))
    assert [h for h, _ in parsed.rows[0].cells] == ["Vorname", "Nachname", "Email (Kontakt-Info)", "Notes",
                                                     "Phone (Kanal)"]
    assert parsed.sheets[0].guessed_roles == {"Kontakt-Info": "email", "Kanal": "phone"}
    lead = standardize_rows(parsed.rows)[0]
    assert (lead.fields["email"], lead.fields["phone"], lead.fields["remarks"]) == (
        "anna@example.com", "+49301234567", "met at fair")
    # a field a header already provides is not guessed again: a second email column stays a remark
    text = "Email,Other\nanna@example.com,a.b@example.org\n"
    parsed = read_file(_write(tmp_path, "two.csv", text))
    assert [h for h, _ in parsed.rows[0].cells] == ["Email", "Other"]


def test_record_ids_are_not_taken_for_phones(tmp_path):
    text = "First Name,Email,Record ID,Ticket\nAnna,anna@example.com,51234567,90012345\n"
    parsed = read_file(_write(tmp_path, "hubspot.csv", text))
    assert [h for h, _ in parsed.rows[0].cells] == ["First Name", "Email", "Record ID", "Ticket"]
    assert standardize_rows(parsed.rows)[0].fields["phone"] is None
