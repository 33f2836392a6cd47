"""HTML tables saved under an Excel name (issue 15): many CRMs' "export to Excel" writes an HTML page named ``.xls``
(Excel opens it with a warning). Read with the standard library's :mod:`html.parser` (no lxml / bs4 needed).

Every ``<table>`` is one sheet (``RawRow.sheet`` ``None`` when the page has one table, ``"Table N"`` otherwise);
``<th>``/``<td>`` cells are text (entities decoded, ``<br>`` a line break, whitespace of the markup collapsed), a
``colspan`` adds empty cells and a ``rowspan`` repeats the cell in the rows below, so the columns stay aligned; a
``mailto:`` link keeps its address (``Max <max@example.com>``); a table inside a cell is read as a table of its own.
Header detection, footers and blank rows are :func:`~.table.build_sheet`'s, as for CSV.
"""
from __future__ import annotations

import codecs
import re
from html.parser import HTMLParser
from urllib.parse import unquote

from ..models import ParsedFile
from .csv_reader import decode_bytes
from .errors import EMPTY, HEADER_ONLY, FileRejected, no_header
from .table import build_sheet

_HTML_START = re.compile(rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body|table|meta|style)\b",
                         re.IGNORECASE | re.DOTALL)
_TABLE = re.compile(rb"<table\b", re.IGNORECASE)
_SPACE = re.compile(r"[ \t\r\n\f]+")


