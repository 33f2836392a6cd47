"""``easycrm``: ingest files through Dagster runs, read progress and the leads table (docs/contracts.md#command-line).

Every subcommand takes ``--json`` (one JSON document on stdout) and exits non-zero with a one-line reason on
stderr on bad input.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from easycrm_pipeline.dropzone.rules import LEAD_EXTENSIONS, cli_partition_key, display_name

INGEST_COLUMNS = (
    ("status", "status"),
    ("rows", "rows_read"),
    ("blank", "blank_rows"),
    ("created", "leads_created"),
    ("updated", "leads_updated"),
    ("unchanged", "leads_unchanged"),
    ("dupes", "duplicates_resolved"),
    ("quarantined", "quarantined"),
    ("batches", "batches"),
    ("LLM calls", "llm_calls"),
    ("tokens", "tokens"),
    ("seconds", "seconds"),
)
#: What `easycrm ingest` accepts: the drop zones' list (delimited text .csv/.tsv/.txt, workbooks .xlsx/.xlsm/.xls).
SUPPORTED_SUFFIXES = tuple(sorted(LEAD_EXTENSIONS))


class UsageError(Exception):
    """Bad input on the command line: printed as one line on stderr, exit code 2."""


def _console():
    """A rich console; wide enough for the tables when stdout is not a terminal (pipes, make, CI logs)."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=200)


def _print_json(doc: Any) -> None:
    print(json.dumps(doc, default=str, ensure_ascii=False))


# --------------------------------------------------------------------------------------------------- ingest
def _check_paths(paths: list[str]) -> list[Path]:
    resolved = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            raise UsageError(f"{raw}: is a folder; name the files (e.g. {raw.rstrip('/')}/*.csv)")
        if not path.is_file():
            raise UsageError(f"{raw}: no such file")
        if path.stat().st_size == 0:
            raise UsageError(f"{raw}: file is empty")
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            raise UsageError(f"{raw}: not a lead file (expected {', '.join(SUPPORTED_SUFFIXES)})")
        resolved.append(path.resolve())
    names = [cli_partition_key(p.name) for p in resolved]  # one partition per file
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageError(f"two files share the name {dupes[0]!r}; ingest them one at a time")
    return resolved


class IngestInterrupted(Exception):
    """``easycrm ingest`` got SIGINT/SIGTERM and cancelled its runs; ``outcomes`` as :func:`ingest` returns them
    (the cancelled files with ``status`` ``cancelled``), ``messages`` one line per file that says what happened."""

    def __init__(self, outcomes: list[dict], messages: list[str], signal_name: str | None) -> None:
        super().__init__(signal_name or "interrupted")
        self.outcomes, self.messages, self.signal_name = outcomes, messages, signal_name


def ingest(paths: list[str], *, progress: bool = False) -> list[dict]:
    """Run one Dagster run per file, all at once, and wait for them all.

    Args:
        paths: the lead files.
        progress: draw one live progress line per file on stdout (a terminal) while the runs go, redrawn every
            ``progress.POLL_SECONDS`` from the ``runs.run_progress`` each run process sends.

    Returns:
        One outcome dict per file, in argument order: ``file``, ``status`` (``completed``/``error``), ``run_id``,
        the ``FileStats`` fields flattened in, and ``error`` (one line) for a failed run.

    Raises:
        UsageError: a path is missing, not a lead file, or two paths share a base name.
        IngestInterrupted: SIGINT or SIGTERM arrived; every run still going was cancelled through Dagster first.
    """
    import contextlib
    import time

    from easycrm_pipeline.cli.instance import ensure_dagster_home
    from easycrm_pipeline.cli.progress import POLL_SECONDS, Interrupts, LiveProgress, cancel_all
    from easycrm_pipeline.cli.run_file import RunProcess

    files = _check_paths(paths)
    # This process only waits: Dagster is imported by the run processes, which open the instance (and create a new
    # one's storage) one at a time under a file lock and add their own partition - ~80 MB less resident memory here
    # (unless it has to cancel); with progress, they send their run_progress as lines on their stdout.
    ensure_dagster_home()
    since = time.time()
    with Interrupts() as interrupts:
        runs = [RunProcess(path, progress=progress) for path in files]
        with LiveProgress(_console()) if progress else contextlib.nullcontext() as live:
            while True:
                done = not any(run.running for run in runs)
                if live:  # drawn once more after the runs ended: each line ends at its final state (100 % if completed)
                    live.update([(run.name, run.progress) for run in runs])
                if done or interrupts.event.wait(POLL_SECONDS):
                    break
        messages = cancel_all([(run.partition, run.proc) for run in runs], since) if interrupts.event.is_set() else []
        outcomes = [run.outcome() for run in runs]
    if interrupts.event.is_set():
        for outcome, (status, _msg) in zip(outcomes, messages):
            if outcome["run_id"] is None and status == "cancelled":
                outcome.update(status="cancelled", error="stopped before its run started (nothing stored)")
        raise IngestInterrupted(outcomes, [m for _s, m in messages], interrupts.signal_name)
    return outcomes


