"""Progress of ingest runs, read from Dagster: the run's status is the source of truth (no status table).

What ``easycrm status`` prints and ``easycrm ingest`` draws live. Two halves: :func:`collect_events` reads a
run's event log into :class:`RunEvents`; :func:`run_progress` computes the figures from them (pure helpers below).

Statuses are reported in the old system's words (docs/old-system.md#status-words):

=============  =================================================================================
``uploaded``   the run exists but has not started (QUEUED, NOT_STARTED, STARTING)
``processing`` the run is executing (STARTED)
``completed``  SUCCESS
``error``      FAILURE
``cancelled``  CANCELING or CANCELED
=============  =================================================================================

A run tagged ``easycrm/committed`` (its file's leads are in the store) is ``completed`` whatever its Dagster status
(its asset checks may still run).

Progress comes from the run's event log: the ``parse_file`` step's ``summary`` output metadata (``lead_rows``,
``batches``, ``settled_by_rules``, ``cache_hits``) and ``settled`` output metadata (``leads``); per chunk step
``standardize_chunk[chunk_NNNN]`` its latest progress observation of ``leads`` (logged every 0.5 s while it runs)
or its ``STEP_OUTPUT`` (metadata ``batches_done``, ``rows_done``, ``failed_batches``); ``STEP_FAILURE`` /
``RUN_FAILURE`` events, and the ``collect_leads`` output. A run whose process died is failed first
(``dagster_defs.dead_runs``), so it reads ``error``.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import dagster as dg

from easycrm_pipeline.dagster_defs.dead_runs import reap_dead_runs
from easycrm_pipeline.dagster_defs.tags import FILE_NAME_TAG, PID_TAG
from easycrm_pipeline.dagster_defs.run_marks import is_committed
from easycrm_pipeline.dropzone.rules import cli_partition_key

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
PARTITION_TAG = "dagster/partition"
PARSE_STEP = "leads.parse_file"
COLLECT_STEP = "leads.collect_leads"
STANDARDIZE_STEP = "leads.standardize_chunk["
#: While a run is not completed its percentage stays below 100 (the collect step still has to write the leads).
MAX_RUNNING_PERCENT = 99.9
#: How many runs ``easycrm status`` (no FILE) scans for the recent files list, and how many files it shows.
RECENT_RUNS_SCANNED = 200
RECENT_FILES_SHOWN = 20
#: Seconds between two progress reports of a run process (the issue asks for at least one a second).
POLL_SECONDS = 0.5
FAILURE_PREFIX = "dagster._core.definitions.events.Failure: "
#: The event types :func:`collect_events` reads.
EVENT_KINDS = frozenset({
    dg.DagsterEventType.STEP_OUTPUT,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.ASSET_MATERIALIZATION,
    dg.DagsterEventType.ASSET_OBSERVATION,
    dg.DagsterEventType.RUN_FAILURE,
})


def seed_status(dagster_status: str) -> str:
    """The old system's status word (docs/old-system.md) for a ``DagsterRunStatus`` value (``"STARTED"`` ->
    ``"processing"``)."""
    return SEED_STATUS.get(dagster_status, dagster_status.lower())


def base_name(file: str) -> str:
    """``data/inbox/a.csv`` -> ``a.csv`` (a file is known by its base name: docs/contracts.md#command-line)."""
    return file.rstrip("/").rsplit("/", 1)[-1]


def file_keys(file: str) -> list[str]:
    """The partition keys ``file`` may be known by directly: as given, then the key ``easycrm ingest`` gives a file
    of that base name (escaped, sanitized: ``dropzone.rules.cli_partition_key``)."""
    return list(dict.fromkeys((file, cli_partition_key(base_name(file)))))


def find_runs(instance, file: str | None, limit: int) -> list:
    """Run records, newest first: the runs of ``file`` (partition key, a path whose base name is the key, or the base
    name of a longer partition key), or the latest ``ingest_job`` runs."""
    if not file:
        return list(instance.get_run_records(filters=dg.RunsFilter(job_name="ingest_job"), limit=limit))
    for key in file_keys(file):
        records = list(instance.get_run_records(filters=dg.RunsFilter(tags={PARTITION_TAG: key}), limit=limit))
        if records:
            return records
    # the file may be known by a longer partition key (inbox sub folder, s3://bucket/prefix/...), or be given
    # as the path that was passed to `easycrm ingest` (whose partition key is the base name)
    name = base_name(file)
    out = []
    for key in (k for k in instance.get_dynamic_partitions("lead_files") if k.rsplit("/", 1)[-1] == name):
        out += instance.get_run_records(filters=dg.RunsFilter(tags={PARTITION_TAG: key}), limit=limit)
    return sorted(out, key=lambda r: r.create_timestamp, reverse=True)[:limit]


def find_run(instance, partition: str, pid: int, since: float):
    """The ``RunRecord`` of the run that the run process ``pid`` started for ``partition`` after ``since`` (epoch
    seconds), or None while it has not created its run yet."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(tags={PARTITION_TAG: partition, PID_TAG: str(pid)},
                              created_after=datetime.fromtimestamp(since - 1, tz=timezone.utc)),
        limit=1,
    )
    return records[0] if records else None


def _recent_files(instance) -> list:
    """The latest run record of each recently run file, newest first (at most :data:`RECENT_FILES_SHOWN`)."""
    seen: set[str] = set()
    latest = []
    for record in find_runs(instance, None, RECENT_RUNS_SCANNED):
        key = record.dagster_run.tags.get(PARTITION_TAG) or record.dagster_run.run_id
        if key not in seen:
            seen.add(key)
            latest.append(record)
        if len(latest) >= RECENT_FILES_SHOWN:
            break
    return latest


def file_status(instance, file: str) -> dict[str, Any] | None:
    """:func:`run_progress` of the latest run of ``file`` (partition key or base name), or None if it never ran.
    Runs whose process died are ended first (``dead_runs.reap_dead_runs``), so they read ``error``."""
    reap_dead_runs(instance)
    records = find_runs(instance, file, 1)
    return run_progress(instance, records[0]) if records else None


def recent_files(instance) -> list[dict[str, Any]]:
    """:func:`run_progress` of the latest run of each recent file, newest first."""
    reap_dead_runs(instance)
    return [run_progress(instance, r) for r in _recent_files(instance)]


# ------------------------------------------------------------------------------------------ collect events
@dataclass
class RunEvents:
    """What a run's event log says, before any figure is computed (:func:`collect_events`).

    Attributes:
        total_batches / total_leads: from ``parse_file``'s ``summary`` output (None until parsed);
        rows_read: lead rows ``parse_file`` has read so far (its ``rows_read`` progress observations, logged while
        it parses); settled: rows settled in ``parse_file``; chunks: chunk key -> its latest progress metadata (observation,
        then the step's output); failures: batch -> reason of failed chunk steps; detail: batch -> reason from the
        materialization's ``failed_batches_detail``; collected: ``collect_leads`` stored the file; file_usage:
        the file's ``(tokens, cost USD)`` once stored; error: the run's first failure, one line.
    """

    total_batches: int | None = None
    total_leads: int | None = None
    rows_read: int = 0
    settled: int = 0
    chunks: dict[str, dict] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    detail: dict[str, str] = field(default_factory=dict)
    collected: bool = False
    file_usage: tuple[int, float] | None = None
    error: str | None = None


def _failure_reason(event) -> str:
    data = event.step_failure_data
    if data is None:
        return "step failed"
    if data.user_failure_data is not None and data.user_failure_data.description:
        return data.user_failure_data.description
    if data.error is None:
        return "step failed"
    message = data.error.message.strip().removeprefix(FAILURE_PREFIX)
    return (message.splitlines() or ["step failed"])[0]


def _batch_key(step_key: str) -> str:
    """``leads.standardize_chunk[chunk_0003]`` -> ``chunk_0003``."""
    return step_key[len(STANDARDIZE_STEP) : -1] if step_key.startswith(STANDARDIZE_STEP) else step_key


def _on_step_failure(events: RunEvents, event, _entry) -> None:
    step = event.step_key or ""
    reason = _failure_reason(event)
    if "DagsterExecutionInterruptedError" in reason or "KeyboardInterrupt" in reason:
        reason = "interrupted (the run was cancelled)"
    if step.startswith(STANDARDIZE_STEP):
        events.failures[_batch_key(step)] = reason
    events.error = events.error or (f"{step.removeprefix('leads.')}: {reason}" if step else reason)


def _on_run_failure(events: RunEvents, _event, entry) -> None:
    events.error = events.error or (entry.message or "run failed").splitlines()[0]


def _on_observation(events: RunEvents, event, _entry) -> None:
    md = {k: v.value for k, v in (event.asset_observation_data.asset_observation.metadata or {}).items()}
    if "chunk" in md and "batches_done" in md:
        events.chunks[str(md["chunk"])] = md
    elif "rows_read" in md:
        events.rows_read = max(events.rows_read, int(md["rows_read"]))


def _on_materialization(events: RunEvents, event, _entry) -> None:
    step = event.step_key or ""
    events.collected = events.collected or step == COLLECT_STEP
    md = event.step_materialization_data.materialization.metadata or {}
    if step == COLLECT_STEP and "tokens" in md:
        cost_md = md.get("cost_usd")
        events.file_usage = (int(md["tokens"].value or 0), float(cost_md.value or 0) if cost_md else 0.0)
    if "failed_batches_detail" in md and isinstance(md["failed_batches_detail"].value, dict):
        events.detail.update({str(k): str(v) for k, v in md["failed_batches_detail"].value.items()})


def _on_output(events: RunEvents, event, _entry) -> None:
    step = event.step_key or ""
    output = event.step_output_data
    md = {k: v.value for k, v in (output.metadata or {}).items()}
    if step == PARSE_STEP and output.output_name == "summary":
        events.total_batches = int(md.get("batches", 0))
        events.total_leads = int(md.get("lead_rows", 0))
        events.settled = events.settled or int(md.get("settled_by_rules", 0)) + int(md.get("cache_hits", 0))
    elif step == PARSE_STEP and output.output_name == "settled" and "leads" in md:
        events.settled = int(md["leads"])
    elif step.startswith(STANDARDIZE_STEP) and "batches_done" in md:
        events.chunks[_batch_key(step)] = md
    elif step == COLLECT_STEP:
        events.collected = True


_HANDLERS: dict[Any, Callable[[RunEvents, Any, Any], None]] = {
    dg.DagsterEventType.STEP_FAILURE: _on_step_failure,
    dg.DagsterEventType.RUN_FAILURE: _on_run_failure,
    dg.DagsterEventType.ASSET_OBSERVATION: _on_observation,
    dg.DagsterEventType.ASSET_MATERIALIZATION: _on_materialization,
    dg.DagsterEventType.STEP_OUTPUT: _on_output,
}


def collect_events(instance, run_id: str) -> RunEvents:
    """Read run ``run_id``'s event log (the :data:`EVENT_KINDS`) into a :class:`RunEvents`."""
    events = RunEvents()
    for entry in instance.all_logs(run_id, of_type=set(EVENT_KINDS)):
        event = entry.dagster_event
        if event is not None:
            _HANDLERS[event.event_type](events, event, entry)
    return events


# ------------------------------------------------------------------------------------------ compute figures
@dataclass
class BatchFigures:
    """The sums over the chunk steps (:func:`batch_figures`): batches done, rows of finished batches, DeepSeek
    tokens and cost (USD; ``cost_known`` False once a batch used tokens without recording its cost), and the
    failed batches (batch -> reason)."""

    completed: int = 0
    rows: int = 0
    tokens: int = 0
    cost: float = 0.0
    cost_known: bool = True
    failures: dict[str, str] = field(default_factory=dict)


def batch_figures(events: RunEvents) -> BatchFigures:
    """Sum the chunks' latest progress metadata; the failures: step failures, dead letters, and the reasons the
    ``leads`` materialization gives (they win). Once collected, every batch counts as completed and the file's own
    usage totals (failed attempts included) replace the sums."""
    figures = BatchFigures(failures=dict(events.failures))
    for md in events.chunks.values():
        figures.completed += int(md.get("batches_done", 0))
        figures.rows += int(md.get("rows_done", 0))
        figures.tokens += int(md.get("tokens") or 0)
        figures.cost += float(md.get("cost_usd") or 0)
        figures.cost_known = figures.cost_known and ("cost_usd" in md or not md.get("tokens"))
        for batch, reason in (md.get("failed_batches") or {}).items():
            figures.failures.setdefault(str(batch), f"dead letter: {reason}" if reason else "dead letter")
    figures.failures.update({batch: reason for batch, reason in events.detail.items() if reason})
    if events.collected and events.total_batches is not None:
        figures.completed = events.total_batches  # every batch reached the collect step
    if events.file_usage is not None:
        figures.tokens, figures.cost = events.file_usage
        figures.cost_known = True
    return figures


def processed_leads(events: RunEvents, batch_rows: int) -> int:
    """Rows of finished batches while the run standardizes; every lead row once ``collect_leads`` stored the file,
    or once parsed when no row goes to DeepSeek (the rules settled them all in ``parse_file``)."""
    if events.total_leads is not None and (events.collected or events.total_batches == 0):
        return events.total_leads
    return batch_rows if events.total_leads is None else min(batch_rows, events.total_leads)


def percentage(status: str, processed: int, total_leads: int | None) -> float:
    """0-100, one decimal; below 100 until ``completed``; 100 for a completed run (also with no lead rows)."""
    if status == "completed":
        return 100.0
    if total_leads:
        return min(round(100.0 * processed / total_leads, 1), MAX_RUNNING_PERCENT)
    return 0.0


def _timestamp(value) -> float | None:
    if value is None:
        return None
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


def elapsed_seconds(record, status: str, now: float) -> float:
    """Seconds since the run started, to its end when finished (from its creation if it never started; 0 queued)."""
    start, end = _timestamp(record.start_time), _timestamp(record.end_time)
    if start is not None:
        return max(0.0, (end or now) - start)
    if status == "uploaded":
        return 0.0
    return max(0.0, (end or now) - _timestamp(record.create_timestamp))


def eta_seconds(status: str, elapsed: float, processed: int, total_leads: int | None) -> float | None:
    """Seconds left at the rate so far, while processing (None when not estimable; 0 once every row is done)."""
    if status != "processing" or total_leads is None:
        return None
    if processed >= total_leads:
        return 0.0
    if total_leads and processed > 0:
        return round(elapsed * (total_leads - processed) / processed, 1)
    return None


def stage(status: str, total_batches: int | None, completed: int) -> str:
    """``queued``, ``parsing``, ``standardizing``, ``writing`` while the run goes; else the final status."""
    if status == "uploaded":
        return "queued"
    if status != "processing":
        return status
    if total_batches is None:
        return "parsing"
    return "standardizing" if completed < total_batches else "writing"


def run_progress(instance, record, now: float | None = None) -> dict[str, Any]:
    """Progress of one ingest run, read from its Dagster event log.

    Args:
        instance: the ``DagsterInstance``.
        record: a ``RunRecord`` of ``ingest_job``.
        now: current time (epoch seconds) for a run still going; default ``time.time()``.

    Returns:
        A JSON-ready dict (docs/contracts.md#command-line, ``easycrm status --json``):

        - ``file`` (base name), ``partition`` (the ``lead_files`` key), ``runId``, ``createdAt`` (ISO-8601 UTC);
        - ``status``: the old system's word (``uploaded``, ``processing``, ``completed``, ``error``, ``cancelled``);
          ``dagsterStatus``: the ``DagsterRunStatus`` value;
        - ``totalBatches``: mapped DeepSeek batches of the file (None until ``parse_file`` is done; 0 when the
          offline rules settled every row in ``parse_file``); ``completedBatches``: batches whose step finished
          (dead-lettered batches included); ``failedBatches``: how many batches failed (dead letter or step
          failure); ``failures``: ``[{"batch", "reason"}]`` for them;
        - ``totalLeads``: lead rows of the file (None until parsed); ``rowsRead``: lead rows read so far while
          ``parse_file`` runs (then ``totalLeads``); ``processedLeads``: :func:`processed_leads`;
          ``settledLeads``: rows settled in ``parse_file`` (the ``settled`` output's ``leads`` metadata);
        - ``percentage``: :func:`percentage`; ``elapsedSeconds``: :func:`elapsed_seconds`; ``etaSeconds``:
          :func:`eta_seconds`; ``stage``: :func:`stage`;
        - ``error``: one-line reason of a failed run (None otherwise);
        - ``tokens`` / ``costUsd``: DeepSeek tokens and cost (USD) so far (:func:`batch_figures`); ``costUsd`` is
          None while a finished batch used tokens without recording its cost.
    """
    run = record.dagster_run
    # once collect_leads committed the file's leads the file is completed, even while the asset checks still run
    # or when a cancel from elsewhere (the UI's Terminate) ended the run afterwards
    status = "completed" if is_committed(run.tags) else seed_status(run.status.value)
    events = collect_events(instance, run.run_id)
    figures = batch_figures(events)
    processed = processed_leads(events, figures.rows)
    elapsed = elapsed_seconds(record, status, time.time() if now is None else now)
    created = _timestamp(record.create_timestamp)
    return {
        "file": run.tags.get(FILE_NAME_TAG) or base_name(run.tags.get(PARTITION_TAG) or ""),
        "partition": run.tags.get(PARTITION_TAG),
        "status": status,
        "dagsterStatus": run.status.value,
        "totalBatches": events.total_batches,
        "completedBatches": figures.completed,
        "failedBatches": len(figures.failures),
        "failures": [{"batch": b, "reason": r} for b, r in sorted(figures.failures.items())],
        "processedLeads": processed,
        "totalLeads": events.total_leads,
        "rowsRead": events.total_leads if events.total_leads is not None else events.rows_read,
        "settledLeads": events.settled,
        "percentage": percentage(status, processed, events.total_leads),
        "elapsedSeconds": round(elapsed, 1),
        "etaSeconds": eta_seconds(status, elapsed, processed, events.total_leads),
        "runId": run.run_id,
        "createdAt": datetime.fromtimestamp(created, tz=timezone.utc).isoformat() if created else None,
        "error": events.error if status == "error" else None,
        "stage": stage(status, events.total_batches, figures.completed),
        "tokens": figures.tokens,
        "costUsd": round(figures.cost, 6) if figures.cost_known else None,
    }


class ProgressReporter:
    """In a run process: a daemon thread that hands its run's :func:`run_progress` to ``emit`` every
    :data:`POLL_SECONDS`, and once more when the run has ended (its final state: 100 % when completed).

    ``cli/run_file.py --progress`` prints each as a line for ``easycrm ingest``, which draws them without importing
    Dagster itself (~2.5 s of CPU). A context manager around ``execute_job``.

    Args:
        instance: the ``DagsterInstance``; partition: the run's partition key; since: epoch seconds before the run
            was created (see :func:`find_run`); emit: called with each progress dict.
    """

    def __init__(self, instance, partition: str, since: float, emit: Callable[[dict[str, Any]], None]) -> None:
        self.instance, self.partition, self.since, self._emit = instance, partition, since, emit
        self.run_id: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="easycrm-progress", daemon=True)

    def __enter__(self) -> "ProgressReporter":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.emit()

    def _loop(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            self.emit()

    def emit(self) -> None:
        """Report the run's progress now (nothing while the run does not exist yet; a read that fails this time -
        e.g. a storage busy for a moment - is skipped: the display never stops the run)."""
        try:
            if self.run_id is None:
                record = find_run(self.instance, self.partition, os.getpid(), self.since)
                if record is None:
                    return
                self.run_id = record.dagster_run.run_id
            record = self.instance.get_run_record_by_id(self.run_id)
            if record is not None:
                self._emit(run_progress(self.instance, record))
        except Exception:  # noqa: BLE001 - also a reader of stdout that went away
            return
