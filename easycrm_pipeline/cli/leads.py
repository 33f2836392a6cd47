"""``easycrm leads [filters] [--page N] [--page-size M]`` and ``easycrm export OUT.csv [filters]``
(docs/contracts.md#command-line, #export-file).

* ``leads``: filtered, paginated leads; ``--json`` prints ``{"leads", "page", "pageSize", "total"}``.
* ``export``: the leads matching the same filters as a CSV (UTF-8 with BOM, the seeds' 11 columns,
  ``--all-columns`` adds ``sourceWorksheet,sourceRow``, formula-injection-safe, streamed); ``--json`` prints
  ``{"path", "rows"}``.

Both read the configured store without creating anything (a missing DuckDB file reads as an empty table).
"""
from __future__ import annotations

import sys
from typing import Any

import click
from rich.table import Table

from easycrm_pipeline.cli.app import UsageError, json_option, lead_filters, paging, print_json, show_table
from easycrm_pipeline.config import get_settings
from easycrm_pipeline.readers.export import STDOUT, ExportError, check_output_path, export_leads
from easycrm_pipeline.store import get_store
from easycrm_pipeline.store.base import LeadQuery, LeadStore

SHOWN_COLUMNS = ("firstName", "lastName", "title", "company", "email", "phone", "sourceFile")


def lead_query(filters: dict[str, Any], **paged: int) -> LeadQuery:
    """The ``LeadQuery`` of ``app.lead_filters``' ``filters``, with ``page``/``page_size`` when given.

    Raises:
        UsageError: an out-of-range page or page size, or an unknown sort field (``LeadQuery``'s ValueError).
    """
    try:
        return LeadQuery(**filters, **paged)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def missing_store_note(store: LeadStore) -> str | None:
    """A one-line note when ``store`` does not exist yet (a DuckDB file or DynamoDB table never created: a typo, or
    nothing ingested yet): reads then see no leads and create nothing."""
    if store.exists():
        return None
    variable = "EASYCRM_DYNAMODB_TABLE" if get_settings().store == "dynamodb" else "EASYCRM_DB"
    return (f"no lead store at {store.location()} yet (nothing ingested there; check {variable}, "
            "or run easycrm ingest / easycrm init-store)")


@click.command("leads", help="filtered, paginated leads")
@lead_filters
@paging
@json_option
def leads_command(filters: dict[str, Any], page: int, page_size: int, as_json: bool) -> int:
    """Print one page of the leads matching ``filters`` (a table, or the ``--json`` document)."""
    query = lead_query(filters, page=page, page_size=page_size)
    store = get_store(get_settings())
    note = missing_store_note(store)
    if note:
        print(f"easycrm leads: {note}", file=sys.stderr)
    rows, total = store.query_leads(query) if note is None else ([], 0)
    if as_json:
        print_json({"leads": rows, "page": query.page, "pageSize": query.page_size, "total": total})
        return 0
    table = Table(title=f"leads: page {query.page}, {len(rows)} of {total}")
    for col in SHOWN_COLUMNS:
        table.add_column(col)
    for r in rows:
        table.add_row(*[str(r.get(c) or "") for c in SHOWN_COLUMNS])
    show_table(table)
    if not rows:
        print("no leads match" if total == 0 else f"page {query.page} is past the last page ({total} leads)")
    return 0


@click.command("export", help="export the (filtered) leads as CSV; OUT.csv '-' writes to standard output")
@click.argument("out", metavar="OUT.csv")
@lead_filters
@click.option("--all-columns", is_flag=True, help="after the seeds' 11 columns, also sourceWorksheet and sourceRow")
@json_option
def export_command(out: str, filters: dict[str, Any], all_columns: bool, as_json: bool) -> int:
    """Write the leads matching ``filters`` to OUT.csv (``-``: standard output); never over the store's own file
    (``EASYCRM_DB``)."""
    query = lead_query(filters)
    settings = get_settings()
    if out == STDOUT:  # the CSV is the output: no summary line mixed into it
        if as_json:
            raise UsageError("export -: the CSV goes to standard output, so --json cannot; give a file name for --json")
        export_leads(get_store(settings), out, query, all_columns=all_columns)
        return 0
    try:
        # EASYCRM_DB is never written over, whichever store is configured (breaker finding 2)
        path = check_output_path(out, settings.db_path)
        rows = export_leads(get_store(settings), path, query, all_columns=all_columns)
    except ExportError as exc:
        raise UsageError(str(exc)) from exc
    doc = {"path": str(path.resolve()), "rows": rows}
    if as_json:
        print_json(doc)
    else:
        print(f"{rows} leads written to {doc['path']}")
    return 0
