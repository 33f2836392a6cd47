"""The threaded executor on small jobs, in a real Dagster instance (temp DAGSTER_HOME with the project's pool config).

Each property a Dagster executor must keep: steps overlap up to ``max_concurrent``; an op pool limit holds across
runs that run at the same time; RetryPolicy retries; a failing step fails the run and what depends on it never starts;
dynamic mapping fans out and collects; pool slots are given back; a termination signal ends the run.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import pytest

from easycrm_pipeline.dagster_defs.threaded_executor import ThreadedExecutor

_lock = threading.Lock()
_state = {"running": 0, "peak": 0, "tries": 0}


def _track(seconds: float) -> None:
    with _lock:
        _state["running"] += 1
        _state["peak"] = max(_state["peak"], _state["running"])
    try:
        time.sleep(seconds)
    finally:
        with _lock:
            _state["running"] -= 1


@pytest.fixture(autouse=True)
def _reset_state():
    _state.update(running=0, peak=0, tries=0)


@dg.executor(name="threads_for_test", config_schema={"max_concurrent": dg.Field(int, default_value=3)})
def threads_for_test(init_context):
    from dagster._core.execution.retries import RetryMode

    return ThreadedExecutor(RetryMode.ENABLED, init_context.executor_config["max_concurrent"])


@dg.op(out=dg.DynamicOut(int))
def fan_out(context):
    for i in range(int(context.run.tags.get("items", "8"))):
        yield dg.DynamicOutput(i, mapping_key=f"item_{i}")


@dg.op(pool="test_pool")
def slow_square(x: int) -> int:
    _track(float(os.environ.get("TEST_STEP_SECONDS", "0.4")))
    return x * x


@dg.op
def total(values: list[int]) -> int:
    return sum(values)


@dg.job(executor_def=threads_for_test)
def mapped_job():
    total(fan_out().map(slow_square).collect())


@dg.op(retry_policy=dg.RetryPolicy(max_retries=2, delay=0.05))
def flaky() -> str:
    with _lock:
        _state["tries"] += 1
        tries = _state["tries"]
    if tries < 3:
        raise RuntimeError(f"try {tries} fails")
    return "ok"


@dg.op
def boom(x: int) -> int:
    raise ValueError("boom in a thread")


@dg.op
def after_boom(x: int) -> int:
    return x


@dg.op
def one() -> int:
    return 1


@dg.job(executor_def=threads_for_test)
def flaky_job():
    flaky()


@dg.job(executor_def=threads_for_test)
def failing_job():
    after_boom(boom(one()))


@pytest.fixture
def instance():
    with dg.instance_for_test(
        overrides={"concurrency": {"pools": {"default_limit": 2, "granularity": "op"}}}
    ) as inst:
        yield inst


def test_steps_overlap_up_to_max_concurrent_and_mapping_collects(instance):
    with dg.execute_job(
        dg.reconstructable(_mapped_job),
        instance=instance,
        run_config={"execution": {"config": {"max_concurrent": 3}}},
        tags={"items": "8"},
    ) as result:
        assert result.success
        assert result.output_for_node("total") == sum(i * i for i in range(8))
    # the instance's pool (limit 2) caps the 3 the executor would allow
    assert _state["peak"] == 2
    assert instance.event_log_storage.get_concurrency_info("test_pool").claimed_slots == []


def test_without_a_pool_limit_max_concurrent_is_the_cap():
    with dg.instance_for_test() as inst:
        result = dg.execute_job(
            dg.reconstructable(_mapped_job),
            instance=inst,
            run_config={"execution": {"config": {"max_concurrent": 4}}},
            tags={"items": "12"},
        )
    assert result.success
    assert _state["peak"] == 4


def test_retry_policy_retries_in_threads(instance):
    result = dg.execute_job(dg.reconstructable(_flaky_job), instance=instance)
    assert result.success
    assert _state["tries"] == 3
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retries) == 2


def test_a_failing_step_fails_the_run_and_skips_downstream(instance):
    result = dg.execute_job(dg.reconstructable(_failing_job), instance=instance, raise_on_error=False)
    assert not result.success
    failures = [e for e in result.all_events if e.is_step_failure]
    assert [e.step_key for e in failures] == ["boom"]
    assert "boom in a thread" in failures[0].step_failure_data.error.to_string()
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert started == {"one", "boom"}  # after_boom is abandoned: its input never came


def test_pool_limit_holds_across_runs_at_the_same_time(tmp_path):
    """Two run processes of the mapped job on one instance (pool limit 2): never more than 2 steps in the pool."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "concurrency:\n  pools:\n    default_limit: 2\n    granularity: op\ntelemetry:\n  enabled: false\n"
    )
    with dg.DagsterInstance.from_config(str(home)):
        pass  # create the instance's databases once: two processes migrating a new SQLite home at once collide
    marks = tmp_path / "marks"
    marks.mkdir()
    env = dict(os.environ, DAGSTER_HOME=str(home), TEST_MARKS=str(marks), TEST_STEP_SECONDS="0.5")
    script = Path(__file__).with_name("_threaded_run.py")
    procs = [subprocess.Popen([sys.executable, str(script), "run"], env=env) for _ in range(2)]
    assert [p.wait(timeout=180) for p in procs] == [0, 0]
    intervals = []
    for mark in marks.glob("item_*"):
        start, end = (float(x) for x in mark.read_text().split())
        intervals.append((start, end))
    assert len(intervals) == 12  # 6 steps per run
    peak = max(sum(1 for s, e in intervals if s <= t < e) for t, _ in intervals)
    assert peak == 2


@pytest.mark.parametrize("step_seconds", [30, 2])
def test_termination_signal_ends_the_run_without_starting_new_steps(tmp_path, step_seconds):
    """SIGTERM to the run process: no new step starts; steps that end within the grace period end normally, steps
    still running after it are marked failed (interrupted); the run ends failed long before 30 s steps would end."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    marks = tmp_path / "marks"
    marks.mkdir()
    env = dict(os.environ, DAGSTER_HOME=str(home), TEST_MARKS=str(marks), TEST_STEP_SECONDS=str(step_seconds))
    script = Path(__file__).with_name("_threaded_run.py")
    proc = subprocess.Popen([sys.executable, str(script), "run"], env=env)
    deadline = time.time() + 60
    while len(list(marks.glob("started_*"))) < 5 and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=25) == 3  # the script's exit code for a run that did not succeed
    report = (marks / "report").read_text()
    assert report.startswith("FAILURE"), report
    started = list(marks.glob("started_*"))
    finished = list(marks.glob("item_*"))
    assert len(started) == 5  # max_concurrent 5: the 6th step never starts after the signal
    if step_seconds == 30:
        assert finished == [] and report.count("STEP_FAILURE") == 5
    else:
        assert len(finished) == 5 and report.count("STEP_SUCCESS") >= 6  # fan_out + the 5 that ended in grace


def _mapped_job():
    return mapped_job


def _flaky_job():
    return flaky_job


def _failing_job():
    return failing_job
