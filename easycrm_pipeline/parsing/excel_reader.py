"""Excel reader (.xlsx/.xlsm/.xlsb/.ods via zip, .xls via OLE2) on python-calamine (Rust ``calamine``), all sheets.

Before opening, a zip workbook's central directory is checked: the sum of the members' uncompressed sizes must stay
under a limit (zip bombs), and the workbook part must exist. Every cell becomes text with :func:`cell_to_text`.

Rows are streamed (:func:`stream_workbook`, issue 13): sheet after sheet, each loaded into calamine only when the rows
reach it and dropped after it; calamine itself reads a sheet whole (python-calamine has no lazier reader), so one
sheet's cells are held, never the file's ``RawRow`` list.

Phones stored as numbers behind a display format (``00000000000``, ``"+"0``…): calamine gives no number formats, so
when the workbook defines a custom format that pads with zeros or adds literal text, the cells carrying it are found
(:mod:`.cell_formats`: the sheet XML streamed for those styles only; xlrd for ``.xls``) and their whole numbers become
the text Excel shows (:mod:`.numfmt`; phone/mobile columns of :mod:`easycrm_pipeline.rules.headers` without thousands
separators). A workbook without such a format pays one small ``styles.xml`` read (``.xls``: its globals).
"""
from __future__ import annotations

import itertools
import re
import zipfile
import zlib
from pathlib import Path
from typing import Iterable, Iterator

import python_calamine as pc

from ..models import ParsedFile, RawRow, SheetReport
from ..rules.headers import header_role
from ..rules.sensitive import excel_rounded_card, redaction
from .cell_formats import XlsFormats, col_index, xlsx_display_styles, xlsx_sheet_parts, xlsx_styled_cells
from .cells import cell_to_text
from .errors import EMPTY, ENCRYPTED, HEADER_ONLY, FileRejected, no_header
from .numfmt import NumberFormat
from .table import SheetResult, iter_sheet

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
#: For :func:`_value_cells`: a cell element (any prefix; its attributes, and its content unless self-closing), its
#: ``r`` reference, and a value inside it (``<v>`` or an inline string ``<is>``).
_CELL = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c(?=[\s/>])([^>]*?)(/>|>(.*?)</(?:[A-Za-z_][\w.-]*:)?c>)", re.S)
_CELL_REF = re.compile(rb'\br="\$?([A-Z]{1,3})\$?(\d+)"')
_HAS_VALUE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:v|is)[\s>]")
#: For :func:`_range_bound`: a row's start tag (any namespace prefix), its ``r`` attribute, a cell's start tag, and a
#: cell reference of two or three letters (column AA or beyond) wherever ``r`` stands among the attributes.
_ROW_OPEN = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row\b([^>]*)>")
_ROW_NUMBER = re.compile(rb'\sr="(\d+)"')
_CELL_OPEN = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c[\s/>]")
_WIDE_REF = re.compile(rb'<(?:[A-Za-z_][\w.-]*:)?c\s[^>]*?\br="\$?([A-Z]{2,3})\$?\d')
_PLAIN_ROW = re.compile(rb'<row r="(\d+)"')
_PLAIN_WIDE_REF = re.compile(rb'<c r="([A-Z]{2,3})\d')
#: Consecutive blank rows after which the rest of a sheet is not read (a stray cell far below the data).
MAX_BLANK_RUN = 1000
#: Lead rows a display format is applied to at once (:meth:`_DisplayFormats.rows`): the block held while streaming.
FORMAT_BLOCK_ROWS = 2000
_WORKBOOK_PARTS = ("xl/workbook.xml", "xl/workbook.bin", "content.xml")
_CARD_REDACTED = redaction("card number")


