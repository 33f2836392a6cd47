"""``easycrm``: the one click app (docs/contracts.md#command-line).

Every command lives in a command module (``cli/ingest.py``, ``cli/status.py``, ``cli/leads.py``, ``cli/ask.py``,
``cli/admin.py``, ``cli/duplicates.py``) that imports only this module and the layers below the CLI. The group
loads a command's module only when that command runs (click's documented lazy-loading pattern,
https://click.palletsprojects.com/en/stable/complex/#lazily-loading-subcommands), so ``easycrm ingest``'s waiting
process never imports Dagster (its run processes do).

The contract: bad input is ONE line on stderr, ``easycrm <command>: <reason>``, exit 2 - click's own usage
errors (an unknown flag, a missing argument, a value that is not a number) included: the app runs with
``standalone_mode=False`` and :func:`main` prints click's message in that form. Exit codes: 0 ok, 1 the work
failed, 2 bad input, 130 interrupted, 141 stdout's reader went away.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from easycrm_pipeline.config import get_settings
from easycrm_pipeline.fields import FILTERS, FilterOption
from easycrm_pipeline.store.base import LeadQuery

#: Command name -> ("module:attribute" of its click command, one-line help shown by ``easycrm --help``).
COMMANDS: dict[str, tuple[str, str]] = {
    "ingest": ("easycrm_pipeline.cli.ingest:ingest_command",
               "run the ingest job for local files and wait (live progress on a terminal)"),
    "status": ("easycrm_pipeline.cli.status:status_command",
               "progress of a file's latest run, from Dagster; or the recent files"),
    "cancel": ("easycrm_pipeline.cli.status:cancel_command",
               "terminate the file's run (its status becomes cancelled)"),
    "leads": ("easycrm_pipeline.cli.leads:leads_command", "filtered, paginated leads"),
    "export": ("easycrm_pipeline.cli.leads:export_command", "export the (filtered) leads as CSV"),
    "quarantine": ("easycrm_pipeline.cli.quarantine:quarantine_command",
                   "rows of FILE's latest import that did not become leads, with their reasons"),
    "ask": ("easycrm_pipeline.cli.ask:ask_command",
            "answer a question about the leads with a validated read-only query"),
    "undo": ("easycrm_pipeline.cli.admin:undo_command", "revert what the latest import of FILE changed"),
    "restandardize": ("easycrm_pipeline.cli.admin:restandardize_command",
                      "re-standardize leads whose standardizer version is stale"),
    "init-store": ("easycrm_pipeline.cli.admin:init_store_command",
                   "create the leads store (DuckDB file or DynamoDB table + EmailIndex)"),
    "duplicates": ("easycrm_pipeline.cli.duplicates:duplicates_command",
                   "possible duplicates: the same person under another email, or with none"),
    "merge": ("easycrm_pipeline.cli.duplicates:merge_command",
              "merge lead OTHER into lead KEEP (fills KEEP's blanks), delete OTHER"),
    "dismiss": ("easycrm_pipeline.cli.duplicates:dismiss_command", "record that leads A and B are different people"),
}

CONTEXT = {"help_option_names": ["-h", "--help"]}


class UsageError(click.UsageError):
    """Bad input on the command line: printed as one line ``easycrm <command>: <reason>`` on stderr, exit code 2.

    Args:
        message: the reason (one line).
        command: the command's name; default: the command whose callback is running (click's current context).
    """

    def __init__(self, message: str, command: str | None = None) -> None:
        super().__init__(message, ctx=click.get_current_context(silent=True))
        self.command = command


def command_name(error: click.ClickException, args: list[str] = ()) -> str:
    """``easycrm leads`` for an error of ``easycrm leads``; ``easycrm`` for one of the group (an unknown command).

    click raises some option errors (``--page-size`` without its value) before it has a context: the command is
    then the first of ``args`` (the command line) that names one."""
    command = getattr(error, "command", None)
    if command:
        return f"easycrm {command}"
    ctx = getattr(error, "ctx", None)
    if ctx is not None and ctx.command_path != "easycrm":
        return ctx.command_path
    named = next((a for a in args if a in COMMANDS), None)
    return f"easycrm {named}" if named else "easycrm"


def console():
    """A rich console; wide enough for the tables when stdout is not a terminal (pipes, make, CI logs)."""
    from rich.console import Console

    # markup off: a cell holds whatever a lead file held ("Total [/b]" is text, not a rich tag)
    return Console(markup=False) if sys.stdout.isatty() else Console(width=200, markup=False)


def show_table(table: Any) -> None:
    """Print a rich ``Table`` so that no value is ever cut: a cell too wide for the terminal wraps onto more lines
    (``overflow="fold"``) instead of ending in "…" (an email or phone cut short reads as another one)."""
    for column in table.columns:
        column.overflow = "fold"
        column.no_wrap = False
    console().print(table)


def print_json(doc: Any) -> None:
    """Print ``doc`` as the one JSON document of ``--json`` (non-JSON values as ``str``, UTF-8 kept as is)."""
    print(json.dumps(doc, default=str, ensure_ascii=False))


# ------------------------------------------------------------------------------------------ shared options
def json_option(f: Callable) -> Callable:
    """``--json``: print one JSON document on stdout (the command's parameter ``as_json``)."""
    return click.option("--json", "as_json", is_flag=True, help="print one JSON document on stdout")(f)


#: The lead filter flags: (flag, ``LeadQuery`` keyword, help). One place, so the field registry can generate it.
def filter_flags(options: Sequence[FilterOption]) -> tuple[tuple[str, str, str | None], ...]:
    """``(flag, dest, help)`` of the filter flags: ``--search``, one per field filter of ``options``, ``--source``."""
    return (
        ("--search", "search", "contains, case-insensitive, across all lead fields"),
        *((option.flag, option.dest, option.help) for option in options),
        ("--source", "source_file", "source file name"),
    )


#: ``LeadQuery`` keywords; a field filter without one of its own goes into ``LeadQuery.filters``.
_QUERY_KEYWORDS = frozenset(f.name for f in dataclasses.fields(LeadQuery))


def make_lead_filters(options: Sequence[FilterOption]) -> Callable[[Callable], Callable]:
    """A decorator adding the filter flags of ``options`` (:func:`filter_flags`) and ``--sort``/``--asc`` to a
    command, which gets one parameter ``filters``: a dict of ``LeadQuery`` keywords (``search``, ``first_name``,
    ..., ``sort``, ``descending``), a field without a keyword of its own (one added to ``fields.py`` after the
    seven) as ``filters={field: text}``."""
    flags = filter_flags(options)
    field_of = {option.dest: option.field for option in options}

    def decorate(f: Callable) -> Callable:
        @functools.wraps(f)
        def wrapper(**kwargs: Any) -> Any:
            filters = {k[len("filter_"):]: kwargs.pop(k) for k in list(kwargs) if k.startswith("filter_")}
            filters["descending"] = not filters.pop("asc")
            extra = {field_of[k]: filters.pop(k) for k in list(filters) if k not in _QUERY_KEYWORDS}
            if any(v is not None for v in extra.values()):
                filters["filters"] = {k: v for k, v in extra.items() if v is not None}
            return f(filters=filters, **kwargs)

        wrapper = click.option("--asc", "filter_asc", is_flag=True, help="sort ascending")(wrapper)
        wrapper = click.option("--sort", "filter_sort", default="createdAt",
                               help="field to sort on (default createdAt, newest first)")(wrapper)
        for flag, key, text in reversed(flags):  # click lists the options applied last first
            wrapper = click.option(flag, f"filter_{key}", default=None, help=text)(wrapper)
        return wrapper

    return decorate


#: The filter and sort flags of ``leads`` and ``export`` (docs/contracts.md#command-line), one per field of
#: ``fields.FILTERS``.
lead_filters = make_lead_filters(FILTERS)


def paging(f: Callable) -> Callable:
    """``--page N`` (default 1) and ``--page-size M`` (default 50); their ranges are checked by ``LeadQuery``."""
    f = click.option("--page-size", "page_size", type=int, default=50)(f)
    return click.option("--page", "page", type=int, default=1)(f)


# ---------------------------------------------------------------------------------------------------- the app
class LazyGroup(click.Group):
    """A click group whose commands are imported by name when they run (:data:`COMMANDS`)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, attr = COMMANDS[cmd_name][0].split(":")
        return getattr(importlib.import_module(module_name), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``easycrm --help`` from :data:`COMMANDS` (without importing every command)."""
        with formatter.section("Commands"):
            formatter.write_dl([(name, text) for name, (_target, text) in COMMANDS.items()])


@click.group(cls=LazyGroup, context_settings=CONTEXT, no_args_is_help=False,
             help="Lead files -> clean, de-duplicated leads.")
@click.pass_context
def app(ctx: click.Context) -> None:
    """The ``easycrm`` group: a bad ``EASYCRM_*`` variable is one clear line before any command runs."""
    try:
        get_settings()
    except ValueError as exc:
        raise UsageError(str(exc), command=ctx.invoked_subcommand) from exc


def _quiet_stdout() -> None:
    """After a broken stdout pipe: point stdout at /dev/null, so Python's exit-time flush does not raise again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # stdout is not a file descriptor (captured)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point (``easycrm``). Returns the exit code: 0 ok, 1 the work failed (a run, DeepSeek,
    the query engine), 2 bad input (one line on stderr), 130 interrupted (Ctrl-C or SIGTERM; ``easycrm ingest``
    cancels its runs first), 141 the reader of stdout went away (``easycrm leads --json | head``)."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        with app.make_context("easycrm", args) as ctx:
            return app.invoke(ctx) or 0
    except click.exceptions.Exit as done:  # --help
        return done.exit_code
    except click.ClickException as exc:  # ours (UsageError) and click's usage errors: one line, exit 2
        print(f"{command_name(exc, args)}: {exc.format_message()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        _quiet_stdout()  # stop quietly, like other command-line tools
        return 141
