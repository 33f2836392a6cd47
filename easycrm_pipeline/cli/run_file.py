"""Run the ingest job for one file as a real Dagster run, in its own process (one process per file).

``python -m easycrm_pipeline.cli.run_file --partition KEY --location PATH_OR_S3 --file-name NAME [--progress]``
prints one JSON line ``{"run_id", "partition", "file", "status", "stats", "error"}`` on stdout (prefixed
``EASYCRM_RESULT``); with ``--progress``, ``EASYCRM_PROGRESS {run_progress json}`` lines before it while the run goes.
``easycrm ingest`` starts one such process per file (:class:`RunProcess`), so files run concurrently as
sensor-launched runs would, sharing the instance's ``deepseek`` pool.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from easycrm_pipeline.cli.instance import child_env

FAILURE_PREFIX = "dagster._core.definitions.events.Failure: "


def ensure_partition(instance, key: str) -> None:
    """Add ``key`` to the ``lead_files`` dynamic partitions if it is not there yet."""
    if not instance.has_dynamic_partition("lead_files", key):
        instance.add_dynamic_partitions("lead_files", [key])


def run_tags(partition: str, location: str, file_name: str) -> dict[str, str]:
    """Tags of an ingest run: the partition plus where the file is."""
    from easycrm_pipeline.dagster_defs.ops import FILE_NAME_TAG, LOCATION_TAG

    return {"dagster/partition": partition, LOCATION_TAG: location, FILE_NAME_TAG: file_name}


def failure_reason(result) -> str:
    """One-line reason of a failed run: the first step failure's description or error message."""
    for event in result.all_events:
        if event.is_step_failure:
            data = event.step_failure_data
            if data.user_failure_data is not None and data.user_failure_data.description:
                return data.user_failure_data.description
            if data.error is not None:
                error = data.error
                while error.message.startswith("Exceeded max_retries") and error.cause is not None:
                    error = error.cause  # the exception behind the retries says what went wrong
                if error.cls_name == "DagsterExecutionInterruptedError":
                    return "run interrupted before this step ended"
                message = error.message.strip()
                if message.startswith(FAILURE_PREFIX):
                    message = message[len(FAILURE_PREFIX) :]
                return message.splitlines()[0] if message else "step failed"
    return "run failed"


def run_one(partition: str, location: str, file_name: str, progress: bool = False) -> dict:
    """Execute the ingest job for one file and wait; returns the JSON-ready outcome.

    With ``progress``, the run's ``run_progress`` is printed as ``EASYCRM_PROGRESS`` lines on stdout while it goes
    (``progress.ProgressReporter``: what ``easycrm ingest`` draws on a terminal).
    """
    import contextlib
    import dagster as dg

    from easycrm_pipeline.cli.instance import get_instance, instance_lock
    from easycrm_pipeline.cli.progress import ProgressReporter
    from easycrm_pipeline.config import get_settings
    from easycrm_pipeline.dagster_defs.dead_runs import process_tags, reap_dead_runs
    from easycrm_pipeline.dagster_defs.jobs import execution_config
    from easycrm_pipeline.definitions import get_ingest_job

    settings = get_settings()
    instance = get_instance()
    with instance_lock():  # several run processes start at once (easycrm ingest A B C)
        ensure_partition(instance, partition)
        reap_dead_runs(instance)  # a dead run's pool slots would make this run wait forever
    started = time.monotonic()
    reporter = ProgressReporter(instance, partition, time.time()) if progress else contextlib.nullcontext()
    with reporter:
        result = dg.execute_job(
            dg.reconstructable(get_ingest_job),
            instance=instance,
            run_config=execution_config(settings.llm_enabled),
            # the process id lets `easycrm cancel` interrupt this run from its first moment, and the dead-run reaper
            # fail it if this process dies
            tags={**run_tags(partition, location, file_name), **process_tags()},
        )
    outcome = {"run_id": result.run_id, "partition": partition, "file": file_name, "stats": None, "error": None}
    wall = round(time.monotonic() - started, 3)
    if result.success:
        outcome["status"] = "completed"
        outcome["stats"] = materialized_stats(result)
        if outcome["stats"] is not None:
            # the run's wall time (what a user waited); the work inside it (parse + batches + upsert) stays
            # in work_seconds
            outcome["stats"]["work_seconds"] = outcome["stats"].get("seconds")
            outcome["stats"]["seconds"] = wall
    else:
        cancelled = instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.CANCELED
        outcome["status"] = "cancelled" if cancelled else "error"
        outcome["error"] = "run cancelled (easycrm cancel or Terminate in the Dagster UI)" if cancelled else (
            failure_reason(result)
        )
    return outcome


def materialized_stats(result) -> dict | None:
    """The file's stats from the ``leads`` materialization's ``stats`` metadata (None if not materialized)."""
    for event in result.all_events:
        if event.is_step_materialization:
            entry = event.step_materialization_data.materialization.metadata.get("stats")
            if entry is not None:
                return entry.value
    return None