def check_zip(path: Path, max_unzipped_bytes: int, kind: str = ".xlsx") -> str:
    """Refuse a zip-based workbook that is not a zip, has no workbook part, or expands beyond the limit.

    Returns:
        The workbook part found (``xl/workbook.xml``: Office Open XML, ``xl/workbook.bin``: xlsb, ``content.xml``:
        OpenDocument), whatever the file's name says.

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
    part = next((p for p in _WORKBOOK_PARTS if p in names), None)
    if part is None:
        raise FileRejected(f"corrupt {kind}: no workbook part in the archive (not an Excel workbook)")
    return part


def _sheet_records(sheet: pc.CalamineSheet) -> Iterator[tuple[int, list[str]]]:
    """``(row number, cells as text)``; a number that is a card number Excel rounded to 15 digits
    (:func:`~easycrm_pipeline.rules.sensitive.excel_rounded_card`) is redacted here, where it is still a number."""
    first = sheet.start[0] if sheet.start else 0
    for i, row in enumerate(sheet.iter_rows()):
        if i < first:  # calamine pads the rows above the first used cell: blank, and not the table's blank run
            continue
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
        #: the styled cells of the last .xlsx sheet asked for: ``(sheet name, {(row, col): format})``
        self._sheet_cells: tuple[str, dict[tuple[int, int], NumberFormat]] | None = None

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

    def rows(self, sheet_name: str, first_col: int, rows: Iterable[RawRow]) -> Iterator[RawRow]:
        """``rows`` (one sheet's lead rows) handed on with :meth:`apply` done on blocks of
        :data:`FORMAT_BLOCK_ROWS`; one by one, untouched, when the workbook has no display-relevant format."""
        if not self._load():
            yield from rows
            return
        it = iter(rows)
        while block := list(itertools.islice(it, FORMAT_BLOCK_ROWS)):
            self.apply(sheet_name, first_col, block)
            yield from block

    def apply(self, sheet_name: str, first_col: int, rows: list[RawRow]) -> int:
        """Replace, in ``rows`` (in place; all of one sheet, or a block of its rows), each whole-number cell whose
        number format pads or adds literals with the text Excel shows (``7700900456`` under ``00000000000`` ->
        ``07700900456``). Phone/mobile columns are rendered without thousands separators. ``first_col``: the sheet
        column (0-based) of the rows' first cell. An ``.xlsx`` sheet's styled cells are found once (the sheet part
        streamed on the first block) and kept until another sheet is asked for; an ``.xls`` block's cells are looked
        up one by one.

        Returns the number of cells replaced.
        """
        if not rows or not self._load():
            return 0
        found: dict[tuple[int, int], NumberFormat]
        if self._xls is not None:
            wanted = [(row.row_number, first_col + k) for row in rows
                      for k, (_, v) in enumerate(row.cells) if v and _WHOLE_NUMBER.match(v)]
            found = self._xls.styled_cells(sheet_name, wanted)
        else:
            found = self._xlsx_cells(sheet_name)
        if not found:
            return 0
        phone_cols = {k for k, (h, _) in enumerate(rows[0].cells) if header_role(h)[0] in ("phone", "mobile")}
        replaced = 0
        for i, row in enumerate(rows):
            cells = _shown_cells(row, first_col, found, phone_cols)
            if cells is not None:
                replaced += sum(1 for a, b in zip(cells, row.cells) if a is not b)
                rows[i] = RawRow(row.row_id, row.sheet, row.row_number, tuple(cells))
        return replaced

    def _xlsx_cells(self, sheet_name: str) -> dict[tuple[int, int], NumberFormat]:
        """``{(row number, column): format}`` of the styled numeric cells of one ``.xlsx`` sheet (cached for the
        sheet last asked for)."""
        if self._sheet_cells is None or self._sheet_cells[0] != sheet_name:
            self._sheet_cells = None  # the previous sheet's cells go first
            part = self._parts.get(sheet_name)
            styled = xlsx_styled_cells(self._zip, part, self._styles) if part and self._zip is not None else None
            self._sheet_cells = (sheet_name, {pos: self._styles[st] for pos, st in (styled or {}).items()})
        return self._sheet_cells[1]

    def close(self) -> None:
        self._sheet_cells = None
        if self._zip is not None:
            self._zip.close()
        if self._xls is not None:
            self._xls.close()


def _shown_cells(row: RawRow, first_col: int, found: dict[tuple[int, int], NumberFormat],
                 phone_cols: set[int]) -> list[tuple[str, str]] | None:
    """``row``'s cells with each whole number in ``found`` (by sheet position) as its format shows it (no thousands
    separators in ``phone_cols``); ``None`` when none changes. Unchanged cells are the row's own tuples."""
    cells = None
    for k, (header, value) in enumerate(row.cells):
        fmt = found.get((row.row_number, first_col + k))
        if fmt is None or not _WHOLE_NUMBER.match(value):
            continue
        shown = fmt.render(int(value), grouping=k not in phone_cols)
        shown = shown.strip() if shown else ""
        if shown and shown != value:
            cells = cells or list(row.cells)
            cells[k] = (header, shown)
    return cells