def _cmd_ingest(args) -> int:
    show = sys.stdout.isatty() and not args.json and not args.quiet
    try:
        outcomes = ingest(args.paths, progress=show)
    except IngestInterrupted as stop:
        _print_outcomes(args, stop.outcomes, quiet_failures=True)
        return 130
    return _print_outcomes(args, outcomes)


def _print_outcomes(args, outcomes: list[dict], quiet_failures: bool = False) -> int:
    """Print the final result (table and notes, or ``--json``); failures on stderr. Returns 1 if a run failed."""
    if args.json:
        _print_json({"files": outcomes})
    else:
        from rich.table import Table

        table = Table(title="easycrm ingest")
        table.add_column("file")
        for label, _ in INGEST_COLUMNS:
            table.add_column(label, justify="right")
        for o in outcomes:
            table.add_row(o["file"], *[str(o.get(key, "")) if o.get(key) is not None else "" for _, key in INGEST_COLUMNS])
        _console().print(table)
        paths = dict(zip((display_name(Path(p).name) for p in args.paths), args.paths))
        for o in outcomes:
            for note in (_no_change_note(o), _quarantine_note(o), _failed_batches_note(o, paths.get(o["file"]))):
                if note:
                    print(note)
    failed = [o for o in outcomes if o["status"] != "completed"]
    for o in failed:
        if quiet_failures and o["status"] == "cancelled":
            continue  # the interrupt already said so for this file
        reason = str(o["error"])
        if not reason.startswith(f"{o['file']}: "):
            reason = f"{o['file']}: {reason}"
        print(f"easycrm ingest: {reason}", file=sys.stderr)
    return 1 if failed else 0


def _no_change_note(outcome: dict) -> str | None:
    """The line that says a completed re-run changed nothing (every lead already stored with these values)."""
    if outcome.get("status") != "completed" or outcome.get("leads_created") or outcome.get("leads_updated"):
        return None
    unchanged = outcome.get("leads_unchanged") or 0
    if not unchanged:
        return None
    return f"{outcome['file']}: nothing changed - all {unchanged} leads were already stored with these values"


def quarantine_command(file_name: str) -> str:
    """A shell command that prints ``file_name``'s quarantined rows (sheet, row, reason, raw row) from the
    configured store (DuckDB or DynamoDB: ``LeadStore.quarantine_rows``), with this interpreter."""
    import shlex

    code = ("from easycrm_pipeline.config import get_settings; from easycrm_pipeline.store import get_store; "
            "[print(r['sheet'], r['row'], r['reason'], r['rawRow'], sep='\\t') for r in "
            f"get_store(get_settings()).quarantine_rows({file_name!r})]")
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


def _quarantine_note(outcome: dict) -> str | None:
    """Where a completed run's rejected rows are: the file's quarantine, and the command that lists them."""
    count = outcome.get("quarantined") or 0
    if outcome.get("status") != "completed" or not count:
        return None
    return (f"{outcome['file']}: {count} rejected row(s) are in the quarantine with their reasons; list them with: "
            f"{quarantine_command(outcome['file'])}")


def _failed_batches_note(outcome: dict, path: str | None = None) -> str | None:
    """The line that says a completed run's batches went to the dead letter (their rows are in the quarantine) and
    the command that retries them: ``easycrm ingest`` of the same file sends DeepSeek only the rows its
    standardization cache lacks - the dead-lettered ones."""
    failed = outcome.get("failed_batches") or 0
    if outcome.get("status") != "completed" or not failed:
        return None
    import shlex

    again = f"easycrm ingest {shlex.quote(path or outcome['file'])}"
    return (f"{outcome['file']}: {failed} of {outcome.get('batches')} batches failed after 3 tries; their rows are in "
            f"the quarantine (easycrm status {outcome['file']} gives the reasons); retry only them with: {again}")


