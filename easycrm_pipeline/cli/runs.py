"""``easycrm status`` and ``easycrm cancel``: Dagster's run status is the source of truth (no status table).

Statuses are reported in the old system's words (docs/old-system.md#status-words):

=============  =================================================================================
``uploaded``   the run exists but has not started (QUEUED, NOT_STARTED, STARTING)
``processing`` the run is executing (STARTED)
``completed``  SUCCESS
``error``      FAILURE
``cancelled``  CANCELING or CANCELED
=============  =================================================================================

A run tagged ``easycrm/committed`` (its file's leads are in the store) is ``completed`` whatever its Dagster status
(its asset checks may still run), and ``easycrm cancel`` refuses it: "already completed".

Progress comes from the run's event log: the ``parse_file`` step's ``summary`` output metadata (``lead_rows``,
``batches``, ``settled_by_rules``, ``cache_hits``) and ``settled`` output metadata (``leads``); per chunk step
``standardize_chunk[chunk_NNNN]`` its latest progress observation of ``leads`` (logged every 0.5 s while it runs)
or its ``STEP_OUTPUT`` (metadata ``batches_done``, ``rows_done``, ``failed_batches``); ``STEP_FAILURE`` /
``RUN_FAILURE`` events, and the ``collect_leads`` output. A run whose process died is failed first
(``dagster_defs.dead_runs``), so it reads ``error``.
"""
from __future__ import annotations

import json
import os
import signal
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
#: Seed statuses after which nothing changes any more.
FINAL_STATUSES = ("completed", "error", "cancelled")
PARSE_STEP = "leads.parse_file"
COLLECT_STEP = "leads.collect_leads"
STANDARDIZE_STEP = "leads.standardize_chunk["
#: While a run is not completed its percentage stays below 100 (the collect step still has to write the leads).
MAX_RUNNING_PERCENT = 99.9
#: How many runs ``easycrm status`` (no FILE) scans for the recent files list, and how many files it shows.
RECENT_RUNS_SCANNED = 200
RECENT_FILES_SHOWN = 20
#: Seconds between two redraws of ``easycrm status FILE --watch``.
WATCH_INTERVAL_SECONDS = 1.0


def seed_status(dagster_status: str) -> str:
    """The old system's status word (docs/old-system.md) for a ``DagsterRunStatus`` value (``"STARTED"`` ->
    ``"processing"``)."""
    return SEED_STATUS.get(dagster_status, dagster_status.lower())


def _find_runs(instance, file: str | None, limit: int):
    """Run records, newest first: the runs of ``file`` (partition key, a path whose base name is the key, or the base
    name of a longer partition key), or the latest ``ingest_job`` runs."""
    import dagster as dg

    if file:
        from easycrm_pipeline.dropzone.rules import cli_partition_key

        # the key as given, then the key `easycrm ingest` gives a file of that base name (escaped, sanitized)
        for key in dict.fromkeys((file, cli_partition_key(file.rstrip("/").rsplit("/", 1)[-1]))):
            records = list(instance.get_run_records(filters=dg.RunsFilter(tags={"dagster/partition": key}),
                                                    limit=limit))
            if records:
                return records
        # the file may be known by a longer partition key (inbox sub folder, s3://bucket/prefix/...), or be given
        # as the path that was passed to `easycrm ingest` (whose partition key is the base name)
        name = file.rstrip("/").rsplit("/", 1)[-1]
        keys = [k for k in instance.get_dynamic_partitions("lead_files") if k.rsplit("/", 1)[-1] == name]
        out = []
        for key in keys:
            out += instance.get_run_records(filters=dg.RunsFilter(tags={"dagster/partition": key}), limit=limit)
        return sorted(out, key=lambda r: r.create_timestamp, reverse=True)[:limit]
    return list(instance.get_run_records(filters=dg.RunsFilter(job_name="ingest_job"), limit=limit))