def read_workbook(path: Path, file_name: str, kind: str, include_hidden: bool = False) -> ParsedFile:
    """Read every worksheet of a workbook whole: :func:`stream_workbook` with its rows collected into
    ``parsed.rows`` (``streamed`` 0).

    Raises:
        FileRejected: as :func:`stream_workbook`.
    """
    parsed, rows = stream_workbook(path, file_name, kind, include_hidden)
    parsed.rows = list(rows)
    parsed.streamed = 0
    return parsed


def stream_workbook(path: Path, file_name: str, kind: str,
                    include_hidden: bool = False) -> tuple[ParsedFile, Iterator[RawRow]]:
    """Read every worksheet of a workbook row by row: ``(parsed, rows)`` (issue 13: the rows are never all held).

    ``rows`` yields the lead rows sheet after sheet; a sheet is loaded into calamine only when ``rows`` reaches it
    and dropped after it (at most one sheet's cells held), its report is appended to ``parsed.sheets`` then (skipped
    sheets too, in workbook order), its quarantined rows go to ``parsed.quarantine`` as they are read and
    ``parsed.streamed`` counts the rows yielded. Display formats (:class:`_DisplayFormats`) are applied to blocks of
    :data:`FORMAT_BLOCK_ROWS` rows. The workbook and its format readers are closed when ``rows`` is exhausted or
    closed (a ``rows`` never started leaves the calamine workbook to the garbage collector).

    Args:
        path: the workbook on disk (already checked with :func:`check_zip` for zip formats).
        file_name: the name stored on the result.
        kind: ``".xlsx"`` or ``".xls"``, used in error messages.
        include_hidden: read hidden sheets too (reported with ``hidden=True``); False: skip them, reason
            ``"hidden sheet (policy)"``.

    Raises:
        FileRejected: at once: encrypted / corrupt workbook, a sheet with content too far away
            (:data:`MAX_SHEET_CELLS`); while ``rows`` is consumed: a sheet calamine cannot read; when ``rows`` is
            exhausted: no sheet with a lead header, header rows without data.
    """
    try:
        wb = _open_calamine(path)
    except pc.PasswordError as exc:
        raise FileRejected(ENCRYPTED) from exc
    except Exception as exc:  # CalamineError, ZipError, XmlError...
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "password" in msg.lower() or "encrypt" in msg.lower():
            raise FileRejected(ENCRYPTED) from exc
        raise FileRejected(f"corrupt {kind}: {msg}") from exc
    try:
        plan = _sheet_plan(wb, path, kind, include_hidden)
    except BaseException:
        _close(wb)
        raise
    parsed = ParsedFile(file_name=file_name)
    return parsed, _workbook_rows(wb, plan, parsed, _DisplayFormats(path, kind), kind)


