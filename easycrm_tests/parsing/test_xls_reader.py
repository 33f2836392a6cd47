"""Real BIFF8 ``.xls`` workbooks (written with xlwt, read through calamine): several sheets, a title row above the
header, phones stored as numbers, dates, a hidden sheet, non-ASCII text."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

xlwt = pytest.importorskip("xlwt")

from easycrm_pipeline.parsing import FileRejected, read_file  # noqa: E402
from easycrm_pipeline.rules import standardize_rows  # noqa: E402

DATE = xlwt.easyxf(num_format_str="DD/MM/YYYY")
DATETIME = xlwt.easyxf(num_format_str="DD/MM/YYYY HH:MM")


def _write(ws, r: int, values: list[object]) -> None:
    for c, v in enumerate(values):
        if v is None:
            continue
        if isinstance(v, dt.datetime):
            ws.write(r, c, v, DATETIME)
        elif isinstance(v, dt.date):
            ws.write(r, c, v, DATE)
        else:
            ws.write(r, c, v)


def _workbook(path: Path) -> Path:
    wb = xlwt.Workbook(encoding="utf-8")
    leads = wb.add_sheet("Leads Q3")
    leads.write_merge(0, 0, 0, 5, "Lead list – Q3 (export)")
    _write(leads, 2, ["First Name", "Last Name", "Company", "Email", "Phone", "Met on"])
    _write(leads, 3, ["Zoë", "ÅNGSTRÖM", "Café Müller GmbH", "zoe@example.de", 447700900123, dt.date(2024, 3, 5)])
    _write(leads, 4, ["JOSÉ", "NÚÑEZ", "Łódź Sp. z o.o.", "jose@example.es", 7700900456.0,
                      dt.datetime(2024, 3, 6, 14, 30)])
    _write(leads, 5, ["Ann", "Lee", "Lee Ltd", "ann@example.com", "+44 20 7946 0958", None])
    _write(leads, 6, ["Bob", "Ray", None, "bob@example.com", "0044 20 7946 0000", "n/a"])
    notes = wb.add_sheet("Read me")
    notes.write(0, 0, "Bring these to the Monday meeting, please.")
    wb.add_sheet("Empty")
    emea = wb.add_sheet("EMEA")
    _write(emea, 0, ["Vorname", "Nachname", "E-Mail", "Telefon"])
    _write(emea, 1, ["Jürgen", "Größe", "jg@example.de", "+49 30 1234567"])
    archive = wb.add_sheet("Archive")
    _write(archive, 0, ["Email", "Name"])
    _write(archive, 1, ["old@example.com", "Old Lead"])
    archive.visibility = 1  # hidden
    wb.save(str(path))
    return path


def test_xls_all_sheets_title_row_numbers_and_dates(tmp_path):
    path = _workbook(tmp_path / "legacy.xls")
    assert path.read_bytes()[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # a real OLE2/BIFF file
    parsed = read_file(path)
    assert parsed.encoding is None
    assert [(s.name, s.status, s.reason, s.header_row) for s in parsed.sheets] == [
        ("Leads Q3", "leads", None, 3),
        ("Read me", "skipped", "no header", None),
        ("Empty", "skipped", "empty", None),
        ("EMEA", "leads", None, 1),
        ("Archive", "skipped", "hidden sheet (policy)", None),
    ]
    assert [r.row_id for r in parsed.rows] == ["0:4", "0:5", "0:6", "0:7", "3:2"]
    assert dict(parsed.rows[0].cells) == {
        "First Name": "Zoë", "Last Name": "ÅNGSTRÖM", "Company": "Café Müller GmbH", "Email": "zoe@example.de",
        "Phone": "447700900123", "Met on": "2024-03-05"}
    assert dict(parsed.rows[1].cells)["Phone"] == "7700900456"  # no ".0"
    assert dict(parsed.rows[1].cells)["Met on"] == "2024-03-06T14:30:00"
    assert parsed.rows[0].sheet == "Leads Q3"
    leads = standardize_rows(parsed.rows)
    assert [(lead.fields["firstName"], lead.fields["lastName"], lead.fields["company"], lead.fields["email"],
             lead.fields["phone"]) for lead in leads] == [
        ("Zoë", "Ångström", "Café Müller GmbH", "zoe@example.de", "447700900123"),
        ("José", "Núñez", "Łódź Sp. z o.o.", "jose@example.es", "7700900456"),
        ("Ann", "Lee", "Lee Ltd", "ann@example.com", "+442079460958"),
        ("Bob", "Ray", None, "bob@example.com", "+442079460000"),
        ("Jürgen", "Größe", None, "jg@example.de", "+49301234567"),
    ]
    assert "Met on: 2024-03-05" in (leads[0].fields["remarks"] or "")


def test_xls_hidden_sheet_read_on_request_and_misnamed_xls(tmp_path):
    path = _workbook(tmp_path / "legacy.xls")
    parsed = read_file(path, include_hidden=True)
    assert [r.row_id for r in parsed.rows][-1] == "4:2"
    # an .xls saved under a .csv name is still read as a workbook (format by content)
    misnamed = tmp_path / "legacy.csv"
    misnamed.write_bytes(path.read_bytes())
    assert len(read_file(misnamed).rows) == 5
    # ... and under an .xlsx name (an old workbook renamed): not mistaken for a password-protected one
    renamed = tmp_path / "legacy.xlsx"
    renamed.write_bytes(path.read_bytes())
    assert len(read_file(renamed).rows) == 5


def test_truncated_xls_is_refused_in_one_line(tmp_path):
    data = _workbook(tmp_path / "legacy.xls").read_bytes()
    broken = tmp_path / "broken.xls"
    broken.write_bytes(data[: len(data) // 3])
    with pytest.raises(FileRejected, match=r"^corrupt \.xls: "):
        read_file(broken)
