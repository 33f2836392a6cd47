"""What ``easycrm ingest`` shows and does while its runs go: one live progress line per file on a terminal, and
the cancel of its runs on Ctrl-C / SIGTERM.

Every figure on a progress line comes from :func:`easycrm_pipeline.cli.runs.run_progress` (the same reading of the
run's Dagster event log as ``easycrm status``), computed in the file's run process (:class:`ProgressReporter`,
which has Dagster loaded already) and sent to ``easycrm ingest`` as a line on its stdout; this module only finds each
file's run and formats the dict.
A run process started by ``easycrm ingest`` tags its run with its own pid (``easycrm/pid``), so the run of a
process is the run of its file with that pid tag, created after the ingest started.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from datetime import datetime, timezone
from typing import Any

#: Seconds between two redraws of the progress lines (the issue asks for at least one a second).
POLL_SECONDS = 0.5
#: How a run process started with ``--progress`` prefixes its progress lines on stdout.
PROGRESS_PREFIX = "EASYCRM_PROGRESS "
#: Seconds a run process that has not created its run yet gets to end after SIGTERM before it is killed.
STOP_WAIT_SECONDS = 30.0


def find_run(instance, file_name: str, pid: int, since: float):
    """The ``RunRecord`` of the run that the run process ``pid`` started for ``file_name`` (partition key) after
    ``since`` (epoch seconds), or None while it has not created its run yet."""
    import dagster as dg

    from easycrm_pipeline.dagster_defs.ops import PID_TAG

    records = instance.get_run_records(
        filters=dg.RunsFilter(
            tags={"dagster/partition": file_name, PID_TAG: str(pid)},
            created_after=datetime.fromtimestamp(since - 1, tz=timezone.utc),
        ),
        limit=1,
    )
    return records[0] if records else None


def leads_per_second(progress: dict[str, Any]) -> float | None:
    """``processedLeads / elapsedSeconds`` of a :func:`run_progress` dict (None before any lead or second)."""
    if not progress.get("processedLeads") or not progress.get("elapsedSeconds"):
        return None
    return progress["processedLeads"] / progress["elapsedSeconds"]


def progress_cells(progress: dict[str, Any] | None, file_name: str) -> list[str]:
    """The cells of one file's progress line (file, stage, %, batches, leads, leads/s, ETA, tokens, cost,
    dead-lettered batches, elapsed) from a :func:`run_progress` dict, or the ``starting`` line while the file's run
    process has not created its run (``progress`` None)."""
    if progress is None:
        return [file_name, "starting", "0.0 %", "", "", "", "", "", "", "", ""]
    p = progress
    batches = f"{p['completedBatches']}/{'?' if p['totalBatches'] is None else p['totalBatches']} batches"
    leads = f"{p['processedLeads']}/{'?' if p['totalLeads'] is None else p['totalLeads']} leads"
    rate = leads_per_second(p)
    eta = p.get("etaSeconds")
    return [
        file_name,
        p.get("stage") or p["status"],
        f"{p['percentage']:.1f} %",
        batches,
        leads,
        "- leads/s" if rate is None else f"{rate:,.1f} leads/s",
        "ETA -" if eta is None else f"ETA {eta:,.0f} s",
        f"{p.get('tokens') or 0:,} tokens",
        "$-" if p.get("costUsd") is None else f"${p['costUsd']:,.4f}",
        f"{p['failedBatches']} dead-lettered",
        f"{p['elapsedSeconds']:,.1f} s",
    ]


class LiveProgress:
    """The live lines (a ``rich.live.Live`` redrawn by :meth:`update`, no refresh thread of its own).

    Use as a context manager; :meth:`update` takes ``[(file_name, progress dict or None)]`` in file order.
    """

    def __init__(self, console=None) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = console or Console()
        self._live = Live(console=self.console, auto_refresh=False, transient=False)

    def __enter__(self) -> "LiveProgress":
        self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.stop()

    def update(self, rows: list[tuple[str, dict[str, Any] | None]]) -> None:
        """Redraw every file's line now."""
        from rich.table import Table

        grid = Table.grid(padding=(0, 2))
        for _ in range(11):
            grid.add_column(no_wrap=True)
        for name, progress in rows:
            grid.add_row(*progress_cells(progress, name))
        self._live.update(grid, refresh=True)


