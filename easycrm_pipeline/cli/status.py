"""``easycrm status [FILE] [--watch]`` and ``easycrm cancel FILE`` (docs/contracts.md#command-line).

The figures come from Dagster (``dagster_defs.progress``: run records and event logs, no status table of our own);
the cancel is ``dagster_defs.cancel``. This module only finds what to show and prints it.
"""
from __future__ import annotations

import sys
import time

import click
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table

from easycrm_pipeline.cli.app import UsageError, console, json_option, print_json
from easycrm_pipeline.cli.instance import ensure_dagster_home, get_instance
from easycrm_pipeline.dagster_defs.cancel import AlreadyCompleted, already_completed, cancel_run, run_to_cancel
from easycrm_pipeline.dagster_defs.progress import FINAL_STATUSES, file_status, recent_files, seed_status
from easycrm_pipeline.dagster_defs.run_marks import is_committed

#: Seconds between two redraws of ``easycrm status FILE --watch``.
WATCH_INTERVAL_SECONDS = 1.0
COLUMNS = ("file", "status", "batches", "leads", "progress", "%", "elapsed s", "ETA s", "run")


def _row(p: dict) -> list:
    # until parse_file has counted the file there is nothing to show as n/total: say "starting" (issue 14)
    starting = p["totalBatches"] is None and p["status"] in ("uploaded", "processing")
    total_batches = "-" if p["totalBatches"] is None else p["totalBatches"]
    total_leads = "-" if p["totalLeads"] is None else p["totalLeads"]
    return [
        str(p["file"]),
        "starting" if p["status"] == "uploaded" else p["status"],
        "starting" if starting else f"{p['completedBatches']}/{total_batches}",
        (f"{p['rowsRead']:,} read" if p.get("rowsRead") else "starting") if starting
        else f"{p['processedLeads']}/{total_leads}",
        ProgressBar(total=100, completed=p["percentage"], width=30),
        f"{p['percentage']:.1f}",
        f"{p['elapsedSeconds']:.1f}",
        "" if p["etaSeconds"] is None else f"{p['etaSeconds']:.0f}",
        p["runId"][:8],
    ]


def progress_table(progress: list[dict]) -> Table:
    """The progress table of ``easycrm status`` (one row per ``run_progress`` dict)."""
    table = Table()
    for col in COLUMNS:
        table.add_column(col)
    for p in progress:
        table.add_row(*_row(p))
    return table


def _print_problems(p: dict) -> None:
    for failure in p["failures"]:
        print(f"{p['file']}: {failure['batch']} failed: {failure['reason']}", file=sys.stderr)
    if p["error"]:
        print(f"{p['file']}: {p['error']}", file=sys.stderr)


def _watch(instance, file: str, progress: dict) -> dict:
    """Redraw the progress bar every :data:`WATCH_INTERVAL_SECONDS` until the run ends; returns the last progress."""
    with Live(progress_table([progress]), console=console(), refresh_per_second=4) as live:
        while progress["status"] not in FINAL_STATUSES:
            time.sleep(WATCH_INTERVAL_SECONDS)
            progress = file_status(instance, file) or progress
            live.update(progress_table([progress]))
    return progress


@click.command("status", help="progress of a file's latest run, from Dagster; or the recent files")
@click.argument("file", required=False)
@click.option("--watch", is_flag=True, help="redraw the progress bar until the run ends")
@json_option
def status_command(file: str | None, watch: bool, as_json: bool) -> int:
    """FILE: partition key or file name; without it: the recent files, newest first."""
    instance = get_instance()
    if not file:
        files = recent_files(instance)
        if as_json:
            print_json({"files": files})
        else:
            console().print(progress_table(files))
        return 0
    progress = file_status(instance, file)
    if progress is None:
        raise UsageError(f"no run found for {file!r}")
    if as_json:
        print_json(progress)
        return 0
    if watch and progress["status"] not in FINAL_STATUSES:
        progress = _watch(instance, file, progress)
    else:
        console().print(progress_table([progress]))
    _print_problems(progress)
    return 0


@click.command("cancel", help="terminate the file's run (its status becomes cancelled)")
@click.argument("file")
@json_option
def cancel_command(file: str, as_json: bool) -> int:
    """Exit 0 when the run ended cancelled, 1 when it ended otherwise, 2 when there is nothing to cancel."""
    instance = get_instance()
    record = run_to_cancel(instance, file, ensure_dagster_home())  # waits for a run `easycrm ingest` announced
    if record is None:
        raise UsageError(f"no run found for {file!r}")
    run = record.dagster_run
    if is_committed(run.tags):
        raise UsageError(already_completed(file, run.run_id))
    if run.is_finished:
        raise UsageError(f"{file}: the run {run.run_id[:8]} already ended ({seed_status(run.status.value)})")
    try:
        status = cancel_run(instance, run)
    except AlreadyCompleted as exc:
        raise UsageError(str(exc)) from exc
    doc = {"file": file, "runId": run.run_id, "status": seed_status(status), "dagsterStatus": status}
    if as_json:
        print_json(doc)
    else:
        print(f"{file}: run {run.run_id[:8]} {doc['status']}")
    return 0 if doc["status"] == "cancelled" else 1