def _open_calamine(path: Path) -> pc.CalamineWorkbook:
    """The calamine workbook of ``path``: read from the file as needed (``from_path``, which picks the format by the
    file's extension), or, when that fails (an ``.xls`` saved as ``.xlsx``…), from the whole file's bytes
    (``from_filelike`` sniffs the content; calamine then holds a copy of the file while the workbook is open).

    Raises:
        python_calamine.PasswordError / CalamineError / OSError: as ``from_filelike`` raises them.
    """
    try:
        return pc.CalamineWorkbook.from_path(str(path))
    except pc.PasswordError:
        raise
    except Exception as exc:  # a format the extension does not name, or a corrupt file: read by content below
        first = exc
    try:
        with open(path, "rb") as fh:
            return pc.CalamineWorkbook.from_filelike(fh)
    except pc.PasswordError:
        raise
    except Exception as exc:
        if "cannot detect file format" in str(exc).lower() and "invalid ole" not in str(first).lower():
            # the content read under its own extension says more ("invalid sheet XML") than the sniffing's, unless
            # the extension's reader was the wrong one (the OLE reader of .xls on a zip: "Invalid OLE signature")
            raise first from None
        raise


def _sheet_plan(wb: pc.CalamineWorkbook, path: Path, kind: str,
                include_hidden: bool) -> list[tuple[int, str, bool, str | None]]:
    """``(index, sheet name, hidden, skip reason or None)`` for every sheet, in workbook order.

    Raises:
        FileRejected: a sheet to read has content too far away (checked on the sheet parts of an ``.xlsx``/``.xlsm``
            before any row is read).
    """
    plan = []
    for index, meta in enumerate(wb.sheets_metadata):
        hidden = meta.visible != pc.SheetVisibleEnum.Visible
        skip = ("not a worksheet" if meta.typ != pc.SheetTypeEnum.WorkSheet
                else HIDDEN_REASON if hidden and not include_hidden else None)
        plan.append((index, meta.name, hidden, skip))
    if kind in _ZIP_XML_KINDS and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            parts = xlsx_sheet_parts(zf)
            for _, name, _, skip in plan:
                far = None if skip else _far_content(zf, parts.get(name), kind)
                if far is not None:
                    raise FileRejected(
                        f"sheet {name!r} has content as far as cell {far[0]} ({far[1]:,} rows x {far[2]:,} "
                        "columns): too large to read; delete the stray content far from the table and save again"
                    )
    return plan


def _workbook_rows(wb: pc.CalamineWorkbook, plan: list[tuple[int, str, bool, str | None]], parsed: ParsedFile,
                   formats: _DisplayFormats, kind: str) -> Iterator[RawRow]:
    """The lead rows of the sheets in ``plan``, one sheet loaded at a time; ``parsed`` completed as they go, the
    file refused at the end when no sheet held leads."""
    try:
        for index, name, hidden, skip in plan:
            if skip is not None:
                parsed.sheets.append(SheetReport(name, "skipped", skip, hidden=hidden))
                continue
            try:
                sheet = wb.get_sheet_by_name(name)
            except pc.PasswordError as exc:
                raise FileRejected(ENCRYPTED) from exc
            except Exception as exc:
                raise FileRejected(f"corrupt {kind}: sheet {name!r}: {exc}") from exc
            start = sheet.start
            result = SheetResult(SheetReport(name=name, status="skipped", hidden=hidden))
            parsed.sheets.append(result.report)
            rows = iter_sheet(_sheet_records(sheet), result, sheet_index=index, max_blank_run=MAX_BLANK_RUN)
            for row in formats.rows(name, start[1] if start else 0, rows):
                parsed.streamed += 1
                yield row
            parsed.quarantine.extend(result.quarantine)
            del sheet, rows, result  # this sheet's calamine cells go before the next sheet is loaded
    finally:
        formats.close()
        _close(wb)
    _refuse_unless_leads(parsed)