def _recent_files(instance) -> list:
    """The latest run record of each recently run file, newest first (at most :data:`RECENT_FILES_SHOWN`)."""
    seen: set[str] = set()
    latest = []
    for record in _find_runs(instance, None, RECENT_RUNS_SCANNED):
        key = record.dagster_run.tags.get("dagster/partition") or record.dagster_run.run_id
        if key in seen:
            continue
        seen.add(key)
        latest.append(record)
        if len(latest) >= RECENT_FILES_SHOWN:
            break
    return latest


def _failure_reason(event) -> str:
    data = event.step_failure_data
    if data is None:
        return "step failed"
    if data.user_failure_data is not None and data.user_failure_data.description:
        return data.user_failure_data.description
    if data.error is not None:
        message = data.error.message.strip()
        prefix = "dagster._core.definitions.events.Failure: "
        if message.startswith(prefix):
            message = message[len(prefix) :]
        return (message.splitlines() or ["step failed"])[0]
    return "step failed"


def _batch_key(step_key: str) -> str:
    """``leads.standardize_chunk[chunk_0003]`` -> ``chunk_0003``."""
    return step_key[len(STANDARDIZE_STEP) : -1] if step_key.startswith(STANDARDIZE_STEP) else step_key


def _timestamp(value) -> float | None:
    if value is None:
        return None
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


