"""Excel reader (.xlsx/.xlsm/.xlsb/.ods via zip, .xls via OLE2) on python-calamine (Rust ``calamine``), all sheets.

Before opening, a zip workbook's central directory is checked: the sum of the members' uncompressed sizes must stay
under a limit (zip bombs), and the workbook part must exist. Every cell becomes text with :func:`cell_to_text`.

Phones stored as numbers behind a display format (``00000000000``, ``"+"0``…): calamine gives no number formats, so
when the workbook defines a custom format that pads with zeros or adds literal text, the cells carrying it are found
(:mod:`.cell_formats`: the sheet XML streamed for those styles only; xlrd for ``.xls``) and their whole numbers become
the text Excel shows (:mod:`.numfmt`; phone/mobile columns of :mod:`easycrm_pipeline.rules.headers` without thousands
separators). A workbook without such a format pays one small ``styles.xml`` read (``.xls``: its globals).
"""
from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Iterator

import python_calamine as pc

from ..models import ParsedFile, RawRow, SheetReport
from ..rules.headers import header_role
from ..rules.sensitive import excel_rounded_card, redaction
from .cell_formats import XlsFormats, col_index, xlsx_display_styles, xlsx_sheet_parts, xlsx_styled_cells
from .cells import cell_to_text
from .errors import EMPTY, ENCRYPTED, HEADER_ONLY, FileRejected, no_header
from .numfmt import NumberFormat
from .table import build_sheet

HIDDEN_REASON = "hidden sheet (policy)"
#: A workbook expanding to more than BOMB_MIN_BYTES at more than BOMB_RATIO:1 is refused as a zip bomb even under the
#: absolute limit: Excel's own files compress sheet XML ~5-30:1, deflate's maximum is ~1030:1 (a sheet of zeros).
BOMB_RATIO = 200
BOMB_MIN_BYTES = 100 * 1024 * 1024
#: Cells (rows x columns) of a sheet's used range above which it is not handed to calamine, which allocates the whole
#: rectangle: one value typed in the last cell XFD1048576 is 17 billion cells (the process aborts on a 512 GB
#: allocation). Such a sheet is refused with a reason that names the far cell.
MAX_SHEET_CELLS = 50_000_000
_DIMENSION = re.compile(rb'<dimension ref="\$?([A-Z]{1,3})\$?(\d+)(?::\$?([A-Z]{1,3})\$?(\d+))?"')
#: An OOXML cell with content: ``<c r="B7" ...>`` followed (before ``</c>``) by ``<v>`` or an inline string.
_VALUE_CELL = re.compile(rb'<c r="([A-Z]{1,3})(\d+)"[^>]*>(?:(?!</c>).){0,400}?<(?:v|is)>', re.S)
#: Consecutive blank rows after which the rest of a sheet is not read (a stray cell far below the data).
MAX_BLANK_RUN = 1000
_WORKBOOK_PARTS = ("xl/workbook.xml", "xl/workbook.bin", "content.xml")
_CARD_REDACTED = redaction("card number")


def check_zip(path: Path, max_unzipped_bytes: int, kind: str = ".xlsx") -> None:
    """Refuse a zip-based workbook that is not a zip, has no workbook part, or expands beyond the limit.

    Raises:
        FileRejected: ``"corrupt .xlsx: ..."``, ``"xlsx expands to more than N MB (zip bomb?)"``, ``"xlsx expands
            A MB to B MB (R:1, zip bomb?)"`` (over :data:`BOMB_MIN_BYTES` at more than :data:`BOMB_RATIO`:1).
    """
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise FileRejected(f"corrupt {kind}: not a valid zip archive ({exc})") from exc
    total = sum(i.file_size for i in infos)
    if total > max_unzipped_bytes:
        raise FileRejected(f"xlsx expands to more than {max_unzipped_bytes // (1024 * 1024)} MB (zip bomb?)")
    packed = max(1, sum(i.compress_size for i in infos))
    if total > BOMB_MIN_BYTES and total / packed > BOMB_RATIO:
        raise FileRejected(
            f"xlsx expands {packed / 2**20:.1f} MB to {total / 2**20:.0f} MB ({total / packed:.0f}:1, zip bomb?)"
        )
    names = {i.filename for i in infos}
    if not any(p in names for p in _WORKBOOK_PARTS):
        raise FileRejected(f"corrupt {kind}: no workbook part in the archive (not an Excel workbook)")


