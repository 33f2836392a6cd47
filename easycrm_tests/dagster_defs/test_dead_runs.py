"""The dead-run reaper (dagster_defs/dead_runs.py) on a real instance (temp DAGSTER_HOME, pool ``deepseek`` = 5).

The kill -9 tests of real runs are in easycrm_tests/cli/test_runs.py; here: which runs the reaper ends and which it
leaves alone, and that a run launched without the CLI (sensor, UI: no ``easycrm/pid`` tag at launch) is tagged by
its parse step so the reaper can watch it.
"""
from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg
from dagster._core.test_utils import create_run_for_test

from easycrm_pipeline.cli.instance import get_instance
from easycrm_pipeline.cli.run_file import ensure_partition, run_tags
from easycrm_pipeline.dagster_defs.dead_runs import (
    PID_STARTED_TAG,
    dead_run_sensor,
    process_alive,
    process_tags,
    reap_dead_runs,
)
from easycrm_pipeline.dagster_defs.tags import HOST_TAG, PID_TAG
from easycrm_pipeline.dagster_defs.pool_slots import pool_limit


def _dead_pid_tags() -> dict[str, str]:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    tags = process_tags(proc.pid)  # its real pid, host and start time...
    proc.wait()  # ...and now it is gone
    return tags


def _started_run(instance, tags: dict[str, str]) -> dg.DagsterRun:
    return create_run_for_test(instance, job_name="ingest_job", status=dg.DagsterRunStatus.STARTED, tags=tags)


def test_only_runs_whose_process_is_gone_on_this_host_are_failed_and_their_slots_freed():
    instance = get_instance()
    assert pool_limit(instance, "deepseek") == 5
    dead = _started_run(instance, _dead_pid_tags())
    alive = _started_run(instance, process_tags())  # this test process
    elsewhere = _started_run(instance, {**_dead_pid_tags(), HOST_TAG: "another-host"})
    reused = _started_run(instance, {**process_tags(), PID_STARTED_TAG: "1.00"})  # this pid, another process's
    untagged = _started_run(instance, {})
    storage = instance.event_log_storage
    for run in (dead, alive):
        assert storage.claim_concurrency_slot("deepseek", run.run_id, "leads.standardize_chunk[chunk_0001]#1", 0).is_claimed

    reaped = reap_dead_runs(instance)

    assert sorted(reaped) == sorted([dead.run_id, reused.run_id])
    status = {r: instance.get_run_by_id(r).status for r in (dead.run_id, alive.run_id, elsewhere.run_id,
                                                           reused.run_id, untagged.run_id)}
    assert status[dead.run_id] == status[reused.run_id] == dg.DagsterRunStatus.FAILURE
    assert status[alive.run_id] == status[elsewhere.run_id] == status[untagged.run_id] == dg.DagsterRunStatus.STARTED
    claimed = {s.run_id for s in storage.get_concurrency_info("deepseek").claimed_slots}
    assert claimed == {alive.run_id}
    failure = next(iter(instance.all_logs(dead.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)))
    assert failure.message.startswith(f"the run process died (pid {dead.tags[PID_TAG]} on ")
    assert "no dead runs" in str(dead_run_sensor(dg.build_sensor_context(instance=instance)).skip_message)
    storage.free_concurrency_slots_for_run(alive.run_id)


def test_a_run_launched_without_a_pid_tag_is_tagged_by_its_parse_step(isolated_env):
    """As a sensor or the UI launches it (default run config: the job's in-process executor), no ``easycrm/pid`` at
    launch: ``parse_file`` tags the run with its process, which the reaper can then watch."""
    from easycrm_pipeline.definitions import get_ingest_job

    path = isolated_env / "tagged.csv"
    path.write_text("First Name,Email\nAnn,ann@x.example\n")
    instance = get_instance()
    ensure_partition(instance, "tagged.csv")
    result = dg.execute_job(dg.reconstructable(get_ingest_job), instance=instance,
                            tags=run_tags("tagged.csv", str(path), "tagged.csv"))
    assert result.success
    tags = instance.get_run_by_id(result.run_id).tags
    assert tags[PID_TAG] == str(os.getpid())  # execute_job with the in-process executor: this process ran it
    assert set(tags) >= {PID_TAG, HOST_TAG, PID_STARTED_TAG}
    assert process_alive(tags)