def run_progress(instance, record, now: float | None = None) -> dict[str, Any]:
    """Progress of one ingest run, read from its Dagster event log.

    Args:
        instance: the ``DagsterInstance``.
        record: a ``RunRecord`` of ``ingest_job``.
        now: current time (epoch seconds) for a run still going; default ``time.time()``.

    Returns:
        A JSON-ready dict:

        - ``file`` (base name), ``partition`` (the ``lead_files`` key), ``runId``, ``createdAt`` (ISO-8601 UTC);
        - ``status``: the old system's word (``uploaded``, ``processing``, ``completed``, ``error``, ``cancelled``);
          ``dagsterStatus``: the ``DagsterRunStatus`` value;
        - ``totalBatches``: mapped DeepSeek batches of the file (None until ``parse_file`` is done; 0 when the
          offline rules settled every row in ``parse_file``); ``completedBatches``: batches whose step finished
          (dead-lettered batches included); ``failedBatches``: how many batches failed (dead letter or step
          failure); ``failures``: ``[{"batch", "reason"}]`` for them;
        - ``totalLeads``: lead rows of the file (None until parsed); ``processedLeads``: rows of finished batches
          while the run standardizes, every lead row once ``collect_leads`` has stored the file (the rows settled in
          ``parse_file`` without DeepSeek — offline rules, standardization cache — and repeated rows count then);
          ``settledLeads``: rows settled in ``parse_file`` (the ``settled`` output's ``leads`` metadata);
        - ``percentage``: 0–100 (percent, one decimal): ``processedLeads / totalLeads``, kept below 100 until the run
          is ``completed``; 100 for a completed run (also for a file with no lead rows);
        - ``elapsedSeconds``: seconds since the run started (to its end when finished; 0 while queued);
          ``etaSeconds``: estimated seconds left (None when not processing or not yet estimable);
        - ``error``: one-line reason of a failed run (None otherwise);
        - ``stage``: what the run is doing — ``queued``, ``parsing`` (``parse_file`` not done), ``standardizing``
          (batches left), ``writing`` (every batch done, ``collect_leads`` storing the file), or the final status;
        - ``tokens`` / ``costUsd``: DeepSeek tokens and cost (USD) so far: the sum over the chunk steps' latest
          progress metadata (``tokens``, ``cost_usd`` of their finished batches) while the run goes, the file's totals from the ``leads``
          materialization once stored; ``costUsd`` is None while a finished batch used tokens without recording
          its cost (a batch step that records only ``tokens``).
    """
    import dagster as dg

    from easycrm_pipeline.dagster_defs.run_marks import is_committed

    run = record.dagster_run
    # once collect_leads committed the file's leads the file is completed, even while the asset checks still run
    # or when a cancel from elsewhere (the UI's Terminate) ended the run afterwards
    status = "completed" if is_committed(run.tags) else seed_status(run.status.value)
    total_batches = total_leads = None
    settled = 0
    completed = processed_batch_rows = 0
    tokens, cost = 0, 0.0  # DeepSeek usage of finished batches (the file's totals once collected)
    cost_known = True  # False once a batch that used tokens did not record its cost
    file_usage: tuple[int, float] | None = None
    failures: dict[str, str] = {}
    collected = False
    error = None
    detail: dict[str, str] = {}
    kinds = {
        dg.DagsterEventType.STEP_OUTPUT,
        dg.DagsterEventType.STEP_FAILURE,
        dg.DagsterEventType.ASSET_MATERIALIZATION,
        dg.DagsterEventType.ASSET_OBSERVATION,
        dg.DagsterEventType.RUN_FAILURE,
    }
    chunks: dict[str, dict] = {}  # chunk key -> latest progress metadata (observation, then the step's output)
    for entry in instance.all_logs(run.run_id, of_type=kinds):
        event = entry.dagster_event
        if event is None:
            continue
        step = event.step_key or ""
        if event.event_type == dg.DagsterEventType.STEP_FAILURE:
            reason = _failure_reason(event)
            if "DagsterExecutionInterruptedError" in reason or "KeyboardInterrupt" in reason:
                reason = "interrupted (the run was cancelled)"
            if step.startswith(STANDARDIZE_STEP):
                failures[_batch_key(step)] = reason
            error = error or (f"{step.removeprefix('leads.')}: {reason}" if step else reason)
            continue
        if event.event_type == dg.DagsterEventType.RUN_FAILURE:
            error = error or (entry.message or "run failed").splitlines()[0]
            continue
        if event.event_type == dg.DagsterEventType.ASSET_OBSERVATION:
            md = {k: v.value for k, v in (event.asset_observation_data.asset_observation.metadata or {}).items()}
            if "chunk" in md and "batches_done" in md:
                chunks[str(md["chunk"])] = md
            continue
        if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            collected = collected or step == COLLECT_STEP
            md = event.step_materialization_data.materialization.metadata or {}
            if step == COLLECT_STEP and "tokens" in md:
                cost_md = md.get("cost_usd")
                file_usage = (int(md["tokens"].value or 0), float(cost_md.value or 0) if cost_md else 0.0)
            if "failed_batches_detail" in md and isinstance(md["failed_batches_detail"].value, dict):
                detail.update({str(k): str(v) for k, v in md["failed_batches_detail"].value.items()})
            continue
        output = event.step_output_data
        md = {k: v.value for k, v in (output.metadata or {}).items()}
        if step == PARSE_STEP and output.output_name == "summary":
            total_batches = int(md.get("batches", 0))
            total_leads = int(md.get("lead_rows", 0))
            settled = settled or int(md.get("settled_by_rules", 0)) + int(md.get("cache_hits", 0))
        elif step == PARSE_STEP and output.output_name == "settled" and "leads" in md:
            settled = int(md["leads"])
        elif step.startswith(STANDARDIZE_STEP) and "batches_done" in md:
            chunks[_batch_key(step)] = md
        elif step == COLLECT_STEP:
            collected = True
    for md in chunks.values():
        completed += int(md.get("batches_done", 0))
        processed_batch_rows += int(md.get("rows_done", 0))
        tokens += int(md.get("tokens") or 0)
        cost += float(md.get("cost_usd") or 0)
        cost_known = cost_known and ("cost_usd" in md or not md.get("tokens"))
        for batch, reason in (md.get("failed_batches") or {}).items():
            failures.setdefault(str(batch), f"dead letter: {reason}" if reason else "dead letter")
    for batch, reason in detail.items():
        if reason:
            failures[batch] = reason
    if collected and total_batches is not None:
        completed = total_batches  # every batch reached the collect step
    if file_usage is not None:
        tokens, cost = file_usage  # the file's own totals (failed attempts included)
        cost_known = True
    if collected and total_leads is not None:
        processed = total_leads  # collect_leads stored (or quarantined) every row of the file
    else:
        processed = processed_batch_rows if total_leads is None else min(processed_batch_rows, total_leads)

    if status == "completed":
        pct = 100.0
    elif total_leads:
        pct = min(round(100.0 * processed / total_leads, 1), MAX_RUNNING_PERCENT)
    else:
        pct = 0.0

    now = time.time() if now is None else now
    start = _timestamp(record.start_time)
    end = _timestamp(record.end_time)
    if start is None:
        elapsed = 0.0 if status == "uploaded" else max(0.0, (end or now) - _timestamp(record.create_timestamp))
    else:
        elapsed = max(0.0, (end or now) - start)
    eta = None
    if status == "processing" and total_leads and 0 < processed < total_leads:
        eta = round(elapsed * (total_leads - processed) / processed, 1)
    elif status == "processing" and total_leads is not None and processed >= total_leads:
        eta = 0.0
    if status == "uploaded":
        stage = "queued"
    elif status != "processing":
        stage = status
    elif total_batches is None:
        stage = "parsing"
    elif completed < total_batches:
        stage = "standardizing"
    else:
        stage = "writing"

    created = _timestamp(record.create_timestamp)
    return {
        "file": run.tags.get("easycrm/file_name") or (run.tags.get("dagster/partition") or "").rsplit("/", 1)[-1],
        "partition": run.tags.get("dagster/partition"),
        "status": status,
        "dagsterStatus": run.status.value,
        "totalBatches": total_batches,
        "completedBatches": completed,
        "failedBatches": len(failures),
        "failures": [{"batch": b, "reason": r} for b, r in sorted(failures.items())],
        "processedLeads": processed,
        "totalLeads": total_leads,
        "settledLeads": settled,
        "percentage": pct,
        "elapsedSeconds": round(elapsed, 1),
        "etaSeconds": eta,
        "runId": run.run_id,
        "createdAt": datetime.fromtimestamp(created, tz=timezone.utc).isoformat() if created else None,
        "error": error if status == "error" else None,
        "stage": stage,
        "tokens": tokens,
        "costUsd": round(cost, 6) if cost_known else None,
    }


