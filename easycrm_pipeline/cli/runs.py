"""``easycrm status`` and ``easycrm cancel``: Dagster's run status is the source of truth (no status table).

Statuses are reported in the seeds' words: ``uploaded`` (queued), ``processing``, ``completed``, ``error``,
``cancelled`` (seeds: Processing Status Tracking System, "Status Values").
"""
from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone
from typing import Any

SEED_STATUS = {
    "QUEUED": "uploaded",
    "NOT_STARTED": "uploaded",
    "STARTING": "uploaded",
    "MANAGED": "uploaded",
    "STARTED": "processing",
    "SUCCESS": "completed",
    "FAILURE": "error",
    "CANCELING": "cancelled",
    "CANCELED": "cancelled",
}
STANDARDIZE_STEP = "leads.standardize_batch["


def _find_runs(instance, file: str | None, limit: int):
    import dagster as dg

    if file:
        records = instance.get_run_records(filters=dg.RunsFilter(tags={"dagster/partition": file}), limit=limit)
        if records:
            return records
        # the file may be known by a longer partition key (inbox sub folder, s3://bucket/prefix/...)
        keys = [k for k in instance.get_dynamic_partitions("lead_files") if k.rsplit("/", 1)[-1] == file]
        out = []
        for key in keys:
            out += instance.get_run_records(filters=dg.RunsFilter(tags={"dagster/partition": key}), limit=limit)
        return sorted(out, key=lambda r: r.create_timestamp, reverse=True)[:limit]
    return instance.get_run_records(filters=dg.RunsFilter(job_name="ingest_job"), limit=limit)


def run_progress(instance, record) -> dict[str, Any]:
    """Progress of one ingest run read from its event log.

    Returns:
        ``file``, ``status`` (seeds' words), ``totalBatches``, ``completedBatches``, ``failedBatches``,
        ``processedLeads``, ``totalLeads``, ``percentage`` (0–100, one decimal), ``elapsedSeconds``,
        ``etaSeconds`` (None when unknown), ``runId``, ``error`` (one line or None).
    """
    import dagster as dg

    run = record.dagster_run
    total_batches = total_leads = None
    completed = failed = processed = 0
    error = None
    for entry in instance.all_logs(run.run_id, of_type={dg.DagsterEventType.STEP_OUTPUT, dg.DagsterEventType.STEP_FAILURE}):
        event = entry.dagster_event
        step = event.step_key or ""
        if event.event_type == dg.DagsterEventType.STEP_FAILURE:
            data = event.step_failure_data
            reason = (data.user_failure_data.description if data.user_failure_data else None) or (
                data.error.message.strip().splitlines()[0] if data.error else "step failed"
            )
            if step.startswith(STANDARDIZE_STEP):
                failed += 1
            error = error or reason
            continue
        md = {k: v.value for k, v in (event.step_output_data.metadata or {}).items()}
        if step == "leads.parse_file" and event.step_output_data.output_name == "summary":
            total_batches = int(md.get("batches", 0))
            total_leads = int(md.get("lead_rows", 0))
        elif step.startswith(STANDARDIZE_STEP):
            completed += 1
            processed += int(md.get("rows", 0))
    status = SEED_STATUS.get(run.status.value, run.status.value.lower())
    if status == "completed" and total_batches is not None:
        completed = total_batches
    pct = 0.0
    if total_leads:
        pct = round(100.0 * processed / total_leads, 1)
    elif status == "completed":
        pct = 100.0
    start = record.start_time or record.create_timestamp.timestamp()
    end = record.end_time or time.time()
    elapsed = max(0.0, end - start)
    eta = None
    if status == "processing" and processed and total_leads:
        eta = round(elapsed * (total_leads - processed) / processed, 1)
    return {
        "file": run.tags.get("easycrm/file_name") or run.tags.get("dagster/partition"),
        "partition": run.tags.get("dagster/partition"),
        "status": status,
        "totalBatches": total_batches,
        "completedBatches": completed,
        "failedBatches": failed,
        "processedLeads": processed,
        "totalLeads": total_leads,
        "percentage": pct,
        "elapsedSeconds": round(elapsed, 1),
        "etaSeconds": eta,
        "runId": run.run_id,
        "createdAt": datetime.fromtimestamp(record.create_timestamp.timestamp(), tz=timezone.utc).isoformat(),
        "error": error if status == "error" else None,
    }


