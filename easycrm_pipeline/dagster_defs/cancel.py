"""Ending ingest runs from outside: ``easycrm cancel``, the cancel of ``easycrm ingest`` on Ctrl-C, and the run of
a run process that died.

A run tagged ``easycrm/committed`` (its file's leads are stored) is never cancelled: :class:`AlreadyCompleted`.
The collect step writes the whole file in one transaction and checks for a cancel right before it (under the
store's write lock, as :func:`claim_cancel` does), so a cancel stores nothing or is refused.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg

from easycrm_pipeline.config import get_settings
from easycrm_pipeline.dagster_defs.dead_runs import end_dead_run
from easycrm_pipeline.dagster_defs.tags import FILE_NAME_TAG, PID_TAG
from easycrm_pipeline.dagster_defs.pending import pending_run
from easycrm_pipeline.dagster_defs.progress import (
    PARTITION_TAG,
    base_name,
    file_keys,
    find_run,
    find_runs,
    seed_status,
)
from easycrm_pipeline.store import get_store

#: The tag Dagster puts on a run launched by the daemon or the webserver (the value of Dagster's own
#: ``GRPC_INFO_TAG``, kept here so no private ``dagster._`` module is imported): its launcher stops it.
GRPC_INFO_TAG = "dagster/grpc_info"
#: Seconds ``easycrm cancel`` waits for a run ``easycrm ingest`` announced (``pending.py``) to be created.
PENDING_WAIT_SECONDS = 60.0
#: Seconds a CLI run whose pid tag is missing gets to show it.
PID_WAIT_SECONDS = 10.0
#: Seconds a CLI run that exists but has not started executing gets to start (see ``_wait_started``).
START_WAIT_SECONDS = 60.0
_NOT_STARTED = (dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING)
#: Seconds a run process that has not created its run yet gets to end after SIGTERM before it is killed.
STOP_WAIT_SECONDS = 30.0


class AlreadyCompleted(Exception):
    """The run's leads were committed before the cancel could stop it: nothing is cancelled."""


def already_completed(file: str, run_id: str) -> str:
    """The one-line refusal of a cancel that came after the commit."""
    return (f"{file}: already completed: run {run_id[:8]} has stored the file's leads; nothing to cancel "
            f"(`easycrm undo {file}` reverts the import)")


def run_to_cancel(instance, file: str, home: Path, wait: float = PENDING_WAIT_SECONDS):
    """The ``RunRecord`` that ``easycrm cancel FILE`` acts on, or None.

    When an ``easycrm ingest`` of ``file`` has announced a run (a live marker under ``home``: ``pending.py``), the
    run created after the marker - waiting up to ``wait`` seconds while the ingest process lives, for a run
    process still starting; else the file's latest run (``progress.find_runs``).
    """
    marker = pending_run(home, file_keys(file))
    if marker is None:
        records = find_runs(instance, file, 1)
        return records[0] if records else None
    deadline = time.time() + wait
    created_after = datetime.fromtimestamp(marker.since - 1, tz=timezone.utc)
    while True:
        records = instance.get_run_records(
            filters=dg.RunsFilter(tags={PARTITION_TAG: marker.partition}, created_after=created_after), limit=1)
        if records:
            return records[0]
        if time.time() >= deadline or pending_run(home, [marker.partition]) is None:
            records = find_runs(instance, file, 1)  # the ingest ended (or gave up) without a new run
            return records[0] if records else None
        time.sleep(0.25)


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
    file_name = run.tags.get(FILE_NAME_TAG) or base_name(run.tags.get(PARTITION_TAG) or "")
    store = get_store(get_settings())
    with store.atomic():
        if file_name and any(r.get("runId") == run.run_id for r in store.file_imports(file_name)):
            raise AlreadyCompleted(already_completed(file_name, run.run_id))
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


