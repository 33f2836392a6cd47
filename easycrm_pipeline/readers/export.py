"""CSV export of the leads table (the seeds' lead exporter), streamed in bounded memory.

* Columns (the seeds' exporter, in order): :data:`EXPORT_COLUMNS` (11, docs/contracts.md#export-file); with
  ``all_columns`` (``easycrm export --all-columns``) :data:`ALL_EXPORT_COLUMNS`: the same 11, then
  ``sourceWorksheet,sourceRow``.
* Encoding: UTF-8 with a BOM (``utf-8-sig``) so Excel detects UTF-8; ``\\r\\n`` line ends (RFC 4180).
* Timestamps: ISO-8601 UTC text as the store returns them (``2026-11-29T18:31:10.123456Z``).
* Formula injection: a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return - also when blanks
  come first (spaces, LF, NBSP, zero-width spaces: :func:`neutralize_cell`) - is prefixed with a single quote, so
  spreadsheet programs show it as text instead of evaluating it (OWASP "CSV Injection",
  https://owasp.org/www-community/attacks/CSV_Injection).
* Memory: leads come from ``LeadStore.iter_leads`` chunk by chunk and are written as they arrive; the export never
  holds the whole table.
"""
from __future__ import annotations

import csv
import io
import os
import sys
import tempfile
from pathlib import Path
from typing import Iterable, TextIO

from easycrm_pipeline.fields import EXPORT_FIELDS, UNEXPORTED_FIELDS
from easycrm_pipeline.rules.text import FORMULA_TRIGGERS, neutralize_cell
from easycrm_pipeline.store.base import LEAD_COLUMNS

#: Output names whose extension promises another format than the CSV written (Excel would refuse the file).
OTHER_FORMATS = (".xlsx", ".xlsm", ".xlsb", ".xltx", ".xltm", ".xls", ".ods", ".tsv", ".json", ".parquet", ".xml",
                 ".html")
#: The output name that means standard output (``easycrm export -``).
STDOUT = "-"

#: The default export's columns, in order: ``leadId``, the exported lead fields (``fields.EXPORT_FIELDS``), then
#: ``sourceFile, createdAt, updatedAt`` — with today's fields the seeds' 11 (the old system's exporter;
#: docs/contracts.md#export-file).
EXPORT_COLUMNS: tuple[str, ...] = ("leadId", *EXPORT_FIELDS, "sourceFile", "createdAt", "updatedAt")
#: ``--all-columns``: the default columns in their order, then where in its file the lead was last written, then the
#: lead fields declared ``export=False`` (none today).
ALL_EXPORT_COLUMNS: tuple[str, ...] = EXPORT_COLUMNS + ("sourceWorksheet", "sourceRow", *UNEXPORTED_FIELDS)
assert set(ALL_EXPORT_COLUMNS) <= set(LEAD_COLUMNS)

class ExportError(ValueError):
    """The export cannot be written where asked (missing folder, a folder given as file, no permission, one of the
    lead store's own files)."""


def store_files(db_path: str | os.PathLike | None) -> tuple[Path, ...]:
    """The files of a DuckDB lead store at ``db_path``: the database, DuckDB's write-ahead log ``<db>.wal`` and the
    store's lock file ``<db>.lock`` (``store.duckdb_store``). ``None`` -> ``()``."""
    if db_path is None or str(db_path).strip() == "":
        return ()
    db = Path(db_path)
    return (db, db.with_name(db.name + ".wal"), db.with_name(db.name + ".lock"))