def _cmd_status(args) -> int:
    from easycrm_pipeline.cli.instance import get_instance
    from easycrm_pipeline.cli.main import UsageError

    instance = get_instance()
    while True:
        records = _find_runs(instance, args.file, 1 if args.file else 20)
        if args.file and not records:
            raise UsageError(f"no run found for {args.file!r}")
        progress = [run_progress(instance, r) for r in records]
        if args.json:
            print(json.dumps(progress[0] if args.file else {"files": progress}, default=str))
            return 0
        _render(progress)
        if not (args.watch and args.file and progress[0]["status"] in ("uploaded", "processing")):
            return 0
        time.sleep(1.0)


def _render(progress: list[dict]) -> None:
    from rich.console import Console
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    table = Table()
    for col in ("file", "status", "batches", "leads", "progress", "%", "elapsed s", "run"):
        table.add_column(col)
    for p in progress:
        table.add_row(
            str(p["file"]),
            p["status"],
            f"{p['completedBatches']}/{p['totalBatches'] if p['totalBatches'] is not None else '?'}",
            f"{p['processedLeads']}/{p['totalLeads'] if p['totalLeads'] is not None else '?'}",
            ProgressBar(total=100, completed=p["percentage"], width=30),
            f"{p['percentage']:.1f}",
            f"{p['elapsedSeconds']:.1f}",
            p["runId"][:8],
        )
    Console().print(table)
    for p in progress:
        if p["error"]:
            print(f"{p['file']}: {p['error']}", file=sys.stderr)


def _cmd_cancel(args) -> int:
    from easycrm_pipeline.cli.instance import get_instance
    from easycrm_pipeline.cli.main import UsageError

    instance = get_instance()
    records = _find_runs(instance, args.file, 1)
    if not records:
        raise UsageError(f"no run found for {args.file!r}")
    run = records[0].dagster_run
    if run.is_finished:
        raise UsageError(f"{args.file}: the run {run.run_id[:8]} already ended ({SEED_STATUS.get(run.status.value)})")
    status = cancel_run(instance, run)
    doc = {"file": args.file, "runId": run.run_id, "status": SEED_STATUS.get(status, status.lower())}
    print(json.dumps(doc) if args.json else f"{args.file}: run {run.run_id[:8]} cancelled")
    return 0


def cancel_run(instance, run, timeout: float = 60.0) -> str:
    """Terminate ``run`` and wait until Dagster reports it finished; returns the final ``DagsterRunStatus`` value.

    A run started by ``easycrm ingest`` is interrupted (SIGINT to its process, tagged ``easycrm/pid``): Dagster
    stops its steps and marks it CANCELED; the collect step writes in one transaction, so no half-written batch is
    stored. A run launched by the daemon is terminated through the instance's run launcher.
    """
    import os
    import signal

    from easycrm_pipeline.dagster_defs.ops import PID_TAG

    pid = run.tags.get(PID_TAG)
    if pid:
        try:
            os.kill(int(pid), signal.SIGINT)
        except ProcessLookupError:
            pid = None
    if not pid:
        try:
            terminated = instance.run_launcher.terminate(run.run_id)
        except Exception:  # noqa: BLE001 - a launcher that cannot reach the run
            terminated = False
        if not terminated:
            instance.report_run_canceled(run, message="Cancelled with easycrm cancel")
    deadline = time.time() + timeout
    while time.time() < deadline:
        current = instance.get_run_by_id(run.run_id)
        if current.is_finished:
            return current.status.value
        time.sleep(0.5)
    current = instance.get_run_by_id(run.run_id)
    if not current.is_finished:
        instance.report_run_canceled(current, message="Cancelled with easycrm cancel (run process did not stop)")
    return instance.get_run_by_id(run.run_id).status.value


def add_subcommands(sub) -> None:
    """Register ``status`` and ``cancel`` on the ``easycrm`` parser."""
    p = sub.add_parser("status", help="progress of the run(s) for a file, from Dagster")
    p.add_argument("file", nargs="?")
    p.add_argument("--watch", action="store_true", help="redraw until the run ends")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser("cancel", help="terminate the file's run")
    p.add_argument("file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_cancel)