def _sheet_records(sheet: pc.CalamineSheet) -> Iterator[tuple[int, list[str]]]:
    """``(row number, cells as text)``; a number that is a card number Excel rounded to 15 digits
    (:func:`~easycrm_pipeline.rules.sensitive.excel_rounded_card`) is redacted here, where it is still a number."""
    for i, row in enumerate(sheet.iter_rows()):
        yield i + 1, [_CARD_REDACTED if excel_rounded_card(v) else cell_to_text(v) for v in row]


_WHOLE_NUMBER = re.compile(r"^-?\d+$")
_ZIP_XML_KINDS = (".xlsx", ".xlsm", ".xltx", ".xltm")


class _DisplayFormats:
    """Recovers the displayed text of whole-number cells behind a display-relevant number format, for one workbook
    (formats read lazily, once)."""

    def __init__(self, path: Path, kind: str) -> None:
        self.path, self.kind = path, kind
        self._loaded = False
        self._zip: zipfile.ZipFile | None = None
        self._styles: dict[int, NumberFormat] = {}
        self._parts: dict[str, str] = {}
        self._xls: XlsFormats | None = None

    def _load(self) -> bool:
        if not self._loaded:
            self._loaded = True
            if self.kind == ".xls":
                self._xls = XlsFormats(self.path)
            elif self.kind in _ZIP_XML_KINDS:
                try:
                    self._zip = zipfile.ZipFile(self.path)
                    self._styles = xlsx_display_styles(self._zip)
                    if self._styles:
                        self._parts = xlsx_sheet_parts(self._zip)
                except (zipfile.BadZipFile, OSError, KeyError):
                    self._styles = {}
        return bool(self._styles) or bool(self._xls and self._xls.relevant)

    def apply(self, sheet_name: str, first_col: int, rows: list[RawRow]) -> int:
        """Replace, in ``rows`` (in place), each whole-number cell whose number format pads or adds literals with
        the text Excel shows (``7700900456`` under ``00000000000`` -> ``07700900456``). Phone/mobile columns are
        rendered without thousands separators. ``first_col``: the sheet column (0-based) of the rows' first cell.

        Returns the number of cells replaced.
        """
        if not rows or not self._load():
            return 0
        by_number = {row.row_number: i for i, row in enumerate(rows)}
        found: dict[tuple[int, int], NumberFormat]
        if self._xls is not None:
            wanted = [(row.row_number, first_col + k) for row in rows
                      for k, (_, v) in enumerate(row.cells) if v and _WHOLE_NUMBER.match(v)]
            found = self._xls.styled_cells(sheet_name, wanted)
        else:
            part = self._parts.get(sheet_name)
            if part is None or self._zip is None:
                return 0
            styled = xlsx_styled_cells(self._zip, part, self._styles)
            found = {pos: self._styles[s] for pos, s in (styled or {}).items()}
        if not found:
            return 0
        phone_cols = {k for k, (h, _) in enumerate(rows[0].cells) if header_role(h)[0] in ("phone", "mobile")}
        changes: dict[int, list[tuple[int, str]]] = {}
        for (row_number, col), fmt in found.items():
            i = by_number.get(row_number)
            k = col - first_col
            if i is None or k < 0 or k >= len(rows[i].cells):
                continue
            value = rows[i].cells[k][1]
            if not _WHOLE_NUMBER.match(value):
                continue
            shown = fmt.render(int(value), grouping=k not in phone_cols)
            shown = shown.strip() if shown else ""
            if shown and shown != value:
                changes.setdefault(i, []).append((k, shown))
        for i, edits in changes.items():
            row = rows[i]
            cells = list(row.cells)
            for k, shown in edits:
                cells[k] = (cells[k][0], shown)
            rows[i] = RawRow(row.row_id, row.sheet, row.row_number, tuple(cells))
        return sum(len(e) for e in changes.values())

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
        if self._xls is not None:
            self._xls.close()