def _close(wb: pc.CalamineWorkbook) -> None:
    try:
        wb.close()
    except Exception:  # pragma: no cover - close is best effort (already closed)
        pass


def _refuse_unless_leads(parsed: ParsedFile) -> None:
    """Raise the workbook's one-line refusal when no sheet gave a lead or quarantined row.

    Raises:
        FileRejected: header rows without data, every sheet empty, data only on hidden sheets, no lead header.
    """
    if parsed.streamed or parsed.rows or parsed.quarantine:
        return
    reasons = [s.reason for s in parsed.sheets]
    if HEADER_ONLY in reasons:
        raise FileRejected(HEADER_ONLY)
    if all(r == "empty" for r in reasons):
        raise FileRejected(EMPTY)
    if all(r in ("empty", HIDDEN_REASON) for r in reasons):
        raise FileRejected("only hidden sheets hold data (hidden sheets are skipped by policy)")
    raise FileRejected(no_header([s.first_row for s in parsed.sheets]))


def _far_content(zf: zipfile.ZipFile, part: str | None, kind: str = ".xlsx") -> tuple[str, int, int] | None:
    """``(cell, rows, columns)`` of the farthest cell WITH content when a sheet's used range exceeds
    :data:`MAX_SHEET_CELLS`, else None.

    The ``<dimension>`` element (first bytes of the sheet part) is read first; when it claims more than the limit, or
    when it claims less but :func:`_range_bound` (it may be missing or false) does not, the part is streamed for
    cells holding a value (formatted-only cells, which calamine ignores, do not count). calamine allocates the
    whole range: a value in XFD1048576 under a missing ``<dimension>`` aborted the process.

    Raises:
        FileRejected: the part is damaged (bad CRC, broken deflate data): ``corrupt <kind>: sheet part ...``.
    """
    if not part:
        return None
    try:
        return _scan_far_content(zf, part)
    except KeyError:
        return None
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:  # a damaged part: refused in one line
        raise FileRejected(f"corrupt {kind}: sheet part {part}: {exc}") from exc


def _range_bound(zf: zipfile.ZipFile, part: str) -> int:
    """An upper bound of a sheet part's rows x columns, whatever its ``<dimension>`` says: the largest row (its ``r``,
    or the one after the previous row when it has none) times the widest row (its widest cell reference, or its
    number of cells when they carry no reference), in any XML spelling (``x:``-prefixed elements, ``r`` after other
    attributes). What Excel and most writers produce is read with fixed-prefix searches (:func:`_plain_bound`);
    any other spelling row by row (:func:`_row_spans`)."""
    bound = _plain_bound(zf, part)
    if bound is not None:
        return bound
    max_row = most_cells = 0
    widest = b""
    for row, data, begin, end in _row_spans(zf, part, 1 << 20):
        max_row = max(max_row, row)
        most_cells = max(most_cells, len(_CELL_OPEN.findall(data, begin, end)))
        widest = max([widest, *_WIDE_REF.findall(data, begin, end)], key=lambda ref: (len(ref), ref))
    return max_row * max(col_index(widest) + 1 if widest else 26, most_cells)


def _plain_bound(zf: zipfile.ZipFile, part: str) -> int | None:
    """:func:`_range_bound` of a part without a namespace prefix whose every row and cell has ``r`` as its first
    attribute (Excel, openpyxl: ~1.2 s for the 120 MB part of a 200,000-row sheet), 1 MB at a time; ``None`` as soon
    as a chunk is spelled otherwise."""
    max_row = 0
    widest = b""
    with zf.open(part) as fh:
        tail = b""
        while chunk := fh.read(1 << 20):
            data = tail + chunk
            whole = data[:data.rfind(b">") + 1]  # a tag cut by the read is judged in the next one
            if (b":row" in whole or b":c " in whole
                    or whole.count(b'<row r="') != whole.count(b"<row ") + whole.count(b"<row>")
                    or whole.count(b'<c r="') != whole.count(b"<c ") + whole.count(b"<c>")):
                return None
            numbers = _PLAIN_ROW.findall(data)
            max_row = max(max_row, max(map(int, numbers))) if numbers else max_row
            widest = max([widest, *set(_PLAIN_WIDE_REF.findall(data))], key=lambda ref: (len(ref), ref))
            tail = data[-256:]
    return max_row * (col_index(widest) + 1 if widest else 26)