def _same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name the same file: equal once resolved (symlinks, ``..``, relative paths), or the
    same inode when both exist (hard links)."""
    try:
        if a.resolve() == b.resolve():
            return True
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output_path(path: str | os.PathLike, store_path: str | os.PathLike | None = None) -> Path:
    """Validate where an export goes: the parent folder must exist and be writable, the name must not promise another
    format (:data:`OTHER_FORMATS`: ``leads.xlsx`` holding CSV is refused by Excel), the path must not be a folder,
    a device or a pipe (the file is written next to it and renamed over it, which would replace the device) nor one
    of the lead store's files (``store_path``: the DuckDB file, e.g. ``EASYCRM_DB``; its ``.wal`` and
    ``.lock`` too, :func:`store_files`) - writing there would replace every lead with CSV text.

    Returns:
        The path as a ``Path``.

    Raises:
        ExportError: with a one-line reason.
    """
    out = Path(path)
    if str(path).strip() == "":
        raise ExportError("no output file given")
    if out.is_dir():
        raise ExportError(f"{out} is a folder; give a file name such as {out / 'leads.csv'}")
    if out.suffix.lower() in OTHER_FORMATS:
        raise ExportError(f"{out.name}: the export is CSV, not {out.suffix}; give a .csv name (Excel opens it)")
    if out.exists() and not out.is_file():  # a FIFO, /dev/null, /dev/stdout: the atomic rename would replace it
        raise ExportError(f"{out} is not a regular file (a device or pipe); give a file name such as leads.csv")
    for protected in store_files(store_path):
        if _same_file(out, protected):
            raise ExportError(f"{out} is the lead store's own file ({protected.name}); give another file name "
                              "such as leads.csv")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.exists():
        raise ExportError(f"output folder {parent} does not exist")
    if not parent.is_dir():
        raise ExportError(f"{parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError(f"output folder {parent} is not writable")
    return out


def write_leads_csv(
    leads: Iterable[dict], path: str | os.PathLike, columns: tuple[str, ...] = EXPORT_COLUMNS,
    store_path: str | os.PathLike | None = None,
) -> int:
    """Write ``leads`` (an iterable of lead dicts, consumed once) to ``path`` as the export CSV.

    The file is written to a temporary file in the same folder and renamed into place at the end, so a reader
    never sees a half-written export and a failed export leaves the previous file intact.

    Args:
        leads: lead dicts with (at least) the keys of ``columns``; missing keys export empty.
        path: the output file; its folder must exist.
        columns: the header and cells, in order (default :data:`EXPORT_COLUMNS`).
        store_path: the lead store's DuckDB file, never written over (see :func:`check_output_path`).

    Returns:
        The number of data rows written (the header not counted).

    Raises:
        ExportError: the path is not writable or is a store file (see :func:`check_output_path`).
    """
    out = check_output_path(path, store_path)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=str(out.parent or "."))
    try:
        with os.fdopen(fd, "w", encoding="utf-8-sig", newline="") as fh:
            rows = write_csv_rows(leads, fh, columns)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return rows


def write_csv_rows(leads: Iterable[dict], fh: TextIO, columns: tuple[str, ...] = EXPORT_COLUMNS) -> int:
    """Write the header ``columns`` and one CSV row per lead dict to the open text file ``fh`` (CRLF line ends,
    formula-like cells neutralized by :func:`neutralize_cell`). Returns the number of data rows written."""
    writer = csv.writer(fh, lineterminator="\r\n")
    writer.writerow(columns)
    rows = 0
    for lead in leads:
        cells = []
        for column in columns:
            value = lead.get(column)
            if value is None:
                cells.append("")
            elif isinstance(value, str) and value[:1].isalnum():  # hot loop: most cells are plain text
                cells.append(value)
            else:
                cells.append(neutralize_cell(value))
        writer.writerow(cells)
        rows += 1
    return rows

def _write_stdout(leads: Iterable[dict], columns: tuple[str, ...]) -> int:
    """:func:`write_csv_rows` to standard output in UTF-8 whatever the locale's encoding (a cp1252 console would
    fail on the first lead it cannot encode)."""
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # a text-only stream (tests): written as it is
        return write_csv_rows(leads, sys.stdout, columns)
    out = io.TextIOWrapper(buffer, encoding="utf-8", newline="")
    try:
        return write_csv_rows(leads, out, columns)
    finally:
        out.flush()
        out.detach()  # leave sys.stdout's buffer open


def export_leads(
    store, path: str | os.PathLike, query=None, *, chunk_size: int = 1000, all_columns: bool = False
) -> int:
    """Export the leads matching ``query`` (a ``LeadQuery``; ``None`` = all, newest first) from ``store``.

    Columns: :data:`EXPORT_COLUMNS` (the seeds' 11), or :data:`ALL_EXPORT_COLUMNS` with ``all_columns``.

    Streams through ``store.iter_leads(query, chunk_size)``; page/page_size of the query are ignored. ``path``
    :data:`STDOUT` (``-``) writes the CSV to standard output (UTF-8, no BOM), the Unix convention.

    Returns:
        The number of leads written.

    Raises:
        ExportError: bad output path, or one of the store's own files (checked before the store is read).
        StoreLockTimeout: the store stayed locked.
    """
    columns = ALL_EXPORT_COLUMNS if all_columns else EXPORT_COLUMNS
    if isinstance(path, str) and path == STDOUT:  # the name as typed: Path("./-") is a file named "-"
        return _write_stdout(store.iter_leads(query, chunk_size=chunk_size, columns=columns), columns)
    store_path = getattr(store, "path", None)  # a DuckDB store's file (DynamoDB has none)
    check_output_path(path, store_path)
    return write_leads_csv(store.iter_leads(query, chunk_size=chunk_size, columns=columns), path, columns,
                           store_path)


__all__ = ["ALL_EXPORT_COLUMNS", "EXPORT_COLUMNS", "FORMULA_TRIGGERS", "ExportError", "STDOUT", "check_output_path", "export_leads",
           "neutralize_cell", "store_files", "write_csv_rows", "write_leads_csv"]
