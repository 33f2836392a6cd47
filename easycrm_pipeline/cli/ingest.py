"""``easycrm ingest PATH...``: one Dagster run per file, all at once, then wait (docs/contracts.md#command-line).

This process only waits: Dagster is imported by the run processes (``cli/run_file.py``), which open the instance
(and create a new one's storage) one at a time under a file lock and add their own partition - ~80 MB less resident
memory here. Only a Ctrl-C (cancel the runs) or a run process that died (end its run) loads Dagster here
(:func:`_run_ends`).
"""
from __future__ import annotations

import contextlib
import shlex
import sys
import tempfile
from pathlib import Path

import click
from rich.table import Table

from easycrm_pipeline.cli.app import UsageError, console, json_option, print_json, show_table
from easycrm_pipeline.cli.instance import ensure_dagster_home, get_instance
from easycrm_pipeline.cli.progress import POLL_SECONDS, Interrupts, LiveProgress, say
from easycrm_pipeline.cli.run_process import RunProcess
from easycrm_pipeline.config import get_settings
from easycrm_pipeline.dagster_defs.pending import announce
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
#: Terminal columns below which the result is printed one file at a time (the 13-column table would cut values).
WIDE_TABLE_COLUMNS = 130
#: What `easycrm ingest` accepts: the drop zones' list (delimited text .csv/.tsv/.txt, workbooks .xlsx/.xlsm/.xls).
SUPPORTED_SUFFIXES = tuple(sorted(LEAD_EXTENSIONS))


class IngestInterrupted(Exception):
    """``easycrm ingest`` got SIGINT/SIGTERM and cancelled its runs; ``outcomes`` as :func:`ingest` returns them
    (the cancelled files with ``status`` ``cancelled``), ``messages`` one line per file that says what happened."""

    def __init__(self, outcomes: list[dict], messages: list[str], signal_name: str | None) -> None:
        super().__init__(signal_name or "interrupted")
        self.outcomes, self.messages, self.signal_name = outcomes, messages, signal_name


def _check_path(raw: str) -> Path:
    path = Path(raw)
    if path.is_dir():
        raise UsageError(f"{raw}: is a folder; name the files (e.g. {raw.rstrip('/')}/*.csv)")
    if not path.is_file():
        raise UsageError(f"{raw}: no such file")
    if path.stat().st_size == 0:
        raise UsageError(f"{raw}: file is empty")
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise UsageError(f"{raw}: not a lead file (expected {', '.join(SUPPORTED_SUFFIXES)})")
    return path.resolve()


def check_paths(paths: list[str]) -> list[Path]:
    """The resolved lead files; raises :class:`UsageError` for a folder, a missing, empty or unsupported file, or
    two files sharing a base name (one partition per file)."""
    resolved = [_check_path(raw) for raw in paths]
    names = [cli_partition_key(p.name) for p in resolved]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageError(f"two files share the name {dupes[0]!r}; ingest them one at a time")
    return resolved


def _run_ends():
    """``dagster_defs.cancel`` and the instance, imported only when a run must be ended from here (Ctrl-C, a run
    process that died): importing them loads Dagster, which this waiting process otherwise never does."""
    from easycrm_pipeline.dagster_defs import cancel  # noqa: PLC0415 - loads Dagster: only when needed

    return cancel, get_instance()


def _wait(runs: list[RunProcess], interrupts: Interrupts, progress: bool) -> None:
    """Wait until every run process has ended or a signal came; redraw the live lines meanwhile (with ``progress``;
    once more after the runs ended: each line ends at its final state, 100 % if completed)."""
    deepseek = get_settings().llm_enabled
    with LiveProgress(console(), deepseek=deepseek) if progress else contextlib.nullcontext() as live:
        while True:
            done = not any(run.running for run in runs)
            if live:
                live.update([(run.name, run.progress) for run in runs])
            if done or interrupts.event.wait(POLL_SECONDS):
                return


def _outcome(run: RunProcess) -> dict:
    """The run's outcome from its result file; a process that wrote none died: its run is ended as failed here."""
    result = run.result()
    if result is not None:
        return result
    cancel, instance = _run_ends()
    run_id, reason = cancel.end_run_of_dead_process(instance, run.proc.pid, run.proc.returncode)
    return {"file": run.name, "status": "error", "run_id": run_id, "error": reason}


def _cancel_all(runs: list[RunProcess], since: float) -> list[tuple[str, str]]:
    say(f"easycrm ingest: interrupted - cancelling the runs of {len(runs)} file(s) through Dagster "
        "(interrupt again to exit at once)")
    cancel, instance = _run_ends()
    return cancel.cancel_all(instance, [(run.partition, run.proc) for run in runs], since,
                             lambda message: say(f"easycrm ingest: {message}"))


