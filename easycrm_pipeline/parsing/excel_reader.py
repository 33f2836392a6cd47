"""Excel reader (.xlsx/.xlsm/.xlsb/.ods via zip, .xls via OLE2) on python-calamine (Rust ``calamine``), all sheets.

Before opening, a zip workbook's central directory is checked: the sum of the members' uncompressed sizes must stay
under a limit (zip bombs), and the workbook part must exist. Every cell becomes text with :func:`cell_to_text`.
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Iterator

import python_calamine as pc

from ..models import ParsedFile, SheetReport
from .cells import cell_to_text
from .errors import EMPTY, ENCRYPTED, HEADER_ONLY, NO_HEADER, FileRejected
from .table import build_sheet

HIDDEN_REASON = "hidden sheet (policy)"
#: Consecutive blank rows after which the rest of a sheet is not read (a stray cell far below the data).
MAX_BLANK_RUN = 1000
_WORKBOOK_PARTS = ("xl/workbook.xml", "xl/workbook.bin", "content.xml")


def check_zip(path: Path, max_unzipped_bytes: int, kind: str = ".xlsx") -> None:
    """Refuse a zip-based workbook that is not a zip, has no workbook part, or expands beyond the limit.

    Raises:
        FileRejected: ``"corrupt .xlsx: ..."``, ``"xlsx expands to more than N MB (zip bomb?)"``.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise FileRejected(f"corrupt {kind}: not a valid zip archive ({exc})") from exc
    total = sum(i.file_size for i in infos)
    if total > max_unzipped_bytes:
        raise FileRejected(f"xlsx expands to more than {max_unzipped_bytes // (1024 * 1024)} MB (zip bomb?)")
    names = {i.filename for i in infos}
    if not any(p in names for p in _WORKBOOK_PARTS):
        raise FileRejected(f"corrupt {kind}: no workbook part in the archive (not an Excel workbook)")


def _sheet_records(sheet: pc.CalamineSheet) -> Iterator[tuple[int, list[str]]]:
    for i, row in enumerate(sheet.iter_rows()):
        yield i + 1, [cell_to_text(v) for v in row]


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
            try:
                sheet = wb.get_sheet_by_name(meta.name)
            except pc.PasswordError as exc:
                raise FileRejected(ENCRYPTED) from exc
            except Exception as exc:
                raise FileRejected(f"corrupt {kind}: sheet {meta.name!r}: {exc}") from exc
            result = build_sheet(_sheet_records(sheet), sheet=meta.name, sheet_index=index, hidden=hidden,
                                 max_blank_run=MAX_BLANK_RUN)
            parsed.sheets.append(result.report)
            parsed.rows.extend(result.rows)
            parsed.quarantine.extend(result.quarantine)
    finally:
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
        raise FileRejected(NO_HEADER)
    return parsed


__all__ = ["check_zip", "read_workbook", "HIDDEN_REASON", "MAX_BLANK_RUN"]