def _reap(instance) -> None:
    """End the runs whose process died (so they read ``error``, not ``processing`` for ever)."""
    from easycrm_pipeline.dagster_defs.dead_runs import reap_dead_runs

    reap_dead_runs(instance)


def file_status(instance, file: str) -> dict[str, Any] | None:
    """:func:`run_progress` of the latest run of ``file`` (partition key or base name), or None if it never ran."""
    _reap(instance)
    records = _find_runs(instance, file, 1)
    return run_progress(instance, records[0]) if records else None


def recent_files(instance) -> list[dict[str, Any]]:
    """:func:`run_progress` of the latest run of each recent file, newest first."""
    _reap(instance)
    return [run_progress(instance, r) for r in _recent_files(instance)]


def _cmd_status(args) -> int:
    from easycrm_pipeline.cli.instance import get_instance
    from easycrm_pipeline.cli.main import UsageError

    instance = get_instance()
    if not args.file:
        files = recent_files(instance)
        if args.json:
            print(json.dumps({"files": files}, default=str, ensure_ascii=False))
        else:
            _print_table(files)
        return 0
    progress = file_status(instance, args.file)
    if progress is None:
        raise UsageError(f"no run found for {args.file!r}")
    if args.json:
        print(json.dumps(progress, default=str, ensure_ascii=False))
        return 0
    if args.watch and progress["status"] not in FINAL_STATUSES:
        progress = _watch(instance, args.file, progress)
    else:
        _print_table([progress])
    _print_problems(progress)
    return 0


def _console():
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=200)


def _table(progress: list[dict]):
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    table = Table()
    for col in ("file", "status", "batches", "leads", "progress", "%", "elapsed s", "ETA s", "run"):
        table.add_column(col)
    for p in progress:
        # until parse_file has counted the file there is nothing to show as n/total: say "starting" (issue 14)
        starting = p["totalBatches"] is None and p["status"] in ("uploaded", "processing")
        table.add_row(
            str(p["file"]),
            "starting" if p["status"] == "uploaded" else p["status"],
            "starting" if starting else f"{p['completedBatches']}/{p['totalBatches'] if p['totalBatches'] is not None else '-'}",
            "starting" if starting else f"{p['processedLeads']}/{p['totalLeads'] if p['totalLeads'] is not None else '-'}",
            ProgressBar(total=100, completed=p["percentage"], width=30),
            f"{p['percentage']:.1f}",
            f"{p['elapsedSeconds']:.1f}",
            "" if p["etaSeconds"] is None else f"{p['etaSeconds']:.0f}",
            p["runId"][:8],
        )
    return table