class RunProcess:
    """``easycrm ingest``'s handle on one file's run process (``python -m easycrm_pipeline.cli.run_file``).

    The process gets a process group of its own: a Ctrl-C at the terminal reaches only ``easycrm ingest``, which
    cancels the run through Dagster (a bare SIGINT would end the run FAILURE, and run retries would start it again).
    Its stdout and stderr are drained at once by two threads: reading the processes one after the other would let a
    later run fill its 64 KB stderr pipe (Dagster's console log) and block until the earlier runs have ended.

    Attributes:
        path: the file; proc: the ``subprocess.Popen``; progress: the last ``run_progress`` dict it sent (with
            ``progress=True``), None before its first.
        name: the file's base name as shown and stored (``sourceFile``), bidi/control characters escaped
            (``dropzone.rules.display_name``); partition: its ``lead_files`` key (``cli_partition_key``).
    """

    def __init__(self, path, progress: bool = False) -> None:
        import subprocess
        import threading

        from easycrm_pipeline.dropzone.rules import cli_partition_key, display_name

        # shown and stored escaped like the sensors' names (bidi/control characters); the real path is read
        self.path, self.name, self.partition = path, display_name(path.name), cli_partition_key(path.name)
        self.progress: dict | None = None
        cmd = [
            sys.executable, "-m", "easycrm_pipeline.cli.run_file",
            "--partition", self.partition, "--location", str(path), "--file-name", self.name,
            *(["--progress"] if progress else []),
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, process_group=0,
                                     env=child_env())
        self._out: list[str] = []
        self._err = ""
        self._readers = [threading.Thread(target=self._read_out, daemon=True),
                         threading.Thread(target=self._read_err, daemon=True)]
        for reader in self._readers:
            reader.start()

    def _read_out(self) -> None:
        from easycrm_pipeline.cli.progress import parse_progress

        for line in self.proc.stdout:
            got = parse_progress(line)
            if got is None:
                self._out.append(line)
            else:
                self.progress = got

    def _read_err(self) -> None:
        self._err = self.proc.stderr.read()

    @property
    def running(self) -> bool:
        """True until the process has closed its output (it is ending or has ended)."""
        return any(reader.is_alive() for reader in self._readers)

    def outcome(self) -> dict:
        """Wait for the process; its outcome from the ``EASYCRM_RESULT`` line: ``file``, ``status``, ``run_id``,
        ``error`` and the ``FileStats`` fields flattened in (``error`` status, stderr's last line, if it died)."""
        for reader in self._readers:
            reader.join()
        self.proc.wait()
        line = next((ln for ln in reversed(self._out) if ln.startswith("EASYCRM_RESULT ")), None)
        if line is None:  # the run process died (killed, out of memory): its run is ended as failed here
            run_id, reason = end_run_of_dead_process(self.proc.pid, self.proc.returncode)
            return {"file": self.name, "status": "error", "run_id": run_id, "error": reason}
        result = json.loads(line[len("EASYCRM_RESULT ") :])
        flat = {"file": self.name, "status": result["status"], "run_id": result["run_id"], "error": result["error"]}
        flat.update({k: v for k, v in (result.get("stats") or {}).items() if k != "file"})
        return flat


def end_run_of_dead_process(pid: int, returncode: int | None) -> tuple[str | None, str]:
    """A run process that printed no result died (killed, out of memory): end its run as failed, free its pool
    slots; returns ``(run id or None, one-line reason)``."""
    import signal

    how = f"exit code {returncode}"
    if returncode is not None and returncode < 0:
        try:
            how = f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            how = f"killed by signal {-returncode}"
    reason = f"the run process died ({how}; killed, or out of memory)"
    import dagster as dg

    from easycrm_pipeline.cli.instance import get_instance
    from easycrm_pipeline.dagster_defs.dead_runs import end_dead_run
    from easycrm_pipeline.dagster_defs.ops import PID_TAG

    instance = get_instance()
    records = instance.get_run_records(filters=dg.RunsFilter(tags={PID_TAG: str(pid)}), limit=1)
    if not records:
        return None, reason + " before its run was created"
    run = records[0].dagster_run
    if run.is_finished:
        return run.run_id, reason + f" after its run ended {run.status.value}"
    end_dead_run(instance, run, reason)
    return run.run_id, reason


def main(argv: list[str] | None = None) -> int:
    """Entry point of the per-file run process."""
    parser = argparse.ArgumentParser(prog="python -m easycrm_pipeline.cli.run_file")
    parser.add_argument("--partition", required=True)
    parser.add_argument("--location", required=True)
    parser.add_argument("--file-name", required=True)
    parser.add_argument("--progress", action="store_true", help="print EASYCRM_PROGRESS lines while the run goes")
    args = parser.parse_args(argv)
    outcome = run_one(args.partition, args.location, args.file_name, progress=args.progress)
    print("EASYCRM_RESULT " + json.dumps(outcome, default=str), flush=True)
    return 0 if outcome["status"] == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
