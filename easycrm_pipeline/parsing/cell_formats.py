"""Number formats of workbook cells, looked up only where a phone (or another number with leading zeros) may hide
behind one.

python-calamine gives a cell's number but not its number format, so a phone stored as the number ``7700900456`` with
the custom format ``00000000000`` (Excel's way to show the leading ``0``) would read ``7700900456``. This module finds
the formats the workbook defines, and the style of the few cells that need it:

* ``.xlsx``/``.xlsm`` (ECMA-376 Part 1): ``xl/styles.xml`` — ``cellXfs/xf@numFmtId`` (18.8.10, 18.8.45) ->
  ``numFmts/numFmt@formatCode`` (18.8.30, 18.8.31); the cell's ``s`` attribute (18.3.1.4 ``c``) is the index into
  ``cellXfs``. The sheet part is found through ``xl/workbook.xml`` (``sheet@r:id``) and its relationships.
  The sheet XML is streamed in chunks and only ``<c>`` tags whose ``s`` is one of the relevant styles are looked at
  (a regular expression on the bytes: no tree is built).
* ``.xls`` (BIFF8): ``xlrd`` with ``formatting_info`` (XF and FORMAT records); the workbook globals are read first
  (``on_demand``), a sheet only when the workbook defines a relevant format.

Only formats that can change how a whole number reads count
(:func:`~easycrm_pipeline.parsing.numfmt.display_relevant`): zero padding or literal text. Everything here is best
effort: a part that cannot be read leaves the plain digits.
"""
from __future__ import annotations

import posixpath
import re
import zipfile
from pathlib import Path
from typing import Iterable, Iterator
from xml.etree import ElementTree as ET

from .numfmt import NumberFormat, display_relevant

_REL_NS_SUFFIX = "/relationships"
#: Cell types holding a number (no ``t``, or ``t="n"``); ``s``/``str``/``inlineStr``/``b``/``e``/``d`` are not.
_NUMERIC_TYPES = (None, b"", b"n")
CHUNK_BYTES = 4 * 1024 * 1024


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def col_index(letters: str | bytes) -> int:
    """``"A"`` -> 0, ``"AB"`` -> 27 (the column part of an A1 reference)."""
    if isinstance(letters, bytes):
        letters = letters.decode("ascii")
    n = 0
    for ch in letters:
        n = n * 26 + (ord(ch) - 64)
    return n - 1


def xlsx_display_styles(zf: zipfile.ZipFile) -> dict[int, NumberFormat]:
    """``{cellXfs index: format}`` for the styles whose number format is a display-relevant custom format.

    Empty when the workbook has no ``xl/styles.xml``, no custom ``numFmt`` or none that pads or adds literals.
    """
    try:
        data = zf.read("xl/styles.xml")
    except KeyError:
        return {}
    if b"numFmt " not in data and b"numFmt\n" not in data and b":numFmt" not in data:
        return {}
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return {}
    custom: dict[int, NumberFormat] = {}
    xfs: list[int] = []
    for el in root:
        name = _local(el.tag)
        if name == "numFmts":
            custom.update(_custom_formats(el))
        elif name == "cellXfs":
            xfs.extend(_int_or(xf.get("numFmtId", "0"), 0) for xf in el)
    return {i: custom[fid] for i, fid in enumerate(xfs) if fid in custom}


def _int_or(text: str, default: int | None) -> int | None:
    try:
        return int(text)
    except ValueError:
        return default


def _custom_formats(num_fmts: ET.Element) -> dict[int, NumberFormat]:
    """``{numFmtId: format}`` of a ``<numFmts>`` element's display-relevant formats (entries without a valid id are
    skipped)."""
    out: dict[int, NumberFormat] = {}
    for nf in num_fmts:
        fid = _int_or(nf.get("numFmtId", ""), None)
        fmt = display_relevant(nf.get("formatCode", "")) if fid is not None else None
        if fmt is not None:
            out[fid] = fmt
    return out


def xlsx_sheet_parts(zf: zipfile.ZipFile) -> dict[str, str]:
    """``{sheet name: part path in the zip}`` from ``xl/workbook.xml`` and ``xl/_rels/workbook.xml.rels``."""
    try:
        wb = ET.fromstring(zf.read("xl/workbook.xml"))
        rels = ET.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ET.ParseError):
        return {}
    targets: dict[str, str] = {}
    for rel in rels:
        rid, target = rel.get("Id"), rel.get("Target")
        if rid and target:
            targets[rid] = target.lstrip("/") if target.startswith("/") else posixpath.normpath("xl/" + target)
    out: dict[str, str] = {}
    for el in wb.iter():
        if _local(el.tag) != "sheet":
            continue
        rid = next((v for k, v in el.attrib.items() if k.endswith(_REL_NS_SUFFIX + "}id")), None)
        name = el.get("name")
        if name is not None and rid in targets:
            out[name] = targets[rid]
    return out