def _print_table(progress: list[dict]) -> None:
    _console().print(_table(progress))


def _print_problems(p: dict) -> None:
    for failure in p["failures"]:
        print(f"{p['file']}: {failure['batch']} failed: {failure['reason']}", file=sys.stderr)
    if p["error"]:
        print(f"{p['file']}: {p['error']}", file=sys.stderr)


def _watch(instance, file: str, progress: dict) -> dict:
    """Redraw the progress bar every :data:`WATCH_INTERVAL_SECONDS` until the run ends; returns the last progress."""
    from rich.live import Live

    with Live(_table([progress]), console=_console(), refresh_per_second=4) as live:
        while progress["status"] not in FINAL_STATUSES:
            time.sleep(WATCH_INTERVAL_SECONDS)
            progress = file_status(instance, file) or progress
            live.update(_table([progress]))
    return progress


def _cmd_cancel(args) -> int:
    from easycrm_pipeline.cli.instance import get_instance
    from easycrm_pipeline.cli.main import UsageError
    from easycrm_pipeline.dagster_defs.run_marks import is_committed

    instance = get_instance()
    records = _find_runs(instance, args.file, 1)
    if not records:
        raise UsageError(f"no run found for {args.file!r}")
    run = records[0].dagster_run
    if is_committed(run.tags):
        raise UsageError(_already_completed(args.file, run.run_id))
    if run.is_finished:
        raise UsageError(f"{args.file}: the run {run.run_id[:8]} already ended ({seed_status(run.status.value)})")
    try:
        status = cancel_run(instance, run)
    except AlreadyCompleted as exc:
        raise UsageError(str(exc)) from exc
    doc = {"file": args.file, "runId": run.run_id, "status": seed_status(status), "dagsterStatus": status}
    if args.json:
        print(json.dumps(doc))
    else:
        print(f"{args.file}: run {run.run_id[:8]} {doc['status']}")
    return 0 if doc["status"] == "cancelled" else 1


class AlreadyCompleted(Exception):
    """The run's leads were committed before the cancel could stop it: nothing is cancelled."""


def _already_completed(file: str, run_id: str) -> str:
    return (f"{file}: already completed: run {run_id[:8]} has stored the file's leads; nothing to cancel "
            f"(`easycrm undo {file}` reverts the import)")