def read_workbook(path: Path, file_name: str, kind: str, include_hidden: bool = False) -> ParsedFile:
    """Read every worksheet of a workbook.

    Args:
        path: the workbook on disk (already checked with :func:`check_zip` for zip formats).
        file_name: the name stored on the result.
        kind: ``".xlsx"`` or ``".xls"``, used in error messages.
        include_hidden: read hidden sheets too (reported with ``hidden=True``); False: skip them, reason
            ``"hidden sheet (policy)"``.

    Raises:
        FileRejected: encrypted / corrupt workbook, no sheet with a lead header, header rows without data.
    """
    try:
        with open(path, "rb") as fh:
            wb = pc.CalamineWorkbook.from_filelike(fh)
    except pc.PasswordError as exc:
        raise FileRejected(ENCRYPTED) from exc
    except Exception as exc:  # CalamineError, ZipError, XmlError...
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "password" in msg.lower() or "encrypt" in msg.lower():
            raise FileRejected(ENCRYPTED) from exc
        raise FileRejected(f"corrupt {kind}: {msg}") from exc

    parsed = ParsedFile(file_name=file_name)
    formats = _DisplayFormats(path, kind)
    zf = zipfile.ZipFile(path) if kind in (".xlsx", ".xlsm") and zipfile.is_zipfile(path) else None
    parts = xlsx_sheet_parts(zf) if zf is not None else {}
    try:
        metas = list(wb.sheets_metadata)
        for index, meta in enumerate(metas):
            hidden = meta.visible != pc.SheetVisibleEnum.Visible
            if meta.typ != pc.SheetTypeEnum.WorkSheet:
                parsed.sheets.append(SheetReport(meta.name, "skipped", "not a worksheet", hidden=hidden))
                continue
            if hidden and not include_hidden:
                parsed.sheets.append(SheetReport(meta.name, "skipped", HIDDEN_REASON, hidden=True))
                continue
            far = _far_content(zf, parts.get(meta.name)) if zf is not None else None
            if far is not None:
                raise FileRejected(
                    f"sheet {meta.name!r} has content as far as cell {far[0]} ({far[1]:,} rows x {far[2]:,} "
                    "columns): too large to read; delete the stray content far from the table and save again"
                )
            try:
                sheet = wb.get_sheet_by_name(meta.name)
            except pc.PasswordError as exc:
                raise FileRejected(ENCRYPTED) from exc
            except Exception as exc:
                raise FileRejected(f"corrupt {kind}: sheet {meta.name!r}: {exc}") from exc
            result = build_sheet(_sheet_records(sheet), sheet=meta.name, sheet_index=index, hidden=hidden,
                                 max_blank_run=MAX_BLANK_RUN)
            start = sheet.start
            formats.apply(meta.name, start[1] if start else 0, result.rows)
            parsed.sheets.append(result.report)
            parsed.rows.extend(result.rows)
            parsed.quarantine.extend(result.quarantine)
    finally:
        formats.close()
        if zf is not None:
            zf.close()
        try:
            wb.close()
        except Exception:  # pragma: no cover - close is best effort
            pass

    if not parsed.rows and not parsed.quarantine:
        reasons = [s.reason for s in parsed.sheets]
        if HEADER_ONLY in reasons:
            raise FileRejected(HEADER_ONLY)
        if all(r == "empty" for r in reasons):
            raise FileRejected(EMPTY)
        if all(r in ("empty", HIDDEN_REASON) for r in reasons):
            raise FileRejected("only hidden sheets hold data (hidden sheets are skipped by policy)")
        raise FileRejected(no_header([s.first_row for s in parsed.sheets]))
    return parsed


def _far_content(zf: zipfile.ZipFile, part: str | None) -> tuple[str, int, int] | None:
    """``(cell, rows, columns)`` of the farthest cell WITH content when a sheet's used range exceeds
    :data:`MAX_SHEET_CELLS`, else None.

    The ``<dimension>`` element (first bytes of the sheet part) is read first; only when it claims more than the
    limit is the part streamed for cells holding a value (formatted-only cells, which calamine ignores, do not count).
    """
    if not part:
        return None
    try:
        with zf.open(part) as fh:
            head = fh.read(4096)
    except KeyError:
        return None
    dim = _DIMENSION.search(head)
    if not dim or not dim.group(3):
        return None
    if (col_index(dim.group(3)) + 1) * int(dim.group(4)) <= MAX_SHEET_CELLS:
        return None
    max_row = max_col = 0
    far = ""
    with zf.open(part) as fh:
        tail = b""
        while True:
            chunk = fh.read(1 << 22)
            if not chunk:
                break
            data = tail + chunk
            end = 0
            for m in _VALUE_CELL.finditer(data):
                row, col = int(m.group(2)), col_index(m.group(1)) + 1
                if row > max_row:
                    max_row = row
                if col > max_col:
                    max_col = col
                if row * col >= max_row * max_col:
                    far = (m.group(1) + m.group(2)).decode()
                end = m.end()
            tail = data[max(end, len(data) - 4096):]
    if max_row * max_col > MAX_SHEET_CELLS:
        return far, max_row, max_col
    return None


__all__ = ["check_zip", "read_workbook", "HIDDEN_REASON", "MAX_BLANK_RUN", "MAX_SHEET_CELLS"]