def _row_spans(zf: zipfile.ZipFile, part: str, chunk_size: int) -> Iterator[tuple[int, bytes, int, int]]:
    """``(row number, data, begin, end)`` for every row element of a sheet part, any namespace prefix: the row's
    number (its ``r``, or the one after the previous row) and where its content lies in ``data`` (a read of
    ``chunk_size`` bytes plus the row carried over from the read before)."""
    row = 0
    with zf.open(part) as fh:
        carry = b""
        while True:
            chunk = fh.read(chunk_size)
            data = carry + chunk
            starts = list(_ROW_OPEN.finditer(data))
            complete = starts if not chunk else starts[:-1]  # the last row may go on in the next read
            for k, m in enumerate(complete):
                number = _ROW_NUMBER.search(m.group(1))
                row = int(number.group(1)) if number else row + 1
                yield row, data, m.end(), starts[k + 1].start() if k + 1 < len(starts) else len(data)
            if not chunk:
                return
            carry = data[starts[-1].start():] if starts else b""


def _scan_far_content(zf: zipfile.ZipFile, part: str) -> tuple[str, int, int] | None:
    """:func:`_far_content` reading the part (KeyError: no such part; zip errors as ``zipfile`` raises them)."""
    with zf.open(part) as fh:
        head = fh.read(4096)
    dim = _DIMENSION.search(head)
    claimed = (col_index(dim.group(3)) + 1) * int(dim.group(4)) if dim and dim.group(3) else 0
    # a missing <dimension>, or one that understates the range (some writers put "A1"), is not trusted: the cheap
    # bound of the rows and columns referenced decides whether the cells must be looked at one by one
    if claimed <= MAX_SHEET_CELLS and _range_bound(zf, part) <= MAX_SHEET_CELLS:
        return None
    max_row = max_col = 0
    far = ""
    for row, col in _value_cells(zf, part):
        max_row, max_col = max(max_row, row), max(max_col, col)
        if row * col >= max_row * max_col:
            far = f"{_col_letters(col)}{row}"
    if max_row * max_col > MAX_SHEET_CELLS:
        return far, max_row, max_col
    return None


def _value_cells(zf: zipfile.ZipFile, part: str) -> Iterator[tuple[int, int]]:
    """``(row, column)`` (1-based) of every cell of a sheet part holding a value (``<v>`` or an inline string;
    formatted-only cells, which calamine ignores, are left out), in any XML spelling: ``x:``-prefixed elements,
    ``r`` anywhere among the attributes, or no ``r`` (the position after the previous row / cell)."""
    for row, data, begin, end in _row_spans(zf, part, 1 << 22):
        col = 0
        for cell in _CELL.finditer(data, begin, end):
            ref = _CELL_REF.search(cell.group(1))
            col = col_index(ref.group(1)) + 1 if ref else col + 1
            if cell.group(3) and _HAS_VALUE.search(cell.group(3)):
                yield (int(ref.group(2)) if ref else row), col


def _col_letters(col: int) -> str:
    """``1`` -> ``"A"``, ``28`` -> ``"AB"``, ``16384`` -> ``"XFD"`` (the inverse of ``col_index`` + 1)."""
    letters = ""
    while col:
        col, rest = divmod(col - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


__all__ = ["check_zip", "read_workbook", "stream_workbook", "HIDDEN_REASON", "MAX_BLANK_RUN", "MAX_SHEET_CELLS"]