def claim_cancel(instance, run) -> None:
    """Mark ``run`` CANCELING unless its file's leads are committed, atomically with respect to that commit.

    Under the store's write lock (``store.atomic()``: on DuckDB the lock ``collect_leads`` holds while it writes
    the file) the store's import record is checked for ``run``; when there is none the run is marked CANCELING
    before the lock is released. ``collect_leads`` checks the run's status under the same lock right before it
    writes (``before_commit``), so either the cancel lands first and nothing of the file is stored, or the commit
    lands first and the cancel is refused. (DynamoDB has no such lock: its check only narrows the window.)

    Raises:
        AlreadyCompleted: the store holds the run's import.
    """
    import dagster as dg

    from easycrm_pipeline.config import get_settings
    from easycrm_pipeline.dagster_defs.ops import FILE_NAME_TAG
    from easycrm_pipeline.store import get_store

    file_name = run.tags.get(FILE_NAME_TAG) or (run.tags.get("dagster/partition") or "").rsplit("/", 1)[-1]
    store = get_store(get_settings())
    with store.atomic():
        if file_name and any(r.get("runId") == run.run_id for r in store.file_imports(file_name)):
            raise AlreadyCompleted(_already_completed(file_name, run.run_id))
        current = instance.get_run_by_id(run.run_id) or run
        if not current.is_finished and current.status != dg.DagsterRunStatus.CANCELING:
            instance.report_run_canceling(current, message="Cancel requested with easycrm cancel")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cancel_run(instance, run, timeout: float = 60.0) -> str:
    """Terminate ``run`` and wait until Dagster reports it finished; returns the final ``DagsterRunStatus`` value
    (``"CANCELED"`` when the cancel worked).

    - A queued run (not launched yet) is cancelled in the run queue (``run_coordinator.cancel_run``).
    - A run executed by ``easycrm ingest`` (``python -m easycrm_pipeline.cli.run_file``, pid in the run tag
      ``easycrm/pid``) is first marked CANCELING, then interrupted with SIGINT: Dagster interrupts its steps and,
      because a termination was requested, ends the run CANCELED (a bare SIGINT would end it FAILURE, "interrupted
      unexpectedly", and run retries would start it again).
    - A run launched by the daemon or the webserver is terminated through ``instance.run_launcher.terminate``.

    A run whose file's leads are already committed is not cancelled: :func:`claim_cancel` raises
    :class:`AlreadyCompleted` (its status is ``completed``). The collect step writes the whole file in one
    transaction and checks for a cancel right before it, so no half-written batch is ever stored. Once the
    run has ended, any ``deepseek`` pool slot it still holds is freed (run monitoring would do it after
    ``free_slots_after_run_end_seconds`` — but only while the daemon runs). If the run does not stop within
    ``timeout`` seconds it is marked CANCELED anyway.
    """
    import dagster as dg
    from dagster._core.storage.tags import GRPC_INFO_TAG

    from easycrm_pipeline.dagster_defs.ops import PID_TAG

    run_id = run.run_id
    run = instance.get_run_by_id(run_id) or run
    if run.status == dg.DagsterRunStatus.QUEUED:
        try:
            instance.run_coordinator.cancel_run(run_id)
        except Exception:  # noqa: BLE001 - fall through to the generic path below
            pass
        run = instance.get_run_by_id(run_id)
    if not run.is_finished:
        # a run launched by the daemon or the webserver carries a pid too (its parse step tags it for the dead-run
        # reaper), but its launcher is the one to stop it
        pid = None if GRPC_INFO_TAG in run.tags else run.tags.get(PID_TAG)
        if not pid and GRPC_INFO_TAG not in run.tags:
            # a CLI run whose parse step has not tagged its pid yet: give it a moment
            deadline = time.time() + 10.0
            while not pid and time.time() < deadline:
                time.sleep(0.25)
                run = instance.get_run_by_id(run_id)
                if run.is_finished or GRPC_INFO_TAG in run.tags:
                    break
                pid = run.tags.get(PID_TAG)
        if not run.is_finished:
            claim_cancel(instance, run)  # refuses (AlreadyCompleted) once the file's leads are committed
        if pid and _pid_alive(int(pid)) and not run.is_finished:
            os.kill(int(pid), signal.SIGINT)
        elif not run.is_finished:
            try:
                terminated = instance.run_launcher.terminate(run_id)
            except Exception:  # noqa: BLE001 - a launcher that cannot reach the run
                terminated = False
            if not terminated:
                run = instance.get_run_by_id(run_id)
                if not run.is_finished:
                    instance.report_run_canceled(run, message="Cancelled with easycrm cancel (no process to stop)")
    deadline = time.time() + timeout
    current = instance.get_run_by_id(run_id)
    while not current.is_finished and time.time() < deadline:
        time.sleep(0.5)
        current = instance.get_run_by_id(run_id)
    if not current.is_finished:
        instance.report_run_canceled(current, message="Cancelled with easycrm cancel (the run process did not stop)")
        current = instance.get_run_by_id(run_id)
    try:
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    except Exception:  # noqa: BLE001 - storages without op concurrency
        pass
    return current.status.value


def add_subcommands(sub) -> None:
    """Register ``status`` and ``cancel`` on the ``easycrm`` parser."""
    p = sub.add_parser("status", help="progress of a file's latest run, from Dagster; or the recent files")
    p.add_argument("file", nargs="?", help="partition key or file name; without it: recent files, newest first")
    p.add_argument("--watch", action="store_true", help="redraw the progress bar until the run ends")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser("cancel", help="terminate the file's run (its status becomes cancelled)")
    p.add_argument("file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_cancel)
