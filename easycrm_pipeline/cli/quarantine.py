"""``easycrm quarantine FILE [--json]``: the rows of FILE's latest import that did not become leads, with their
reasons (the rows of the rejected-rows CSV, ``readers.rejected``), from the configured store.

``--json`` prints ``{"file", "total", "rows": [{"sheet", "row", "reason", "firstName", "lastName", "email",
"rawRow"}]}``, sorted by sheet then row. Exit code 0 (no rows is not an error: it says so).
"""
from __future__ import annotations

import click
from rich.table import Table

from easycrm_pipeline.cli.app import json_option, print_json, show_table
from easycrm_pipeline.config import get_settings
from easycrm_pipeline.readers.rejected import COLUMNS, RETRY_HINT, rejected_rows
from easycrm_pipeline.store import get_store


@click.command("quarantine", help="rows of FILE's latest import that did not become leads, with their reasons")
@click.argument("file", metavar="FILE")
@json_option
def quarantine_command(file: str, as_json: bool) -> int:
    """FILE: the file name as ingested (``easycrm status`` lists them)."""
    rows = rejected_rows(get_store(get_settings()).quarantine_rows(file))
    if as_json:
        print_json({"file": file, "total": len(rows), "rows": rows})
        return 0
    if not rows:
        print(f"{file}: no rows in the quarantine")
        return 0
    table = Table(title=f"{file}: {len(rows)} rejected row(s)")
    for column in COLUMNS:
        table.add_column(column)
    for row in rows:
        table.add_row(*(row[c] for c in COLUMNS))
    show_table(table)
    print(RETRY_HINT)
    return 0