def xlsx_styled_cells(
    zf: zipfile.ZipFile, part: str, styles: Iterable[int], columns: set[int] | None = None
) -> dict[tuple[int, int], int] | None:
    """``{(row number 1-based, column 0-based): style}`` for the numeric cells whose style is one of ``styles``
    (only in ``columns`` when given), streamed from the sheet part in chunks of :data:`CHUNK_BYTES`.

    Each chunk is first matched with the attribute order Excel, openpyxl and most writers use
    (``<c r="B2" s="3" t="n">``); when that finds fewer cells than the chunk has ``s="<style>"`` attributes (another
    attribute order, a namespace prefix, line breaks), the chunk is matched again with an order-free pattern.

    Returns ``None`` when the part cannot be read or a matching cell has no ``r`` reference (positions unknown).
    """
    ids = sorted(set(styles))
    if not ids or columns is not None and not columns:
        return {}
    alt = b"|".join(str(i).encode() for i in ids)
    fast = re.compile(rb'<c r="([A-Z]{1,3})(\d+)" s="(' + alt + rb')"(?: t="(\w+)")?')
    free = re.compile(rb'<(?:[A-Za-z_][\w.-]*:)?c\s(?=[^>]*?\bs="(' + alt + rb')")'
                      rb'(?:(?=[^>]*?\br="([A-Z]{1,3})(\d+)"))?(?:(?=[^>]*?\bt="(\w+)"))?')
    needles = [b's="' + str(i).encode() + b'"' for i in ids]
    out: dict[tuple[int, int], int] = {}

    def take(letters: bytes, row: bytes, style: bytes, typ: bytes | None) -> None:
        if typ not in _NUMERIC_TYPES:
            return
        col = col_index(letters)
        if columns is None or col in columns:
            out[(int(row), col)] = int(style)

    try:
        with zf.open(part) as fh:
            for buf in _tag_aligned_chunks(fh):
                cells = _chunk_cells(buf, fast, free, needles)
                if cells is None:
                    return None
                for letters, row, style, typ in cells:
                    take(letters, row, style, typ or None)
    except (KeyError, OSError, zipfile.BadZipFile, EOFError):
        return None
    return out


def _tag_aligned_chunks(fh) -> Iterator[bytes]:
    """The stream in pieces of about :data:`CHUNK_BYTES`, each cut before its last ``<`` (no tag split in two)."""
    rest = b""
    while True:
        chunk = fh.read(CHUNK_BYTES)
        buf = rest + chunk
        if not chunk:
            yield buf
            return
        cut = buf.rfind(b"<")
        if cut <= 0:
            rest = buf
            continue
        yield buf[:cut]
        rest = buf[cut:]


def _chunk_cells(buf: bytes, fast: re.Pattern, free: re.Pattern,
                 needles: list[bytes]) -> list[tuple[bytes, bytes, bytes, bytes]] | None:
    """``(column letters, row, style, type)`` of the styled cells in ``buf``: the ``fast`` pattern when it finds as
    many cells as there are style attributes, else the order-free one; ``None`` when a cell has no ``r``."""
    found = fast.findall(buf)
    if len(found) == sum(buf.count(n) for n in needles):
        return found
    cells = []
    for style, letters, row, typ in free.findall(buf):
        if not letters:
            return None
        cells.append((letters, row, style, typ))
    return cells


class XlsFormats:
    """Display-relevant number formats of one ``.xls`` workbook through xlrd (BIFF XF + FORMAT records).

    Open once per workbook; :attr:`relevant` is empty (and no sheet is ever parsed) when the workbook defines no
    display-relevant format.
    """

    def __init__(self, path: Path) -> None:
        self.book = None
        self.relevant: dict[int, NumberFormat] = {}
        try:
            import xlrd

            self._xlrd = xlrd
            self.book = xlrd.open_workbook(str(path), formatting_info=True, on_demand=True,
                                           logfile=_NullLog(), verbosity=0)
        except Exception:  # xlrd refuses some files calamine reads: keep the plain digits
            self.book = None
            return
        fmts = {key: display_relevant(f.format_str or "") for key, f in self.book.format_map.items()}
        for i, xf in enumerate(self.book.xf_list):
            fmt = fmts.get(xf.format_key)
            if fmt is not None:
                self.relevant[i] = fmt

    def styled_cells(self, sheet_name: str, cells: Iterable[tuple[int, int]]) -> dict[tuple[int, int], NumberFormat]:
        """``{(row number 1-based, column 0-based): format}`` for those of ``cells`` that are numbers with a
        display-relevant format."""
        if not self.relevant or self.book is None:
            return {}
        try:
            sheet = self.book.sheet_by_name(sheet_name)
        except Exception:
            return {}
        out: dict[tuple[int, int], NumberFormat] = {}
        for row, col in cells:
            r = row - 1
            try:
                if sheet.cell_type(r, col) != self._xlrd.XL_CELL_NUMBER:
                    continue
                fmt = self.relevant.get(sheet.cell_xf_index(r, col))
            except IndexError:
                continue
            if fmt is not None:
                out[(row, col)] = fmt
        return out

    def close(self) -> None:
        """Release the workbook (xlrd keeps the file's bytes)."""
        if self.book is not None:
            try:
                self.book.release_resources()
            except Exception:  # pragma: no cover - best effort
                pass
            self.book = None


class _NullLog:
    def write(self, *_args) -> None:  # xlrd prints warnings to its logfile
        pass


__all__ = ["XlsFormats", "col_index", "xlsx_display_styles", "xlsx_sheet_parts", "xlsx_styled_cells"]
