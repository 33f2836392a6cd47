"""What the UI shows on a ``lead_files`` partition: each dropped file as a materialization of the external asset
(size, sha256, sheets, rows, when seen, where it is kept), logged by ``parse_file`` once the file was read.

Without it ``lead_files`` looked empty ("0% filled", no metadata) although every partition was a file.
"""
from __future__ import annotations

import time

import dagster as dg

from easycrm_pipeline.dropzone.files import KeptFile
from easycrm_pipeline.models import ParsedFile


def sheets_text(parsed: ParsedFile) -> str:
    """One line per file: ``"Leads: 33 rows; Notes: skipped (no lead header)"`` (CSV: ``"csv: 12 rows"``)."""
    parts = []
    for sheet in parsed.sheets:
        name = sheet.name or "csv"
        detail = f"{sheet.rows} rows" if sheet.status == "leads" else sheet.status
        if sheet.reason:
            detail += f" ({sheet.reason})"
        parts.append(f"{name}: {detail}")
    return "; ".join(parts)


def lead_file_materialization(
    partition_key: str, kept: KeptFile | None, parsed: ParsedFile
) -> dg.AssetMaterialization:
    """The ``lead_files`` partition's materialization for a file just read.

    Metadata: ``size_bytes``, ``sha256``, ``kept_as`` (path or s3 URL of the kept copy) when it was kept,
    ``sheets`` (see :func:`sheets_text`), ``sheet_count``, ``rows`` (non-blank data rows), ``lead_rows``,
    ``encoding`` / ``delimiter`` for text files, ``seen_at`` (UTC timestamp).
    """
    metadata: dict = {
        "sheets": sheets_text(parsed),
        "sheet_count": len(parsed.sheets),
        "rows": parsed.rows_read,
        "lead_rows": parsed.lead_rows,
        "seen_at": dg.MetadataValue.timestamp(kept.kept_at if kept else time.time()),
    }
    if kept is not None:
        metadata["size_bytes"] = kept.size
        metadata["sha256"] = kept.sha256
        s3 = kept.location.startswith("s3://")
        metadata["kept_as"] = dg.MetadataValue.url(kept.location) if s3 else dg.MetadataValue.path(kept.location)
    if parsed.encoding:
        metadata["encoding"] = parsed.encoding
    if parsed.delimiter:
        metadata["delimiter"] = repr(parsed.delimiter)
    return dg.AssetMaterialization(
        asset_key="lead_files",
        partition=partition_key,
        description=f"{parsed.file_name}: {parsed.rows_read} rows in {len(parsed.sheets)} sheet(s)",
        metadata=metadata,
    )