def _cancel_in_queue(instance, run):
    """A queued run (not launched yet) is cancelled in the run queue; returns the run as it is now."""
    if run.status != dg.DagsterRunStatus.QUEUED:
        return run
    try:
        instance.run_coordinator.cancel_run(run.run_id)
    except Exception:  # noqa: BLE001 - the generic path of cancel_run follows
        pass
    return instance.get_run_by_id(run.run_id)


def _run_pid(instance, run):
    """``(run, pid)``: the pid of the ``easycrm ingest`` run process executing ``run`` (None for a run its launcher
    stops); a CLI run whose pid tag is missing yet gets :data:`PID_WAIT_SECONDS` to show it."""
    if GRPC_INFO_TAG in run.tags:
        return run, None  # launched by the daemon or the webserver: a pid tag it may carry is for the reaper
    pid = run.tags.get(PID_TAG)
    deadline = time.time() + PID_WAIT_SECONDS
    while not pid and time.time() < deadline:
        time.sleep(0.25)
        run = instance.get_run_by_id(run.run_id)
        if run.is_finished or GRPC_INFO_TAG in run.tags:
            break
        pid = run.tags.get(PID_TAG)
    return run, pid


def _wait_started(instance, run):
    """A run that exists but whose process has not started executing it (NOT_STARTED / STARTING): wait up to
    :data:`START_WAIT_SECONDS` until it has. Only then do Dagster's interrupt handlers turn a SIGINT into a cancel
    (earlier it would kill the process), and only then would a CANCELING mark not be overwritten by the run's start
    (``JOB_START`` sets STARTED)."""
    deadline = time.time() + START_WAIT_SECONDS
    while run.status in _NOT_STARTED and time.time() < deadline:
        time.sleep(0.25)
        run = instance.get_run_by_id(run.run_id)
    return run


def _stop(instance, run) -> None:
    """Claim the cancel, then interrupt the run's process (SIGINT) or ask its launcher to terminate it."""
    run, pid = _run_pid(instance, run)
    if pid:
        run = _wait_started(instance, run)
    if run.is_finished:
        return
    claim_cancel(instance, run)  # refuses (AlreadyCompleted) once the file's leads are committed
    if pid and _pid_alive(int(pid)):
        os.kill(int(pid), signal.SIGINT)
        return
    try:
        terminated = instance.run_launcher.terminate(run.run_id)
    except Exception:  # noqa: BLE001 - a launcher that cannot reach the run
        terminated = False
    if not terminated:
        run = instance.get_run_by_id(run.run_id)
        if not run.is_finished:
            instance.report_run_canceled(run, message="Cancelled with easycrm cancel (no process to stop)")


def _wait_finished(instance, run_id: str, timeout: float):
    """The run once finished; marked CANCELED if it has not stopped after ``timeout`` seconds."""
    deadline = time.time() + timeout
    current = instance.get_run_by_id(run_id)
    while not current.is_finished and time.time() < deadline:
        time.sleep(0.5)
        current = instance.get_run_by_id(run_id)
    if not current.is_finished:
        instance.report_run_canceled(current, message="Cancelled with easycrm cancel (the run process did not stop)")
        current = instance.get_run_by_id(run_id)
    return current


def cancel_run(instance, run, timeout: float = 60.0) -> str:
    """Terminate ``run`` and wait until Dagster reports it finished; returns the final ``DagsterRunStatus`` value
    (``"CANCELED"`` when the cancel worked).

    - A queued run (not launched yet) is cancelled in the run queue (``run_coordinator.cancel_run``).
    - A run executed by ``easycrm ingest`` (``python -m easycrm_pipeline.cli.run_file``, pid in the run tag
      ``easycrm/pid``) is first marked CANCELING, then interrupted with SIGINT: Dagster interrupts its steps and,
      because a termination was requested, ends the run CANCELED (a bare SIGINT would end it FAILURE, "interrupted
      unexpectedly", and run retries would start it again).
    - A run launched by the daemon or the webserver is terminated through ``instance.run_launcher.terminate``.

    Once the run has ended, any ``deepseek`` pool slot it still holds is freed (run monitoring would do it after
    ``free_slots_after_run_end_seconds`` - but only while the daemon runs). If the run does not stop within
    ``timeout`` seconds it is marked CANCELED anyway.

    Raises:
        AlreadyCompleted: the file's leads are already committed (:func:`claim_cancel`); the run goes on.
    """
    run = _cancel_in_queue(instance, instance.get_run_by_id(run.run_id) or run)
    if not run.is_finished:
        _stop(instance, run)
    current = _wait_finished(instance, run.run_id, timeout)
    try:
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    except Exception:  # noqa: BLE001 - storages without op concurrency
        pass
    return current.status.value


