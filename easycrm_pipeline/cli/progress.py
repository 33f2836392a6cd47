"""What ``easycrm ingest`` shows while its runs go: one live progress line per file on a terminal, and the
signals (Ctrl-C / SIGTERM / SIGHUP) that make it cancel its runs.

Every figure on a progress line comes from :func:`easycrm_pipeline.dagster_defs.progress.run_progress` (the same
reading of the run's Dagster event log as ``easycrm status``), computed in the file's run process
(``dagster_defs.progress.ProgressReporter``, which has Dagster loaded already) and sent to ``easycrm ingest`` as a
line ``EASYCRM_PROGRESS {json}`` on its stdout; this module only parses and formats the dict. No Dagster here.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

#: Seconds between two redraws of the progress lines (the issue asks for at least one a second).
POLL_SECONDS = 0.5
#: How a run process started with ``--progress`` prefixes its progress lines on stdout.
PROGRESS_PREFIX = "EASYCRM_PROGRESS "


def leads_per_second(progress: dict[str, Any]) -> float | None:
    """``processedLeads / elapsedSeconds`` of a :func:`run_progress` dict (None before any lead or second)."""
    if not progress.get("processedLeads") or not progress.get("elapsedSeconds"):
        return None
    return progress["processedLeads"] / progress["elapsedSeconds"]


#: The cells that speak of DeepSeek (batches, tokens, cost, dead-lettered batches): left out of an offline line.
DEEPSEEK_CELLS = (3, 7, 8, 9)


def progress_cells(progress: dict[str, Any] | None, file_name: str, deepseek: bool = True) -> list[str]:
    """The cells of one file's progress line (file, stage, %, batches, leads, leads/s, ETA, tokens, cost,
    dead-lettered batches, elapsed) from a :func:`run_progress` dict, or the ``starting`` line while the file's run
    process has not created its run (``progress`` None). Without ``deepseek`` (offline: the rules settle every row)
    the cells of :data:`DEEPSEEK_CELLS`, always 0 then, are left out, so the line fits a narrow terminal."""
    cells = _all_cells(progress, file_name)
    return cells if deepseek else [c for i, c in enumerate(cells) if i not in DEEPSEEK_CELLS]


def _all_cells(progress: dict[str, Any] | None, file_name: str) -> list[str]:
    if progress is None:
        return [file_name, "starting", "0.0 %", "", "", "", "", "", "", "", ""]
    p = progress
    batches = f"{p['completedBatches']}/{'?' if p['totalBatches'] is None else p['totalBatches']} batches"
    leads = f"{p['processedLeads']}/{'?' if p['totalLeads'] is None else p['totalLeads']} leads"
    rate, unit = leads_per_second(p), "leads"
    if p["totalLeads"] is None and p.get("rowsRead"):  # still parsing: the rows read so far, at their rate
        leads = f"{p['rowsRead']:,} rows read"
        rate, unit = (p["rowsRead"] / p["elapsedSeconds"] if p.get("elapsedSeconds") else None), "rows"
    eta = p.get("etaSeconds")
    return [
        file_name,
        p.get("stage") or p["status"],
        f"{p['percentage']:.1f} %",
        batches,
        leads,
        f"- {unit}/s" if rate is None else f"{rate:,.1f} {unit}/s",
        "ETA -" if eta is None else f"ETA {eta:,.0f} s",
        f"{p.get('tokens') or 0:,} tokens",
        "$-" if p.get("costUsd") is None else f"${p['costUsd']:,.4f}",
        f"{p['failedBatches']} dead-lettered",
        f"{p['elapsedSeconds']:,.1f} s",
    ]


class LiveProgress:
    """The live lines (a ``rich.live.Live`` redrawn by :meth:`update`, no refresh thread of its own).

    Use as a context manager; :meth:`update` takes ``[(file_name, progress dict or None)]`` in file order.
    ``deepseek`` False: offline lines (:func:`progress_cells`).
    """

    def __init__(self, console=None, deepseek: bool = True) -> None:
        self.console = console or Console(markup=False)
        self.deepseek = deepseek
        self._live = Live(console=self.console, auto_refresh=False, transient=False)

    def __enter__(self) -> "LiveProgress":
        self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.stop()

    def update(self, rows: list[tuple[str, dict[str, Any] | None]]) -> None:
        """Redraw every file's line now."""
        grid = Table.grid(padding=(0, 2))
        for _ in range(11):
            grid.add_column(no_wrap=True)
        for name, progress in rows:
            grid.add_row(*progress_cells(progress, name, self.deepseek))
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


def parse_progress(line: str) -> dict[str, Any] | None:
    """The :func:`run_progress` dict of an ``EASYCRM_PROGRESS`` line of a run process, else None."""
    if not line.startswith(PROGRESS_PREFIX):
        return None
    try:
        return json.loads(line[len(PROGRESS_PREFIX) :])
    except ValueError:
        return None


def say(line: str) -> None:
    """One line on stderr, as it happens; a terminal that went away (SIGHUP) does not stop the cancel."""
    try:
        print(line, file=sys.stderr, flush=True)
    except OSError:
        pass
