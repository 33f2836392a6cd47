"""``easycrm ask "QUESTION"``: a validated read-only query on ``leads`` (``readers/ask.py``); prints the SQL used
and the answer; ``--json`` prints ``{"question", "sql", "columns", "rows"}`` (docs/contracts.md#command-line).

Exit codes: 0 ok; 1 DeepSeek or the query engine failed; 2 a refused question (one line on stderr).
"""
from __future__ import annotations

import sys

import click
import duckdb
from rich.table import Table

from easycrm_pipeline.cli.app import UsageError, json_option, print_json, show_table
from easycrm_pipeline.config import get_settings
from easycrm_pipeline.deepseek.errors import DeepSeekError
from easycrm_pipeline.readers.ask import NeedsDeepSeek, UnsafeQuery, answer
from easycrm_pipeline.store import get_store
from easycrm_pipeline.store.base import QueryTimeLimit


def _fail(message: str) -> int:
    print(f"easycrm ask: {message}", file=sys.stderr)
    return 1


def print_answer(result) -> None:
    """The SQL, then the one value, or a note and the rows as a table."""
    print(f"SQL: {result.sql}")
    if len(result.rows) == 1 and len(result.columns) == 1:
        print(f"answer: {result.rows[0][0]}")
        return
    if result.note:
        print(f"note: {result.note}")
    table = Table(title=f"{len(result.rows)} row(s)")
    for col in result.columns:
        table.add_column(str(col))
    for row in result.rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    show_table(table)


@click.command("ask", help="answer a question about the leads with a validated read-only query")
@click.argument("question", metavar="QUESTION")
@json_option
def ask_command(question: str, as_json: bool) -> int:
    """Answer QUESTION from the configured store (read only)."""
    settings = get_settings()
    try:
        result = answer(question, get_store(settings), settings)
    except (UnsafeQuery, NeedsDeepSeek) as exc:
        raise UsageError(str(exc)) from exc
    except DeepSeekError as exc:
        return _fail(f"DeepSeek: {exc.reason}")
    except QueryTimeLimit as exc:
        return _fail(str(exc))
    except duckdb.Error as exc:
        return _fail(f"the query failed: {str(exc).splitlines()[0]}")
    if as_json:
        print_json(result.to_dict())
    else:
        print_answer(result)
    return 0