def looks_like_html_table(data: bytes) -> bool:
    """True when ``data`` (a file's bytes: UTF-8, an 8-bit encoding, or UTF-16 with its BOM) is an HTML page holding
    a ``<table>``."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # Excel's "Web Page" saved as Unicode text
        head = data[:8192].decode("utf-16", errors="ignore").encode("utf-8")
        return bool(_HTML_START.match(head)) and "<table" in data.decode("utf-16", errors="ignore").lower()
    head = data[:4096].lstrip(b"\xef\xbb\xbf")
    return bool(_HTML_START.match(head)) and bool(_TABLE.search(data))


#: ``<meta charset="...">`` / ``<meta http-equiv="Content-Type" content="text/html; charset=...">`` (HTML Living
#: Standard, "prescan a byte stream to determine its encoding": the first 1024 bytes; we look at 4096).
_META_CHARSET = re.compile(rb"<meta\b[^>]*?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:\-]+)", re.IGNORECASE)


_DETECTED = frozenset({"utf-16", "utf-32", "utf-16-le", "utf-16-be", "ascii", "iso8859-1", "cp1252"})


def decode_html(data: bytes) -> tuple[str, str]:
    """Decode an HTML page: ``(text, encoding)``. A BOM decides; else the charset its ``<meta>`` declares
    (``windows-1251`` for a Russian CRM's export) when the bytes decode strictly with it — unless they are UTF-8
    with non-ASCII characters (a page re-saved as UTF-8 that kept its old declaration); else the CSV reader's
    detection (:func:`~.csv_reader.decode_bytes`).

    Raises:
        FileRejected: binary content (from :func:`~.csv_reader.decode_bytes`).
    """
    m = None if data[:2] in (b"\xff\xfe", b"\xfe\xff") or data.startswith(b"\xef\xbb\xbf") else (
        _META_CHARSET.search(data[:4096]))
    if m:
        try:
            codec = codecs.lookup(m.group(1).decode("ascii"))
        except (LookupError, UnicodeDecodeError):
            codec = None
        # UTF-16/32 without a BOM cannot declare itself in ASCII; Latin-1 / ASCII labels mean windows-1252 (WHATWG
        # Encoding Standard), which the CSV reader's detection decodes (with its cp1251 check)
        if codec is not None and codec.name not in _DETECTED:
            try:
                data.decode("utf-8")
                utf8 = not data.isascii()
            except UnicodeDecodeError:
                utf8 = False
            if not utf8:
                try:
                    return data.decode(codec.name), codec.name
                except UnicodeDecodeError:
                    pass
    return decode_bytes(data)


class _Open:
    """A table being read: its rows, the open row, the open cell's text pieces, its colspan and rowspan, and the
    cells of rows above that span down into the next rows (column -> [text, rows left])."""

    def __init__(self) -> None:
        self.rows: list[list[str]] = []
        self.row: list[str] | None = None
        self.cell: list[str] | None = None
        self.span = 1
        self.rowspan = 1
        self.below: dict[int, list] = {}
        self._filled: set[int] = set()

    def _carry(self, upto: int | None) -> None:
        """Put the cells spanning down from above into the open row at its end while their column comes next (all
        of them, with empty cells between, when ``upto`` is None: the row is closing)."""
        assert self.row is not None
        while True:
            k = len(self.row)
            if k in self.below and k not in self._filled:
                self.row.append(self.below[k][0])
                self._filled.add(k)
            elif upto is None and any(c > k and c not in self._filled for c in self.below):
                self.row.append("")
            else:
                return

    def close_cell(self) -> None:
        if self.cell is None:
            return
        if self.row is None:
            self.row = []
        self._carry(len(self.row))
        # the markup's whitespace is no content; a <br> is a line break
        lines = (_SPACE.sub(" ", part).strip() for part in "".join(self.cell).split("\n"))
        text = "\n".join(line for line in lines if line)
        first = len(self.row)
        self.row.append(text)
        self.row.extend([""] * (self.span - 1))
        if self.rowspan > 1:
            # the value is repeated in the rows below (a company spanning its contacts); colspan cells stay empty
            for k in range(first, first + self.span):
                self.below[k] = [text if k == first else "", self.rowspan]
                self._filled.add(k)
        self.cell, self.span, self.rowspan = None, 1, 1

    def close_row(self) -> None:
        self.close_cell()
        if self.row is not None:
            self._carry(None)
            self.rows.append(self.row)
            for k in list(self.below):
                self.below[k][1] -= 1
                if self.below[k][1] <= 0:
                    del self.below[k]
        self.row = None
        self._filled = set()


def _span(attrs: dict[str, str | None], name: str, limit: int) -> int:
    value = (attrs.get(name) or "1").strip()
    return min(int(value), limit) if value.isdigit() and int(value) > 0 else 1


class _Tables(HTMLParser):
    """Collects every table's rows as lists of cell texts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[str]]] = []
        self._stack: list[_Open] = []
        self._skip = 0  # inside <script>/<style>
        self._mailto: tuple[str, int] | None = None  # address of the open mailto: link, where its text starts

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "table":
            table = _Open()
            self.tables.append(table.rows)
            self._stack.append(table)
        elif not self._stack:
            return
        elif tag == "tr":
            self._stack[-1].close_row()
            self._stack[-1].row = []
        elif tag in ("td", "th"):
            table = self._stack[-1]
            table.close_cell()
            values = dict(attrs)
            table.cell = []
            table.span, table.rowspan = _span(values, "colspan", 100), _span(values, "rowspan", 10_000)
        elif tag == "br":
            self.handle_data("\n")
        elif tag == "a" and self._stack[-1].cell is not None:
            href = (dict(attrs).get("href") or "").strip()
            if href[:7].lower() == "mailto:":
                address = unquote(href[7:].split("?", 1)[0]).strip()
                self._mailto = (address, len(self._stack[-1].cell)) if address else None

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif not self._stack:
            return
        elif tag == "table":
            self._stack.pop().close_row()
        elif tag == "tr":
            self._stack[-1].close_row()
        elif tag in ("td", "th"):
            self._end_link()
            self._stack[-1].close_cell()
        elif tag == "a":
            self._end_link()

    def _end_link(self) -> None:
        """A ``mailto:`` link whose text is not its address (``<a href="mailto:max@x.com">Max</a>``) keeps the
        address: ``Max <max@x.com>``, read by the email rules like any ``Name <address>``."""
        cell = self._stack[-1].cell if self._stack else None
        if self._mailto is None or cell is None:
            self._mailto = None
            return
        address, start = self._mailto
        self._mailto = None
        text = "".join(cell[start:]).strip()
        if address.casefold() not in text.casefold():
            cell.append(f" <{address}>" if text else address)

    def handle_data(self, data: str) -> None:
        if not self._skip and self._stack and self._stack[-1].cell is not None:
            self._stack[-1].cell.append(data)

    def finish(self) -> None:
        """Close what an unterminated page left open."""
        self.close()
        while self._stack:
            self._stack.pop().close_row()


def read_html_bytes(data: bytes, file_name: str) -> ParsedFile:
    """Read the tables of an HTML page into a :class:`ParsedFile` (one sheet report per table).

    Raises:
        FileRejected: no table holds a row (``"file is empty"``), no table has a lead header or content
            (the no-header refusal), or only a header row (``"header only: no data rows"``).
    """
    text, encoding = decode_html(data)
    parser = _Tables()
    parser.feed(text)
    parser.finish()
    tables = [t for t in parser.tables if any(any(c.strip() for c in row) for row in t)]
    if not tables:
        raise FileRejected(EMPTY)
    parsed = ParsedFile(file_name=file_name, encoding=encoding)
    for index, table in enumerate(tables):
        name = None if len(tables) == 1 else f"Table {index + 1}"
        result = build_sheet(((n + 1, row) for n, row in enumerate(table)), sheet=name, sheet_index=index)
        parsed.sheets.append(result.report)
        parsed.rows.extend(result.rows)
        parsed.quarantine.extend(result.quarantine)
    if not parsed.rows and not parsed.quarantine:
        if any(s.reason == HEADER_ONLY for s in parsed.sheets):
            raise FileRejected(HEADER_ONLY)
        raise FileRejected(no_header([s.first_row for s in parsed.sheets]))
    return parsed


__all__ = ["decode_html", "looks_like_html_table", "read_html_bytes"]
