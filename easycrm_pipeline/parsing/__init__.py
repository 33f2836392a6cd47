"""File readers: one lead file (CSV in any common encoding/delimiter, XLSX/XLSM/XLS/ODS with several sheets) ->
:class:`~easycrm_pipeline.models.ParsedFile` of text-only rows.

Public API: :func:`read_file`, :func:`stream_file` (the same, rows handed on one by one), :class:`FileRejected`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from ..models import ParsedFile, RawRow
from .csv_reader import decode_bytes, read_csv_bytes, sniff_delimiter, stream_csv_bytes
from .errors import EMPTY, ENCRYPTED, FileRejected
from .excel_reader import HIDDEN_REASON, check_zip, stream_workbook
from .html_reader import looks_like_html_table, read_html_bytes
from .xml_spreadsheet_reader import looks_like_xml_spreadsheet, read_xml_spreadsheet_bytes

__all__ = ["FileRejected", "read_file", "stream_file", "decode_bytes", "sniff_delimiter", "HIDDEN_REASON"]

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
_ENCRYPTION_INFO = "EncryptionInfo".encode("utf-16-le")
_OOXML_EXT = (".xlsx", ".xlsm", ".xltx", ".xltm", ".xlsb", ".xlam")
_EXCEL_EXT = (*_OOXML_EXT, ".xls", ".ods")
_MB = 1024 * 1024


def _mb(n: int) -> str:
    return f"{n / _MB:.1f}"


def read_file(
    path: Path,
    file_name: str | None = None,
    max_bytes: int = 100 * _MB,
    include_hidden: bool = False,
    max_unzipped_bytes: int | None = None,
) -> ParsedFile:
    """Read one lead file.

    The format is decided by content, not by the name: a zip (``PK``) is an OOXML/ODS workbook, an OLE2 compound file
    (``D0 CF 11 E0``) is an ``.xls`` — or, named ``.xlsx``/``.xlsm``, an encrypted OOXML workbook (Office wraps
    password-protected workbooks in OLE2) — an HTML page holding a ``<table>`` (a CRM's "Excel" export) is read by
    :mod:`.html_reader`, an Excel 2003 XML Spreadsheet by :mod:`.xml_spreadsheet_reader` — anything else is
    delimited text.

    Args:
        path: the file on disk.
        file_name: name stored as ``ParsedFile.file_name`` (the leads' ``sourceFile``); default ``path.name``.
        max_bytes: size limit (``EASYCRM_MAX_FILE_MB``); larger files are refused before reading.
        include_hidden: read hidden Excel sheets too; default False (skipped, reported ``hidden=True``, reason
            ``"hidden sheet (policy)"``).
        max_unzipped_bytes: limit on the uncompressed size of a zip workbook; default ``10 * max_bytes``
            (at least 200 MB).

    Returns:
        :class:`~easycrm_pipeline.models.ParsedFile`: ``rows`` (lead candidates, sheet then row order; every cell
        text), ``quarantine`` (footers, repeated headers…), ``sheets`` (one report per sheet), ``encoding`` and
        ``delimiter`` for text files.

    Raises:
        FileRejected: empty, binary, too large, encrypted, corrupt, zip bomb, no lead header, header only.
        OSError: the file cannot be opened.
    """
    parsed, rows = stream_file(path, file_name, max_bytes, include_hidden, max_unzipped_bytes)
    if parsed.streamed or not parsed.rows:
        parsed.rows = list(rows)
        parsed.streamed = 0
    return parsed


def stream_file(
    path: Path,
    file_name: str | None = None,
    max_bytes: int = 100 * _MB,
    include_hidden: bool = False,
    max_unzipped_bytes: int | None = None,
) -> tuple[ParsedFile, Iterator[RawRow]]:
    """:func:`read_file` handing the lead rows on one by one: ``(parsed, rows)``.

    Delimited text and workbooks are streamed (issue 13): ``parsed.rows`` stays empty and ``rows`` is lazy; the
    quarantine, sheet reports and ``streamed`` count are complete once ``rows`` is exhausted (a workbook's
    ``parsed.sheets`` grows as ``rows`` reaches each sheet, only one sheet is loaded at a time:
    :func:`.excel_reader.stream_workbook`), and a file without lead rows raises then. HTML tables and XML
    spreadsheets are read whole (``parsed`` as :func:`read_file` gives it) and ``rows`` iterates ``parsed.rows``.

    Raises:
        FileRejected / OSError: as :func:`read_file`. Size, emptiness, encryption, a corrupt or oversized zip and
            a workbook sheet with content too far away raise at once; for delimited text and workbooks, the
            "no lead rows" refusals (and a workbook sheet calamine cannot read) only when ``rows`` is consumed.
    """
    path = Path(path)
    name = file_name or path.name
    size = path.stat().st_size
    if size > max_bytes:
        raise FileRejected(
            f"file is {_mb(size)} MB, over the {max_bytes / _MB:g} MB limit (EASYCRM_MAX_FILE_MB)"
        )
    if size == 0:
        raise FileRejected(EMPTY)
    with open(path, "rb") as fh:
        head = fh.read(8)
    ext = Path(name).suffix.lower()
    if head.startswith(_ZIP_MAGIC):
        limit = max_unzipped_bytes if max_unzipped_bytes is not None else max(10 * max_bytes, 200 * _MB)
        kind = ext if ext in _OOXML_EXT or ext == ".ods" else ".xlsx"
        if check_zip(path, limit, kind) == "xl/workbook.xml" and kind in (".xlsb", ".ods"):
            kind = ".xlsx"  # an .xlsx saved under another workbook's name: its display formats are read as such
        return stream_workbook(path, name, kind, include_hidden)
    if head.startswith(_OLE2_MAGIC):
        # Office wraps a password-protected OOXML workbook in an OLE2 file with these streams
        data = path.read_bytes()
        if _ENCRYPTED_PACKAGE in data or _ENCRYPTION_INFO in data:
            raise FileRejected(ENCRYPTED)
        # otherwise a legacy BIFF workbook, whatever its name says (an old .xls saved or renamed as .xlsx)
        return stream_workbook(path, name, ".xls", include_hidden)
    data = path.read_bytes()
    if looks_like_html_table(data):
        # an HTML table saved as .xls (many CRMs' "export to Excel"), or any HTML page holding a table
        return _whole(read_html_bytes(data, name))
    if looks_like_xml_spreadsheet(data):
        return _whole(read_xml_spreadsheet_bytes(data, name))  # Excel 2003 "XML Spreadsheet" saved as .xls
    if ext in _EXCEL_EXT:
        # named like a workbook but neither a zip nor an OLE2 file: a renamed CSV still reads; anything else is
        # refused as what it is, not as "no header row" (issue 14)
        try:
            return _whole(read_csv_bytes(data, name))
        except FileRejected as exc:
            raise FileRejected(
                f"not an Excel workbook: {name} is neither a zip (.xlsx/.xlsm) nor an OLE2 (.xls) file, "
                f"and as delimited text: {exc}"
            ) from exc
    return stream_csv_bytes(data, name)


def _whole(parsed: ParsedFile) -> tuple[ParsedFile, Iterator[RawRow]]:
    return parsed, iter(parsed.rows)
