"""``easycrm export``, ``easycrm ask`` and ``easycrm restandardize`` (registered by ``cli.main`` through
``build_parser``).

* ``export OUT.csv [filters]``: the leads matching the same filters as ``easycrm leads`` as a CSV (UTF-8 with BOM,
  the seeds' 11 columns, ``--all-columns`` adds ``sourceWorksheet,sourceRow`` after them, formula-injection-safe, streamed); ``--json`` prints ``{"path", "rows"}``.
* ``ask "QUESTION"``: a validated read-only query (see ``readers.ask``); prints the SQL used and the answer;
  ``--json`` prints ``{"question", "sql", "columns", "rows"}``.
* ``restandardize [--dry-run]``: re-standardize the leads whose standardizer version is stale
  (``pipeline.restandardize``); ``--json`` prints the result dict.

Exit codes: 0 ok; 1 DeepSeek or the query engine failed; 2 bad input or a refused question (one line on stderr).
"""
from __future__ import annotations

import json
import sys
import uuid


def _print_json(doc) -> None:
    print(json.dumps(doc, default=str, ensure_ascii=False))


def _read_store():
    """The configured store WITHOUT creating anything (reads of a missing DuckDB file see an empty table)."""
    from easycrm_pipeline.config import get_settings
    from easycrm_pipeline.store import get_store

    return get_store(get_settings())


# ---------------------------------------------------------------------------------------------------- export
def _cmd_export(args) -> int:
    from easycrm_pipeline.cli.main import UsageError
    from easycrm_pipeline.readers.export import ExportError, check_output_path, export_leads

    from easycrm_pipeline.cli.main import lead_query

    from easycrm_pipeline.config import get_settings

    query = lead_query(args, paged=False)
    try:
        # EASYCRM_DB is never written over, whichever store is configured (breaker finding 2)
        path = check_output_path(args.out, get_settings().db_path)
        rows = export_leads(_read_store(), path, query, all_columns=args.all_columns)
    except ExportError as exc:
        raise UsageError(str(exc)) from exc
    doc = {"path": str(path.resolve()), "rows": rows}
    if args.json:
        _print_json(doc)
    else:
        print(f"{rows} leads written to {doc['path']}")
    return 0


# ---------------------------------------------------------------------------------------------------- ask
def _cmd_ask(args) -> int:
    import duckdb

    from easycrm_pipeline.cli.main import UsageError
    from easycrm_pipeline.config import get_settings
    from easycrm_pipeline.deepseek.errors import DeepSeekError
    from easycrm_pipeline.readers.ask import NeedsDeepSeek, UnsafeQuery, answer
    from easycrm_pipeline.store.base import QueryTimeLimit

    try:
        settings = get_settings()
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    try:
        result = answer(args.question, _read_store(), settings)
    except (UnsafeQuery, NeedsDeepSeek) as exc:
        raise UsageError(str(exc)) from exc
    except DeepSeekError as exc:
        print(f"easycrm ask: DeepSeek: {exc.reason}", file=sys.stderr)
        return 1
    except QueryTimeLimit as exc:
        print(f"easycrm ask: {exc}", file=sys.stderr)
        return 1
    except duckdb.Error as exc:
        print(f"easycrm ask: the query failed: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    if args.json:
        _print_json(result.to_dict())
        return 0
    print(f"SQL: {result.sql}")
    if len(result.rows) == 1 and len(result.columns) == 1:
        print(f"answer: {result.rows[0][0]}")
        return 0
    if result.note:
        print(f"note: {result.note}")
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(result.rows)} row(s)")
    for col in result.columns:
        table.add_column(str(col))
    for row in result.rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    (Console() if sys.stdout.isatty() else Console(width=200)).print(table)
    return 0


# ---------------------------------------------------------------------------------------------------- restandardize
def _cmd_restandardize(args) -> int:
    from easycrm_pipeline.cli.main import UsageError
    from easycrm_pipeline.config import get_settings
    from easycrm_pipeline.deepseek.errors import DeepSeekFatal
    from easycrm_pipeline.pipeline.collect import open_store
    from easycrm_pipeline.pipeline.restandardize import restandardize
    from easycrm_pipeline.pipeline.standardizer import make_standardizer

    try:
        settings = get_settings()
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    store = open_store(settings) if not args.dry_run else _read_store()
    standardizer = make_standardizer(settings)
    try:
        result = restandardize(
            store,
            standardizer,
            batch_size=settings.batch_size,
            dry_run=args.dry_run,
            run_id=f"cli-restandardize-{uuid.uuid4().hex[:12]}",
        )
    except DeepSeekFatal as exc:
        print(f"easycrm restandardize: DeepSeek: {exc.reason}", file=sys.stderr)
        return 1
    if args.json:
        _print_json(result.to_dict())
        return 0
    print(f"current standardizer: {result.current_version}")
    print(f"stale leads: {result.stale}" + (f" {result.stale_by_version}" if result.stale else ""))
    if args.dry_run:
        for lead in result.sample:
            print(f"  {lead['leadId']}  {lead['email'] or '(no email)'}  {lead['sourceFile']}  {lead['standardizer']}")
        return 0
    print(
        f"updated: {result.updated}, unchanged (version bumped): {result.unchanged}, "
        f"skipped without email: {result.skipped_no_email}, skipped email changed: {result.skipped_email_changed}, "
        f"failed: {result.skipped_failed} ({result.failed_batches} of {result.batches} batches)"
    )
    for note in result.notes:
        print(f"note: {note}")
    return 0


def add_subcommands(sub) -> None:
    """Register ``export``, ``ask`` and ``restandardize`` on the ``easycrm`` parser."""
    from easycrm_pipeline.cli.main import _add_filters

    p = sub.add_parser("export", help="export the (filtered) leads as CSV")
    p.add_argument("out", metavar="OUT.csv")
    _add_filters(p)
    p.add_argument("--all-columns", action="store_true",
                   help="after the seeds' 11 columns, also sourceWorksheet and sourceRow")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("ask", help="answer a question about the leads with a validated read-only query")
    p.add_argument("question", metavar="QUESTION")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_ask)

    p = sub.add_parser("restandardize", help="re-standardize leads whose standardizer version is stale")
    p.add_argument("--dry-run", action="store_true", help="only count and list the stale leads")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_restandardize)