class Interrupts:
    """SIGINT / SIGTERM / SIGHUP while ``easycrm ingest`` waits: the first sets :attr:`event` (the caller cancels
    its runs), a second ends the process at once with exit code 130 (the runs already told to stop end by
    themselves). SIGHUP (the terminal closed) counts too: the run processes, in their own process groups, would
    otherwise go on with nobody reading their output.

    A context manager; outside the main thread (where Python cannot install signal handlers) it does nothing.
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name: str | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> "Interrupts":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

    def _handle(self, signum, _frame) -> None:
        if self.event.is_set():
            try:
                if os.isatty(1):
                    os.write(1, b"\x1b[?25h\n")  # the live display may have hidden the cursor (no buffered I/O)
                os.write(2, b"easycrm ingest: interrupted again - exiting now; runs not yet told to stop go on "
                            b"(easycrm status / easycrm cancel FILE)\n")
            finally:
                os._exit(130)
        self.signal_name = signal.Signals(signum).name
        self.event.set()


def cancel_file_run(instance, file_name: str, proc, since: float) -> tuple[str, str]:
    """Cancel the run that the run process ``proc`` (a ``subprocess.Popen``) runs for ``file_name``, as
    ``easycrm cancel`` does (:func:`easycrm_pipeline.cli.runs.cancel_run`), and wait until it has ended.

    A process that has not created its run yet is stopped with SIGTERM (killed after :data:`STOP_WAIT_SECONDS`);
    a run it created meanwhile is then marked CANCELED.

    Returns:
        ``(seed status, one-line message)``: ``cancelled`` (nothing of the run is stored: the collect step writes
        a file in one transaction), or the status of a run that had already ended (e.g. ``completed``).
    """
    import subprocess

    from easycrm_pipeline.cli.runs import cancel_run, seed_status

    record = find_run(instance, file_name, proc.pid, since)
    if record is None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        record = find_run(instance, file_name, proc.pid, since)
    if record is None:
        return "cancelled", f"{file_name}: stopped before its run started - nothing stored"
    run = instance.get_run_by_id(record.dagster_run.run_id)
    if run.is_finished:
        status = seed_status(run.status.value)
        return status, f"{file_name}: run {run.run_id[:8]} had already ended ({status})"
    status = seed_status(cancel_run(instance, run))
    if status == "cancelled":
        return status, f"{file_name}: run {run.run_id[:8]} cancelled - nothing of it stored"
    return status, f"{file_name}: run {run.run_id[:8]} ended {status} before the cancel reached it"


class ProgressReporter:
    """In a run process (``run_file --progress``): a daemon thread that prints its run's
    :func:`~easycrm_pipeline.cli.runs.run_progress` as one line ``EASYCRM_PROGRESS {json}`` on stdout every
    :data:`POLL_SECONDS`, and once more when the run has ended (its final state: 100 % when completed).

    The run process has Dagster and the instance loaded already, so ``easycrm ingest`` draws the lines without
    importing Dagster itself (~2.5 s of CPU). A context manager around ``execute_job``.

    Args:
        instance: the ``DagsterInstance``; file_name: the run's partition key; since: epoch seconds before the run
            was created (see :func:`find_run`).
    """

    def __init__(self, instance, file_name: str, since: float) -> None:
        self.instance, self.file_name, self.since = instance, file_name, since
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
        """Print the run's progress now (nothing while the run does not exist yet; a read that fails this time -
        e.g. a storage busy for a moment - is skipped: the display never stops the run)."""
        import json

        from easycrm_pipeline.cli.runs import run_progress

        try:
            if self.run_id is None:
                record = find_run(self.instance, self.file_name, os.getpid(), self.since)
                if record is None:
                    return
                self.run_id = record.dagster_run.run_id
            record = self.instance.get_run_record_by_id(self.run_id)
            if record is None:
                return
            print(PROGRESS_PREFIX + json.dumps(run_progress(self.instance, record), default=str), flush=True)
        except Exception:  # noqa: BLE001 - also a reader of stdout that went away
            return


def parse_progress(line: str) -> dict[str, Any] | None:
    """The :func:`run_progress` dict of an ``EASYCRM_PROGRESS`` line of a run process, else None."""
    import json

    if not line.startswith(PROGRESS_PREFIX):
        return None
    try:
        return json.loads(line[len(PROGRESS_PREFIX) :])
    except ValueError:
        return None


def cancel_all(files: list, since: float) -> list[tuple[str, str]]:
    """Cancel every file's run at once (:func:`cancel_file_run`), saying so per file on stderr as each ends.

    Args:
        files: ``[(file name, run process)]``; since: epoch seconds before the runs were created (:func:`find_run`).

    Returns:
        ``(status, message)`` per file, in file order (``ended`` for a run process that had already exited).
    """
    from concurrent.futures import ThreadPoolExecutor

    from easycrm_pipeline.cli.instance import get_instance

    _say(f"easycrm ingest: interrupted - cancelling the runs of {len(files)} file(s) through Dagster "
         "(interrupt again to exit at once)")
    instance = get_instance()

    def one(item):
        name, proc = item
        if proc.poll() is not None:
            return "ended", f"{name}: its run process had already ended"
        try:
            status, message = cancel_file_run(instance, name, proc, since)
        except Exception as exc:  # noqa: BLE001 - say it for this file, cancel the others
            status, message = "error", f"{name}: could not cancel its run: {exc}"
        _say(f"easycrm ingest: {message}")
        return status, message

    with ThreadPoolExecutor(max_workers=max(1, len(files))) as pool:
        return list(pool.map(one, files))


def _say(line: str) -> None:
    """One line on stderr, as it happens; a terminal that went away (SIGHUP) does not stop the cancel."""
    try:
        print(line, file=sys.stderr, flush=True)
    except OSError:
        pass