# ---------------------------------------------------------------------------------------------------- leads
def lead_query(args, paged: bool = True):
    """The ``LeadQuery`` of the filter options (``_add_filters``), with ``--page``/``--page-size`` when ``paged``.

    Raises:
        UsageError: an out-of-range page or page size, or an unknown sort field.
    """
    from easycrm_pipeline.store.base import LeadQuery

    paging = {"page": args.page, "page_size": args.page_size} if paged else {}
    try:
        return LeadQuery(
            search=args.search,
            first_name=args.first_name,
            last_name=args.last_name,
            title=args.title,
            company=args.company,
            email=args.email,
            phone=args.phone,
            source_file=args.source,
            sort=args.sort,
            descending=not args.asc,
            **paging,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def _missing_store_note() -> str | None:
    """A one-line note when the DuckDB file ``EASYCRM_DB`` names does not exist (a typo, or nothing ingested yet):
    reads then see no leads and create nothing."""
    from easycrm_pipeline.config import get_settings

    settings = get_settings()
    if settings.store == "duckdb" and not settings.db_path.exists():
        return (f"no lead store at {settings.db_path} yet (nothing ingested there; check EASYCRM_DB, "
                "or run easycrm ingest / easycrm init-store)")
    return None


def _cmd_leads(args) -> int:
    from easycrm_pipeline.cli.readers import _read_store

    query = lead_query(args)
    note = _missing_store_note()
    if note:
        print(f"easycrm leads: {note}", file=sys.stderr)
    rows, total = _read_store().query_leads(query)
    if args.json:
        _print_json({"leads": rows, "page": query.page, "pageSize": query.page_size, "total": total})
        return 0
    from rich.table import Table

    table = Table(title=f"leads: page {query.page}, {len(rows)} of {total}")
    for col in ("firstName", "lastName", "title", "company", "email", "phone", "sourceFile"):
        table.add_column(col)
    for r in rows:
        table.add_row(*[str(r.get(c) or "") for c in ("firstName", "lastName", "title", "company", "email", "phone", "sourceFile")])
    _console().print(table)
    if not rows:
        print("no leads match" if total == 0 else f"page {query.page} is past the last page ({total} leads)")
    return 0


# --------------------------------------------------------------------------------------------------- parser
def _add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--search", help="contains, case-insensitive, across all lead fields")
    p.add_argument("--first-name")
    p.add_argument("--last-name")
    p.add_argument("--title")
    p.add_argument("--company")
    p.add_argument("--email")
    p.add_argument("--phone")
    p.add_argument("--source", help="source file name")
    p.add_argument("--sort", default="createdAt", help="field to sort on (default createdAt, newest first)")
    p.add_argument("--asc", action="store_true", help="sort ascending")


def build_parser() -> argparse.ArgumentParser:
    """The ``easycrm`` argument parser."""
    parser = argparse.ArgumentParser(prog="easycrm", description="Lead files -> clean, de-duplicated leads.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="run the ingest job for local files and wait (live progress on a terminal)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no live progress lines, even on a terminal")
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser("leads", help="filtered, paginated leads")
    _add_filters(p)
    p.add_argument("--page", type=int, default=1)
    p.add_argument("--page-size", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_leads)

    from easycrm_pipeline.cli import admin, duplicates, readers, runs

    for module in (runs, readers, admin, duplicates):
        module.add_subcommands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point. Exit codes: 0 ok, 1 a run failed, 2 bad input, 130 interrupted (Ctrl-C or
    SIGTERM; ``easycrm ingest`` cancels its runs first)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        from easycrm_pipeline.config import get_settings

        get_settings()  # a bad EASYCRM_* variable is one clear line before anything runs
    except ValueError as exc:
        print(f"easycrm {args.command}: {exc}", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"easycrm {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader of our stdout went away (`easycrm leads --json | head`): stop quietly, like other CLI tools
        try:  # Python's exit-time flush of stdout would raise again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass  # stdout is not a file descriptor (captured)
        return 141


if __name__ == "__main__":
    sys.exit(main())
