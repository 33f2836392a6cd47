"""Run the ingest job for one file as a real Dagster run, in its own process (one process per file).

``python -m easycrm_pipeline.cli.run_file --partition KEY --location PATH_OR_S3 --file-name NAME
[--result-file PATH] [--progress]`` writes its outcome ``{"run_id", "partition", "file", "status", "stats",
"error"}`` as one JSON document to ``--result-file`` (atomically: written to a temporary file, then renamed, so a
reader sees the whole document or none); with ``--progress``, ``EASYCRM_PROGRESS {run_progress json}`` lines on
stdout while the run goes. ``easycrm ingest`` starts one such process per file (``cli/run_process.py``), so files
run concurrently as sensor-launched runs would, sharing the instance's ``deepseek`` pool.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

import dagster as dg

from easycrm_pipeline.cli.instance import get_instance, instance_lock
from easycrm_pipeline.cli.progress import PROGRESS_PREFIX
from easycrm_pipeline.config import get_settings
from easycrm_pipeline.dagster_defs.dead_runs import process_tags, reap_dead_runs
from easycrm_pipeline.dagster_defs.jobs import execution_config
from easycrm_pipeline.dagster_defs.tags import FILE_NAME_TAG, LOCATION_TAG
from easycrm_pipeline.dagster_defs.progress import ProgressReporter
from easycrm_pipeline.definitions import get_ingest_job

FAILURE_PREFIX = "dagster._core.definitions.events.Failure: "


def ensure_partition(instance, key: str) -> None:
    """Add ``key`` to the ``lead_files`` dynamic partitions if it is not there yet."""
    if not instance.has_dynamic_partition("lead_files", key):
        instance.add_dynamic_partitions("lead_files", [key])


def run_tags(partition: str, location: str, file_name: str) -> dict[str, str]:
    """Tags of an ingest run: the partition plus where the file is."""
    return {"dagster/partition": partition, LOCATION_TAG: location, FILE_NAME_TAG: file_name}


def _error_message(error) -> str:
    while error.message.startswith("Exceeded max_retries") and error.cause is not None:
        error = error.cause  # the exception behind the retries says what went wrong
    if error.cls_name == "DagsterExecutionInterruptedError":
        return "run interrupted before this step ended"
    message = error.message.strip().removeprefix(FAILURE_PREFIX)
    return message.splitlines()[0] if message else "step failed"


def failure_reason(result) -> str:
    """One-line reason of a failed run: the first step failure's description or error message."""
    for event in result.all_events:
        if not event.is_step_failure:
            continue
        data = event.step_failure_data
        if data.user_failure_data is not None and data.user_failure_data.description:
            return data.user_failure_data.description
        if data.error is not None:
            return _error_message(data.error)
    return "run failed"


def materialized_stats(result) -> dict | None:
    """The file's stats from the ``leads`` materialization's ``stats`` metadata (None if not materialized)."""
    for event in result.all_events:
        if event.is_step_materialization:
            entry = event.step_materialization_data.materialization.metadata.get("stats")
            if entry is not None:
                return entry.value
    return None


def _print_progress(progress: dict) -> None:
    print(PROGRESS_PREFIX + json.dumps(progress, default=str), flush=True)


def run_one(partition: str, location: str, file_name: str, progress: bool = False) -> dict:
    """Execute the ingest job for one file and wait; returns the JSON-ready outcome.

    With ``progress``, the run's ``run_progress`` is printed as ``EASYCRM_PROGRESS`` lines on stdout while it goes
    (``dagster_defs.progress.ProgressReporter``: what ``easycrm ingest`` draws on a terminal).
    """
    settings = get_settings()
    instance = get_instance()
    with instance_lock():  # several run processes start at once (easycrm ingest A B C)
        ensure_partition(instance, partition)
        reap_dead_runs(instance)  # a dead run's pool slots would make this run wait forever
    started = time.monotonic()
    reporter = (ProgressReporter(instance, partition, time.time(), _print_progress) if progress
                else contextlib.nullcontext())
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
    if result.success:
        outcome["status"] = "completed"
        outcome["stats"] = materialized_stats(result)
        if outcome["stats"] is not None:
            # the run's wall time (what a user waited); the work inside it (parse + batches + upsert) stays
            # in work_seconds
            outcome["stats"]["work_seconds"] = outcome["stats"].get("seconds")
            outcome["stats"]["seconds"] = round(time.monotonic() - started, 3)
        return outcome
    cancelled = instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.CANCELED
    outcome["status"] = "cancelled" if cancelled else "error"
    outcome["error"] = ("run cancelled (easycrm cancel or Terminate in the Dagster UI)" if cancelled
                        else failure_reason(result))
    return outcome


def write_result(path: Path, outcome: dict) -> None:
    """Write ``outcome`` as JSON to ``path`` atomically (a temporary file in the same folder, then ``os.replace``):
    a reader sees the whole document or no file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(outcome, default=str), encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the per-file run process. Exit code 0 when the run completed, else 1."""
    parser = argparse.ArgumentParser(prog="python -m easycrm_pipeline.cli.run_file")
    parser.add_argument("--partition", required=True)
    parser.add_argument("--location", required=True)
    parser.add_argument("--file-name", required=True)
    parser.add_argument("--result-file", type=Path, help="write the outcome here as one JSON document")
    parser.add_argument("--progress", action="store_true", help="print EASYCRM_PROGRESS lines while the run goes")
    args = parser.parse_args(argv)
    outcome = run_one(args.partition, args.location, args.file_name, progress=args.progress)
    if args.result_file is not None:
        write_result(args.result_file, outcome)
    return 0 if outcome["status"] == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
