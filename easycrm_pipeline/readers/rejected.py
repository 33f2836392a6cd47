"""A file's rejected rows as a CSV for sales ops (the failed-rows file Salesforce's and HubSpot's importers hand back).

Built from the store's quarantine table (``LeadStore.quarantine_rows``), never from a run's internals. One line per
quarantined row, sorted by sheet then row: ``sheet``, ``row``, ``reason`` (once), ``firstName``, ``lastName``,
``email`` (read from the raw row through the header aliases of :mod:`easycrm_pipeline.rules.headers`), then
``rawRow`` (the row's cells as ``Header: value`` pairs joined by ``" | "``). UTF-8 with BOM, as the leads export,
so Excel opens it; cells Excel would run as formulas are neutralized the same way.
"""
from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from easycrm_pipeline.readers.export import neutralize_cell
from easycrm_pipeline.rules.headers import header_role

#: Columns of the rejected-rows CSV, in order.
COLUMNS = ("sheet", "row", "reason", "firstName", "lastName", "email", "rawRow")
#: How to retry, shown next to the file's link.
RETRY_HINT = (
    "Fix these rows in the original file and drop it into the inbox again (or `easycrm ingest FILE`); rows that "
    "become leads leave the quarantine, rows already stored are not written twice."
)


def reason_once(reason: str) -> str:
    """``reason`` with a repeated leading part said once: ``"X: X: detail"`` -> ``"X: detail"``."""
    parts = [p.strip() for p in (reason or "").split(": ")]
    out: list[str] = []
    for part in parts:
        if not out or part != out[-1]:
            out.append(part)
    return ": ".join(out)


def _names_and_email(raw: dict[str, Any]) -> tuple[str, str, str]:
    """``(firstName, lastName, email)`` as written in the raw row (first column of each role; Full Name split on its
    last space when there is no first/last column)."""
    found: dict[str, str] = {}
    for header, value in raw.items():
        if header.startswith("_") or value in (None, ""):
            continue
        role, _number = header_role(str(header))
        if role in ("firstName", "lastName", "fullName", "email") and role not in found:
            found[role] = str(value).strip()
    first, last = found.get("firstName", ""), found.get("lastName", "")
    if not (first or last) and found.get("fullName"):
        first, _, last = found["fullName"].rpartition(" ")
        if not first:
            first, last = last, ""
    return first, last, found.get("email", "")


def _raw_text(raw: dict[str, Any]) -> str:
    if set(raw) == {"_line"}:
        return str(raw["_line"])
    return " | ".join(f"{k}: {v}" for k, v in raw.items() if not str(k).startswith("_") and v not in (None, ""))


def _safe(cell: Any) -> str:
    """One cell made inert in spreadsheets: the leads export's rule (``readers.export.neutralize_cell``)."""
    return neutralize_cell(cell)


def rejected_rows(quarantine: Iterable[dict[str, Any]]) -> list[dict[str, str]]:
    """The CSV's lines (dicts keyed by :data:`COLUMNS`) for quarantine rows as the store returns them
    (``sheet``, ``row``, ``reason``, ``rawRow`` dict), sorted by sheet (CSV files: none) then row number."""
    lines = []
    for q in quarantine:
        raw = q.get("rawRow") or {}
        if isinstance(raw, str):
            import json

            try:
                raw = json.loads(raw)
            except ValueError:
                raw = {"_line": raw}
        first, last, email = _names_and_email(raw)
        lines.append(
            {
                "sheet": q.get("sheet") or "",
                "row": "" if q.get("row") is None else str(q["row"]),
                "reason": reason_once(q.get("reason") or ""),
                "firstName": first,
                "lastName": last,
                "email": email,
                "rawRow": _raw_text(raw),
            }
        )
    return sorted(lines, key=lambda r: (r["sheet"], int(r["row"]) if r["row"].isdigit() else 0))


def write_rejected_csv(quarantine: Iterable[dict[str, Any]], path: Path) -> int:
    """Write the rejected-rows CSV to ``path`` (folder created); returns the number of rows written."""
    lines = rejected_rows(quarantine)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for line in lines:
            writer.writerow([_safe(line[c]) for c in COLUMNS])
    tmp.replace(path)
    return len(lines)


#: Longest stem kept in a rejected-rows CSV's name (ASCII characters): with the hash, run id, suffix and ``.tmp``
#: the name stays far below the 255-byte file-name limit of ext4/APFS/NTFS (``NAME_MAX``), whatever the source file
#: (an S3 key's file name may have up to 1,024 bytes).
MAX_STEM_CHARS = 100


def rejected_csv_path(export_file: Path, source_file: str, run_id: str) -> Path:
    """``<export folder>/rejected/<file stem>-<run id[:8]>-rejected.csv`` (file name made filesystem-safe: runs of
    characters other than ``A-Za-z0-9._-`` become ``_``). A stem longer than :data:`MAX_STEM_CHARS` is cut there and
    followed by ``_`` + the first 8 hex digits of the SHA-256 of ``source_file``, so the name never exceeds 255 bytes
    and two long names sharing their beginning still get two files."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(source_file).stem) or "file"
    if len(stem) > MAX_STEM_CHARS:
        digest = hashlib.sha256(source_file.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        stem = f"{stem[:MAX_STEM_CHARS]}_{digest}"
    return export_file.parent / "rejected" / f"{stem}-{run_id[:8]}-rejected.csv"
