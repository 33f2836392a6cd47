"""Runs whose process died (``kill -9``, out of memory) are ended as failed and give their pool slots back.

Dagster's run monitoring cannot tell that a run executed by ``easycrm ingest`` (``dg.execute_job`` in its own
process) or by the default run launcher's worker has died: neither supports run-worker health checks, so such a run
stays STARTED and keeps its ``deepseek`` pool slots forever (every later DeepSeek run waits at 0 %). Every ingest run
is therefore tagged with the pid, host and start time of the process that executes it (``easycrm/pid``,
``easycrm/host``, ``easycrm/pid_started``: at launch by the CLI, by ``parse_file`` for launched runs) and
:func:`reap_dead_runs` fails each unfinished run whose process on this host is gone - or whose pid now belongs to a
younger process - then frees its slots. It runs:

* in the ``dead_run_sensor`` (every 30 s in the daemon: runs launched by sensors and the UI, and CLI runs);
* in every ``easycrm ingest`` run process before its run starts, and in ``easycrm status``;
* in ``easycrm ingest`` for the run of a run process that died under it.

A run on another host (Celery and Kubernetes run their steps elsewhere, but the run process that orchestrates them
is the one tagged) is left to that host's reaper and to Dagster's run monitoring.
"""
from __future__ import annotations

import socket

import dagster as dg

from easycrm_pipeline.dagster_defs.pool_slots import free_run_slots
from easycrm_pipeline.dagster_defs.tags import HOST_TAG, PID_TAG

#: Run tag with the start time (epoch seconds, 2 decimals) of the process in ``easycrm/pid``.
PID_STARTED_TAG = "easycrm/pid_started"
#: Run statuses that need a live process.
LIVE_STATUSES = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
#: The reason written into a dead run's failure event (what ``easycrm status`` shows).
DIED = "the run process died (pid {pid} on {host} is gone: killed, or out of memory)"


def process_tags(pid: int | None = None) -> dict[str, str]:
    """The tags naming the process ``pid`` (default: this one) that executes a run."""
    import os

    import psutil

    pid = os.getpid() if pid is None else pid
    return {
        PID_TAG: str(pid),
        HOST_TAG: socket.gethostname(),
        PID_STARTED_TAG: f"{psutil.Process(pid).create_time():.2f}",
    }


def process_alive(tags: dict[str, str]) -> bool:
    """True while the process the tags name runs (on this host; a pid reused by a younger process is not it)."""
    import psutil

    try:
        process = psutil.Process(int(tags[PID_TAG]))
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        started = tags.get(PID_STARTED_TAG)
        return started is None or abs(process.create_time() - float(started)) < 0.5
    except (psutil.NoSuchProcess, ValueError, KeyError):
        return False
    except psutil.AccessDenied:
        return True


def end_dead_run(instance, run: dg.DagsterRun, reason: str) -> None:
    """Mark ``run`` failed with ``reason`` (CANCELED if a cancel was under way) and free its pool slots."""
    if not run.is_finished:
        if run.status == dg.DagsterRunStatus.CANCELING:
            instance.report_run_canceled(run, message=f"Cancelled: {reason}")
        else:
            instance.report_run_failed(run, message=reason)
    free_run_slots(instance, run.run_id)


def reap_dead_runs(instance) -> list[str]:
    """Fail every unfinished run on this host whose process is gone; returns their run ids."""
    host = socket.gethostname()
    reaped = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=LIVE_STATUSES), limit=500):
        run = record.dagster_run
        tags = run.tags
        if PID_TAG not in tags or tags.get(HOST_TAG, host) != host or process_alive(tags):
            continue
        end_dead_run(instance, run, DIED.format(pid=tags[PID_TAG], host=host))
        reaped.append(run.run_id)
    return reaped


@dg.sensor(
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Fails runs whose process died (kill -9, out of memory) and frees their deepseek pool slots.",
)
def dead_run_sensor(context: dg.SensorEvaluationContext):
    """Every 30 s: :func:`reap_dead_runs`."""
    reaped = reap_dead_runs(context.instance)
    return dg.SkipReason(f"ended {len(reaped)} runs whose process died: {', '.join(reaped)}" if reaped else
                         "no dead runs")


sensors = [dead_run_sensor]