def ingest(paths: list[str], *, progress: bool = False) -> list[dict]:
    """Run one Dagster run per file, all at once, and wait for them all.

    Args:
        paths: the lead files.
        progress: draw one live progress line per file on stdout (a terminal) while the runs go, redrawn every
            ``progress.POLL_SECONDS`` from the ``run_progress`` each run process sends.

    Returns:
        One outcome dict per file, in argument order: ``file``, ``status`` (``completed``/``error``), ``run_id``,
        the ``FileStats`` fields flattened in, and ``error`` (one line) for a failed run.

    Raises:
        UsageError: a path is missing, not a lead file, or two paths share a base name.
        IngestInterrupted: SIGINT or SIGTERM arrived; every run still going was cancelled through Dagster first.
    """
    files = check_paths(paths)
    home = ensure_dagster_home()
    with (tempfile.TemporaryDirectory(prefix="easycrm-ingest-") as results,
          announce(home, [cli_partition_key(p.name) for p in files]) as since,  # easycrm cancel waits for these
          Interrupts() as interrupts):
        runs = [RunProcess(path, Path(results) / f"{n}.json", progress=progress) for n, path in enumerate(files)]
        _wait(runs, interrupts, progress)
        messages = _cancel_all(runs, since) if interrupts.event.is_set() else []
        outcomes = [_outcome(run) for run in runs]
    if not interrupts.event.is_set():
        return outcomes
    for outcome, (status, _msg) in zip(outcomes, messages):
        if outcome["run_id"] is None and status == "cancelled":
            outcome.update(status="cancelled", error="stopped before its run started (nothing stored)")
    raise IngestInterrupted(outcomes, [m for _s, m in messages], interrupts.signal_name)


# ---------------------------------------------------------------------------------------------------- output
def _no_change_note(outcome: dict) -> str | None:
    """The line that says a completed re-run changed nothing (every lead already stored with these values)."""
    if outcome.get("status") != "completed" or outcome.get("leads_created") or outcome.get("leads_updated"):
        return None
    unchanged = outcome.get("leads_unchanged") or 0
    if not unchanged:
        return None
    return f"{outcome['file']}: nothing changed - all {unchanged} leads were already stored with these values"


def quarantine_command(file_name: str) -> str:
    """The ``easycrm quarantine`` command line that lists ``file_name``'s quarantined rows (name quoted for a
    shell)."""
    return f"easycrm quarantine {shlex.quote(file_name)}"


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
    again = f"easycrm ingest {shlex.quote(path or outcome['file'])}"
    return (f"{outcome['file']}: {failed} of {outcome.get('batches')} batches failed after 3 tries; their rows are in "
            f"the quarantine (easycrm status {outcome['file']} gives the reasons); retry only them with: {again}")


def _cell(outcome: dict, key: str) -> str:
    value = outcome.get(key)
    return "" if value is None else str(value)


def print_table(outcomes: list[dict], paths: list[str]) -> None:
    """The result table and, per file, its notes (nothing changed, the quarantine, dead-lettered batches)."""
    if console().width >= WIDE_TABLE_COLUMNS:
        table = Table(title="easycrm ingest")
        table.add_column("file")
        for label, _ in INGEST_COLUMNS:
            table.add_column(label, justify="right")
        for o in outcomes:
            table.add_row(o["file"], *[_cell(o, key) for _, key in INGEST_COLUMNS])
        show_table(table)
    else:  # a narrow terminal: one two-column table per file, nothing cut
        for o in outcomes:
            table = Table(title=o["file"], show_header=False)
            table.add_column("figure")
            table.add_column("value", justify="right")
            for label, key in INGEST_COLUMNS:
                table.add_row(label, _cell(o, key))
            show_table(table)
    by_name = dict(zip((display_name(Path(p).name) for p in paths), paths))
    for o in outcomes:
        for note in (_no_change_note(o), _quarantine_note(o), _failed_batches_note(o, by_name.get(o["file"]))):
            if note:
                print(note)


def print_failures(outcomes: list[dict], quiet_cancelled: bool = False) -> bool:
    """One line per failed file on stderr (``easycrm ingest: FILE: reason``); with ``quiet_cancelled`` not for the
    cancelled ones (the interrupt already said so). Returns True if a file did not complete."""
    failed = [o for o in outcomes if o["status"] != "completed"]
    for o in failed:
        if quiet_cancelled and o["status"] == "cancelled":
            continue
        reason = str(o["error"])
        if not reason.startswith(f"{o['file']}: "):
            reason = f"{o['file']}: {reason}"
        print(f"easycrm ingest: {reason}", file=sys.stderr)
    return bool(failed)


@click.command("ingest", help="run the ingest job for local files and wait (live progress on a terminal)")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--quiet", is_flag=True, help="no live progress lines, even on a terminal")
@json_option
def ingest_command(paths: tuple[str, ...], quiet: bool, as_json: bool) -> int:
    """Exit 0 when every file completed, 1 when one did not, 130 when interrupted (its runs cancelled first)."""
    interrupted = False
    try:
        outcomes = ingest(list(paths), progress=sys.stdout.isatty() and not as_json and not quiet)
    except IngestInterrupted as stop:
        outcomes, interrupted = stop.outcomes, True
    if as_json:
        print_json({"files": outcomes})
    else:
        print_table(outcomes, list(paths))
    failed = print_failures(outcomes, quiet_cancelled=interrupted)
    return 130 if interrupted else int(failed)
