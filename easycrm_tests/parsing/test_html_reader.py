"""HTML tables saved as ``.xls`` (a CRM's "export to Excel"), read with the standard library (issue 15)."""
from __future__ import annotations

from pathlib import Path

import pytest

from easycrm_pipeline.parsing import FileRejected, read_file
from easycrm_pipeline.parsing.html_reader import looks_like_html_table
from easycrm_pipeline.rules import standardize_rows

EXPORT = """<html xmlns:o="urn:schemas-microsoft-com:office:office"><head><meta charset="utf-8">
<style>td{mso-number-format:"\\@"}</style></head>
<body><table border=1>
<tr><th colspan="2">Contacts export</th></tr>
<tr><th>First Name</th><th>Last Name</th><th>E-mail</th><th>Phone</th><th>Company</th></tr>
<tr><td>Zo&euml;</td><td>M&uuml;ller</td><td>zoe@example.de</td><td>030 1234567</td><td>Caf&eacute; &amp; Co<br>Berlin</td></tr>
<tr><td>Bob</td><td>Ray</td><td>bob@example.com</td><td>
  0044 20 7946 0000</td><td></td></tr>
<tr><td colspan="5">Total: 2</td></tr>
</table></body></html>
"""


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_html_table_saved_as_xls_is_read(tmp_path):
    parsed = read_file(_write(tmp_path, "export.xls", EXPORT.encode("utf-8")))
    assert parsed.sheets[0].header_row == 2 and parsed.sheets[0].name is None
    assert dict(parsed.rows[0].cells) == {"First Name": "Zoë", "Last Name": "Müller", "E-mail": "zoe@example.de",
                                          "Phone": "030 1234567", "Company": "Café & Co\nBerlin"}
    assert [(q.row_number, q.reason) for q in parsed.quarantine] == [(5, "footer/summary row")]
    leads = standardize_rows(parsed.rows)
    assert [(x.fields["firstName"], x.fields["email"], x.fields["phone"], x.fields["company"]) for x in leads] == [
        ("Zoë", "zoe@example.de", "0301234567", "Café & Co Berlin"),
        ("Bob", "bob@example.com", "+442079460000", None)]


def test_utf16_html_page(tmp_path):
    parsed = read_file(_write(tmp_path, "unicode.xls", EXPORT.encode("utf-16")))
    assert dict(parsed.rows[0].cells)["First Name"] == "Zoë" and len(parsed.rows) == 2


def test_minimal_html_table_and_cp1252_page(tmp_path):
    data = b"<html><body><table><tr><td>Email</td></tr><tr><td>a@example.com</td></tr></table></body></html>"
    parsed = read_file(_write(tmp_path, "export.xls", data))
    assert [dict(r.cells) for r in parsed.rows] == [{"Email": "a@example.com"}]
    data = "<table><tr><th>Name</th><th>Firma</th></tr><tr><td>José Núñez</td><td>Ñandú SA</td></tr></table>"
    parsed = read_file(_write(tmp_path, "win.xls", data.encode("cp1252")))
    assert dict(parsed.rows[0].cells) == {"Name": "José Núñez", "Firma": "Ñandú SA"}


def test_several_tables_are_sheets_and_a_page_without_leads_is_refused(tmp_path):
    data = ("<html><body><table><tr><td>Report</td></tr></table>"
            "<table><tr><th>Email</th><th>Phone</th></tr><tr><td>a@example.com</td><td>0301234567</td></tr></table>"
            "</body></html>").encode()
    parsed = read_file(_write(tmp_path, "two.xls", data))
    assert [(s.name, s.status) for s in parsed.sheets] == [("Table 1", "skipped"), ("Table 2", "leads")]
    assert parsed.rows[0].sheet == "Table 2" and parsed.rows[0].row_id == "1:2"
    with pytest.raises(FileRejected, match="^no header row maps to a lead field"):
        read_file(_write(tmp_path, "prices.xls", b"<table><tr><td>sku</td><td>price</td></tr>"
                                                 b"<tr><td>A1</td><td>9.99</td></tr></table>"))


def test_only_html_pages_with_a_table_are_taken_for_html():
    assert looks_like_html_table(b"<!DOCTYPE html><html><table></table></html>")
    assert not looks_like_html_table(b"Email,Notes\na@example.com,<table> in a note\n")
    assert not looks_like_html_table(b"<html><body>no table</body></html>")


def test_declared_meta_charset_is_used(tmp_path):
    from easycrm_pipeline.parsing.html_reader import decode_html

    page = ('<html><head><meta charset="koi8-r"></head><body><table><tr><th>Имя</th><th>Email</th></tr>'
            "<tr><td>Иван</td><td>ivan@example.ru</td></tr></table></body></html>")
    assert decode_html(page.encode("koi8_r")) == (page, "koi8-r")
    # a page re-saved as UTF-8 that kept its old declaration is UTF-8; a Latin-1 label means windows-1252 (WHATWG)
    assert decode_html(page.encode("utf-8")) == (page, "utf-8")
    latin = page.replace("koi8-r", "iso-8859-1").replace("Иван", "José’s").replace("Имя", "Name")
    assert decode_html(latin.encode("cp1252")) == (latin, "cp1252")
    parsed = read_file(_write(tmp_path, "koi8.xls", page.encode("koi8_r")))
    assert [lead.fields["firstName"] for lead in standardize_rows(parsed.rows)] == ["Иван"]


def test_rowspan_repeats_the_cell_below_and_mailto_links_keep_their_address(tmp_path):
    page = ("<table><tr><th>Company</th><th>First Name</th><th>Email</th></tr>"
            '<tr><td rowspan="3">ACME</td><td>Ann</td><td><a href="mailto:ann@example.com">ann@example.com</a></td></tr>'
            '<tr><td>Bob</td><td><a href="mailto:bob%40example.com?subject=Hi">Bob R.</a></td></tr>'
            "<tr><td>Cy</td><td>cy@example.com</td></tr>"
            '<tr><td rowspan="2">Other</td><td colspan="2" rowspan="2">Dan</td></tr>'
            "<tr></tr></table>")
    parsed = read_file(_write(tmp_path, "spans.xls", page.encode()))
    assert [[v for _, v in r.cells] for r in parsed.rows] == [
        ["ACME", "Ann", "ann@example.com"], ["ACME", "Bob", "Bob R. <bob@example.com>"],
        ["ACME", "Cy", "cy@example.com"], ["Other", "Dan", ""], ["Other", "Dan", ""]]
    assert [lead.fields["email"] for lead in standardize_rows(parsed.rows)][:2] == ["ann@example.com",
                                                                                  "bob@example.com"]