def cancel_file_run(instance, partition: str, proc: subprocess.Popen, since: float) -> tuple[str, str]:
    """Cancel the run that the run process ``proc`` runs for ``partition``, as ``easycrm cancel`` does, and wait
    until it has ended.

    A process that has not created its run yet is stopped with SIGTERM (killed after :data:`STOP_WAIT_SECONDS`);
    a run it created meanwhile is then cancelled.

    Returns:
        ``(seed status, one-line message)``: ``cancelled`` (nothing of the run is stored: the collect step writes
        a file in one transaction), or the status of a run that had already ended (e.g. ``completed``).
    """
    record = find_run(instance, partition, proc.pid, since)
    if record is None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        record = find_run(instance, partition, proc.pid, since)
    if record is None:
        return "cancelled", f"{partition}: stopped before its run started - nothing stored"
    run = instance.get_run_by_id(record.dagster_run.run_id)
    if run.is_finished:
        status = seed_status(run.status.value)
        return status, f"{partition}: run {run.run_id[:8]} had already ended ({status})"
    status = seed_status(cancel_run(instance, run))
    if status == "cancelled":
        return status, f"{partition}: run {run.run_id[:8]} cancelled - nothing of it stored"
    return status, f"{partition}: run {run.run_id[:8]} ended {status} before the cancel reached it"


def cancel_all(instance, files: list[tuple[str, subprocess.Popen]], since: float,
               say: Callable[[str], None]) -> list[tuple[str, str]]:
    """Cancel every file's run at once (:func:`cancel_file_run`), calling ``say`` with each file's message as it
    ends.

    Args:
        files: ``[(partition key, run process)]``; since: epoch seconds before the runs were created.

    Returns:
        ``(status, message)`` per file, in file order (``ended`` for a run process that had already exited).
    """

    def one(item: tuple[str, subprocess.Popen]) -> tuple[str, str]:
        name, proc = item
        if proc.poll() is not None:
            return "ended", f"{name}: its run process had already ended"
        try:
            status, message = cancel_file_run(instance, name, proc, since)
        except Exception as exc:  # noqa: BLE001 - say it for this file, cancel the others
            status, message = "error", f"{name}: could not cancel its run: {exc}"
        say(message)
        return status, message

    with ThreadPoolExecutor(max_workers=max(1, len(files))) as pool:
        return list(pool.map(one, files))


def end_run_of_dead_process(instance, pid: int, returncode: int | None) -> tuple[str | None, str]:
    """A run process that left no result died (killed, out of memory): end its run as failed and free its pool
    slots (``dead_runs.end_dead_run``); returns ``(run id or None, one-line reason)``."""
    how = f"exit code {returncode}"
    if returncode is not None and returncode < 0:
        try:
            how = f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            how = f"killed by signal {-returncode}"
    reason = f"the run process died ({how}; killed, or out of memory)"
    records = instance.get_run_records(filters=dg.RunsFilter(tags={PID_TAG: str(pid)}), limit=1)
    if not records:
        return None, reason + " before its run was created"
    run = records[0].dagster_run
    if run.is_finished:
        return run.run_id, reason + f" after its run ended {run.status.value}"
    end_dead_run(instance, run, reason)
    return run.run_id, reason
