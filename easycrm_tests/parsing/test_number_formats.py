"""Phones stored as numbers behind an Excel number format (``00000000000``, ``"+"0``, ``"+"00 0000 000000``,
``0#########``, Excel's "Phone Number" special format): the reader gives the text Excel shows, the rules turn it into
the right phone; builtin formats (General, ``0``) stay plain digits without ``.0``."""
from __future__ import annotations

import time
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook

from easycrm_pipeline.parsing import read_file
from easycrm_pipeline.parsing.cell_formats import col_index, xlsx_display_styles, xlsx_styled_cells
from easycrm_pipeline.parsing.numfmt import display_relevant, parse_format, render_number
from easycrm_pipeline.rules import standardize_rows

from .xlsx_helpers import write_fast_xlsx

US_PHONE = "[<=9999999]###-####;(###) ###-####"  # Excel: Format Cells > Special > Phone Number


@pytest.mark.parametrize("value,code,shown", [
    (7700900456, "00000000000", "07700900456"),
    (447700900123, '"+"0', "+447700900123"),
    (447700900123, '"+"00 0000 000000', "+44 7700 900123"),
    (4930123456, '"00"0', "004930123456"),
    (612345678, "0#########", "0612345678"),
    (7700900456, "0#########", "7700900456"),
    (2025550171, US_PHONE, "(202) 555-0171"),
    (5550171, US_PHONE, "555-0171"),
    (7700900123, '"+44 "0000 000000', "+44 7700 900123"),
    (7700900123, r"\+\4\4\ 0000 000000", "+44 7700 900123"),
    (7700900456, '"Mob. "00000 000000', "Mob. 07700 900456"),
    (447700900123, '[Red]"+"0;[Blue]-0', "+447700900123"),
    (123456789, "000-00-0000", "123-45-6789"),
    (1234, "00000", "01234"),
    (5, "0#0", "005"),
    (1234, "?????", " 1234"),
    (-5, "0;(0)", "(5)"),
    (-5, "0", "-5"),
    (0, '0;-0;"-"', "-"),
    (12, "[$€-407] #,##0", "€ 12"),
    (1234567, "#,##0", "1,234,567"),
    (1234567.891, "#,##0.00", "1,234,567.89"),
    (1.25, "#.##", "1.25"),
    (0.5, "0%", "50%"),
    (1234567, "#,##0,", "1,235"),
    (12, "0_);(0)", "12 "),
])
def test_render_number_like_excel(value, code, shown):
    assert render_number(value, code) == shown


@pytest.mark.parametrize("code", ["General", "@", "dd/mm/yyyy", "h:mm", "[h]:mm:ss", "0.00E+00", "# ?/?", "", "yyyy-mm-dd"])
def test_codes_not_rendered(code):
    assert render_number(5, code) is None


def test_phone_columns_render_without_thousands_separators():
    assert render_number(447700900123, '#,##0 "(mobile)"', grouping=False) == "447700900123 (mobile)"
    assert render_number(447700900123, '#,##0 "(mobile)"') == "447,700,900,123 (mobile)"


@pytest.mark.parametrize("code,relevant", [
    ("00000000000", True), ('"+"0', True), ("0#########", True), (US_PHONE, True), ("00000", True),
    ("General", False), ("0", False), ("#,##0", False), ("#0", False), ("0.00", False), ('"+"0.00', False),
    ("dd/mm/yyyy", False), ("0%", False),
])
def test_display_relevant(code, relevant):
    assert (display_relevant(code) is not None) is relevant


def test_any_format_code_is_parsed_without_raising():
    import random

    rnd = random.Random(7)
    alphabet = '0#?.,;%"\\_*[]$-+/():!^&~{}<>= @EeGgnrlaAPMyhmsdR19'
    for _ in range(5000):
        code = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 16)))
        fmt = parse_format(code)
        for value in (0, 5, -7, 7700900456, 1.5):
            if fmt is not None:
                fmt.render(value)
                fmt.render(value, grouping=False)


def test_col_index():
    assert [col_index(x) for x in ("A", "Z", "AA", "AB", b"XFD")] == [0, 25, 26, 27, 16383]


# --- workbooks ------------------------------------------------------------------------------------------------------

