"""Excel's "XML Spreadsheet 2003" saved as ``.xls`` (another frequent CRM "export to Excel"): a ``<Workbook>`` in the
``urn:schemas-microsoft-com:office:spreadsheet`` namespace, one ``<Worksheet ss:Name>`` per sheet, ``<Row>`` /
``<Cell ss:Index>`` / ``<Data>``. Read with the standard library's ElementTree (expat refuses entity expansion
bombs); cells are text as written (numbers as Excel wrote them: integral values without ``.0``).
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ..models import ParsedFile
from .errors import EMPTY, HEADER_ONLY, FileRejected, no_header
from .table import build_sheet

NS = "urn:schemas-microsoft-com:office:spreadsheet"
_Q = "{" + NS + "}"
_MARK = re.compile(rb"<Workbook\b[^>]*urn:schemas-microsoft-com:office:spreadsheet", re.IGNORECASE)
_INTEGRAL = re.compile(r"^-?\d+\.0+$")


def looks_like_xml_spreadsheet(data: bytes) -> bool:
    """True when ``data`` starts like an XML document holding an Excel 2003 XML ``<Workbook>``."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"<?xml") and bool(_MARK.search(data[:65536]))


def _rows(table: ET.Element) -> list[tuple[int, list[str]]]:
    out: list[tuple[int, list[str]]] = []
    number = 0
    for row in table.iter(_Q + "Row"):
        index = row.get(_Q + "Index")
        number = int(index) if index and index.isdigit() else number + 1
        cells: list[str] = []
        for cell in row.findall(_Q + "Cell"):
            at = cell.get(_Q + "Index")
            if at and at.isdigit() and int(at) - 1 > len(cells):
                cells.extend([""] * (int(at) - 1 - len(cells)))
            data = cell.find(_Q + "Data")
            text = "".join(data.itertext()) if data is not None else ""
            if data is not None and data.get(_Q + "Type") == "Number" and _INTEGRAL.match(text):
                text = text.split(".")[0]
            cells.append(text)
            across = cell.get(_Q + "MergeAcross")
            if across and across.isdigit():
                cells.extend([""] * min(int(across), 100))
        out.append((number, cells))
    return out


def read_xml_spreadsheet_bytes(data: bytes, file_name: str) -> ParsedFile:
    """Read every worksheet of an XML Spreadsheet 2003 file into a :class:`ParsedFile`.

    Raises:
        FileRejected: not well-formed XML (``"corrupt XML spreadsheet: …"``), no rows, no lead header, header only.
    """
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise FileRejected(f"corrupt XML spreadsheet: {exc}") from exc
    parsed = ParsedFile(file_name=file_name)
    for index, sheet in enumerate(root.iter(_Q + "Worksheet")):
        name = sheet.get(_Q + "Name") or f"Sheet{index + 1}"
        table = sheet.find(_Q + "Table")
        result = build_sheet(_rows(table) if table is not None else [], sheet=name, sheet_index=index)
        parsed.sheets.append(result.report)
        parsed.rows.extend(result.rows)
        parsed.quarantine.extend(result.quarantine)
    if not parsed.rows and not parsed.quarantine:
        reasons = [s.reason for s in parsed.sheets]
        if not reasons or all(r == "empty" for r in reasons):
            raise FileRejected(EMPTY)
        if HEADER_ONLY in reasons:
            raise FileRejected(HEADER_ONLY)
        raise FileRejected(no_header([s.first_row for s in parsed.sheets]))
    return parsed


__all__ = ["looks_like_xml_spreadsheet", "read_xml_spreadsheet_bytes"]
