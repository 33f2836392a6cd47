"""Excel 2003 "XML Spreadsheet" files saved as ``.xls`` (issue 15: what CRMs' "export to Excel" write)."""
from __future__ import annotations

from pathlib import Path

import pytest

from easycrm_pipeline.parsing import FileRejected, read_file
from easycrm_pipeline.rules import standardize_rows

XML = """<?xml version="1.0"?>
<?mso-application progid="Excel.Sheet"?>
<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"
 xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet">
 <Worksheet ss:Name="Contacts">
  <Table>
   <Row><Cell ss:MergeAcross="2"><Data ss:Type="String">CRM export</Data></Cell></Row>
   <Row><Cell><Data ss:Type="String">First Name</Data></Cell><Cell><Data ss:Type="String">Email</Data></Cell>
        <Cell><Data ss:Type="String">Phone</Data></Cell><Cell><Data ss:Type="String">Company</Data></Cell></Row>
   <Row><Cell><Data ss:Type="String">Zoë</Data></Cell><Cell><Data ss:Type="String">zoe@example.de</Data></Cell>
        <Cell><Data ss:Type="Number">4930123456.0</Data></Cell><Cell><Data ss:Type="String">IKEA</Data></Cell></Row>
   <Row ss:Index="5"><Cell><Data ss:Type="String">Bob</Data></Cell>
        <Cell ss:Index="3"><Data ss:Type="String">0301234567</Data></Cell></Row>
  </Table>
 </Worksheet>
 <Worksheet ss:Name="Empty"><Table/></Worksheet>
</Workbook>
"""


def test_xml_spreadsheet_saved_as_xls_is_read(tmp_path: Path):
    path = tmp_path / "export.xls"
    path.write_text(XML, encoding="utf-8")
    parsed = read_file(path)
    assert [(s.name, s.status, s.header_row) for s in parsed.sheets] == [
        ("Contacts", "leads", 2), ("Empty", "skipped", None)]
    assert [dict(r.cells) for r in parsed.rows] == [
        {"First Name": "Zoë", "Email": "zoe@example.de", "Phone": "4930123456", "Company": "IKEA"},
        {"First Name": "Bob", "Email": "", "Phone": "0301234567", "Company": ""}]
    assert [r.row_number for r in parsed.rows] == [3, 5]
    leads = standardize_rows(parsed.rows)
    assert [(x.fields["firstName"], x.fields["phone"], x.fields["company"]) for x in leads] == [
        ("Zoë", "4930123456", "IKEA"), ("Bob", "0301234567", None)]


def test_broken_xml_spreadsheet_is_refused(tmp_path: Path):
    path = tmp_path / "broken.xls"
    path.write_text(XML[: len(XML) // 2], encoding="utf-8")
    with pytest.raises(FileRejected, match="^corrupt XML spreadsheet: "):
        read_file(path)