PHONES = [
    # (stored number, number format, text Excel shows, phone after the rules)
    (7700900456, "00000000000", "07700900456", "07700900456"),
    (447700900123, '"+"0', "+447700900123", "+447700900123"),
    (447700900123, '"+"00 0000 000000', "+44 7700 900123", "+447700900123"),
    (4930123456, '"00"0', "004930123456", "+4930123456"),
    (612345678, "0#########", "0612345678", "0612345678"),
    (2025550171, US_PHONE, "(202) 555-0171", "2025550171"),
    (7700900123, '"+44 "0000 000000', "+44 7700 900123", "+447700900123"),
    (7700900456, "General", "7700900456", "7700900456"),
    (7700900456, "0", "7700900456", "7700900456"),
    (7700900456.0, "0", "7700900456", "7700900456"),
    (447700900123, "#,##0", "447700900123", "447700900123"),
]


def test_xlsx_phone_number_formats_keep_plus_and_leading_zeros(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.title = "Leads"
    ws["A1"] = "Trade fair leads"  # a title row above the header
    ws.append(["Email", "Phone", "Customer No", "Score"])
    for i, (number, code, _, _) in enumerate(PHONES):
        ws.append([f"p{i}@example.com", number, 1234, 7])
        ws.cell(ws.max_row, 2).number_format = code
        ws.cell(ws.max_row, 3).number_format = "000000"
    ws.append(["text@example.com", "07700 900999", "00042", 1])  # text cells are left as they are
    path = tmp_path / "formats.xlsx"
    wb.save(path)
    parsed = read_file(path)
    assert [dict(r.cells)["Phone"] for r in parsed.rows] == [p[2] for p in PHONES] + ["07700 900999"]
    assert {dict(r.cells)["Customer No"] for r in parsed.rows} == {"001234", "00042"}
    assert {dict(r.cells)["Score"] for r in parsed.rows} == {"7", "1"}  # General: plain digits, no ".0"
    leads = standardize_rows(parsed.rows)
    assert [lead.fields["phone"] for lead in leads] == [p[3] for p in PHONES] + ["07700900999"]


def test_xlsx_mobile_column_and_several_sheets(tmp_path):
    wb = Workbook()
    a = wb.active
    a.title = "UK"
    a.append(["First Name", "Last Name", "Mobile", "Phone 2"])
    a.append(["Ann", "Lee", 7700900123, 2079460958])
    a.cell(2, 3).number_format = "00000 000000"
    a.cell(2, 4).number_format = "000 0000 0000"
    b = wb.create_sheet("DE")
    b.append([None, None])
    b.append([None, "Vorname", "Nachname", "Telefon"])  # data starting in column B, row 2
    b.append([None, "Jonas", "Beispiel", 4930123456])
    b.cell(3, 4).number_format = '"+"00 00 000000'
    path = tmp_path / "sheets.xlsx"
    wb.save(path)
    parsed = read_file(path)
    assert [dict(r.cells) for r in parsed.rows] == [
        {"First Name": "Ann", "Last Name": "Lee", "Mobile": "07700 900123", "Phone 2": "020 7946 0958"},
        {"Vorname": "Jonas", "Nachname": "Beispiel", "Telefon": "+49 30 123456"},
    ]
    leads = standardize_rows(parsed.rows)
    # a phone column comes before a mobile one (rules/standardize.py); the mobile goes to remarks
    assert [lead.fields["phone"] for lead in leads] == ["02079460958", "+4930123456"]
    assert leads[0].fields["remarks"] == "mobile: 07700900123"


def test_xls_phone_number_formats(tmp_path):
    xlwt = pytest.importorskip("xlwt")
    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("Leads")
    for c, h in enumerate(["Email", "Phone", "Fax"]):
        ws.write(0, c, h)
    for r, (number, code, _, _) in enumerate(PHONES, start=1):
        ws.write(r, 0, f"p{r}@example.com")
        ws.write(r, 1, number, xlwt.easyxf(num_format_str=code))
        ws.write(r, 2, 1234, xlwt.easyxf(num_format_str="00000"))
    path = tmp_path / "formats.xls"
    wb.save(str(path))
    parsed = read_file(path)
    assert [dict(r.cells)["Phone"] for r in parsed.rows] == [p[2] for p in PHONES]
    assert {dict(r.cells)["Fax"] for r in parsed.rows} == {"01234"}
    assert [lead.fields["phone"] for lead in standardize_rows(parsed.rows)] == [p[3] for p in PHONES]


def _zip_sheet(tmp_path: Path, sheet_xml: str) -> zipfile.ZipFile:
    path = tmp_path / "part.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("xl/worksheets/sheet1.xml", sheet_xml)
        zf.writestr("xl/styles.xml", (
            '<x:styleSheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            '<x:numFmts count="2"><x:numFmt numFmtId="170" formatCode="00000000000"/>'
            '<x:numFmt numFmtId="171" formatCode="0.00"/></x:numFmts>'
            '<x:cellXfs count="3"><x:xf numFmtId="0"/><x:xf numFmtId="171"/><x:xf numFmtId="170"/></x:cellXfs>'
            '</x:styleSheet>'))
    return zipfile.ZipFile(path)


def test_styled_cells_found_whatever_the_attribute_order_or_prefix(tmp_path):
    xml = ('<x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><x:sheetData>'
           '<x:row r="2"><x:c t="n" s="2" r="B2"><x:v>7700900456</x:v></x:c>'
           '<x:c r="C2"\n s="2"><x:v>1</x:v></x:c><x:c r="D2" s="2" t="s"><x:v>0</x:v></x:c>'
           '<x:c r="E2" s="1"><x:v>5</x:v></x:c></x:row></x:sheetData></x:worksheet>')
    zf = _zip_sheet(tmp_path, xml)
    styles = xlsx_display_styles(zf)
    assert list(styles) == [2]  # "0.00" pads nothing: not looked for
    assert xlsx_styled_cells(zf, "xl/worksheets/sheet1.xml", styles) == {(2, 1): 2, (2, 2): 2}
    assert xlsx_styled_cells(zf, "xl/worksheets/sheet1.xml", styles, {1}) == {(2, 1): 2}
    # a cell without its r reference: positions unknown, the caller keeps the plain digits
    zf = _zip_sheet(tmp_path, '<worksheet><sheetData><row><c s="2"><v>1</v></c></row></sheetData></worksheet>')
    assert xlsx_styled_cells(zf, "xl/worksheets/sheet1.xml", [2]) is None


def test_styled_cells_across_chunk_boundaries(tmp_path, monkeypatch):
    import easycrm_pipeline.parsing.cell_formats as cf

    monkeypatch.setattr(cf, "CHUNK_BYTES", 37)
    rows = "".join(f'<row r="{r}"><c r="A{r}" s="2" t="n"><v>{r}</v></c><c r="B{r}" t="n"><v>1</v></c></row>'
                   for r in range(1, 200))
    zf = _zip_sheet(tmp_path, f"<worksheet><sheetData>{rows}</sheetData></worksheet>")
    assert cf.xlsx_styled_cells(zf, "xl/worksheets/sheet1.xml", [2]) == {(r, 0): 2 for r in range(1, 200)}


def test_50k_rows_with_formatted_phone_columns_stay_fast(tmp_path):
    header = ["First Name", "Last Name", "Company", "Title", "Email", "Phone", "Mobile", "City", "Country", "Notes"]
    rows = [header] + [[f"F{i}", f"L{i}", f"Co {i % 300}", "Buyer", f"u{i}@example.com", 2079460000 + i,
                        447700900000 + i, "London", "UK", f"note {i}"] for i in range(50_000)]
    path = write_fast_xlsx(tmp_path / "big_formats.xlsx", {"Leads": rows},
                           number_formats={5: "00000000000", 6: '"+"00 0000 000000'})
    started = time.process_time()
    parsed = read_file(path)
    elapsed = time.process_time() - started
    assert len(parsed.rows) == 50_000
    assert dict(parsed.rows[-1].cells)["Phone"] == "02079509999"
    assert dict(parsed.rows[-1].cells)["Mobile"] == "+44 7700 949999"
    assert elapsed < 6.0, f"50k x 10 XLSX with formatted phones took {elapsed:.2f}s (target 3 s)"
