"""A run process for test_threaded_executor: one run of a 6-step mapped job (pool ``test_pool``) in threads.

Each step writes ``started_<key>_<pid>`` when it starts and ``<key>_<pid>`` ("start end") when it ends, in
``$TEST_MARKS``; the run's status and event types go to ``$TEST_MARKS/report``. Exit code 0 on success, 3 otherwise.
"""
import os
import sys
import time
from pathlib import Path

import dagster as dg

MARKS = Path(os.environ["TEST_MARKS"])


@dg.executor(name="threads_for_test", config_schema={"max_concurrent": dg.Field(int, default_value=5)})
def threads_for_test(init_context):
    from dagster._core.execution.retries import RetryMode

    from easycrm_pipeline.dagster_defs.threaded_executor import ThreadedExecutor

    return ThreadedExecutor(RetryMode.ENABLED, init_context.executor_config["max_concurrent"])


@dg.op(out=dg.DynamicOut(int))
def fan_out():
    for i in range(6):
        yield dg.DynamicOutput(i, mapping_key=f"item_{i}")


@dg.op(pool="test_pool")
def slow(context, x: int) -> int:
    key = context.get_mapping_key()
    (MARKS / f"started_{key}_{os.getpid()}").write_text("")
    start = time.time()
    time.sleep(float(os.environ.get("TEST_STEP_SECONDS", "0.5")))
    (MARKS / f"{key}_{os.getpid()}").write_text(f"{start} {time.time()}")
    return x


@dg.op
def gather(values: list[int]) -> int:
    return len(values)


@dg.job(executor_def=threads_for_test)
def mapped_pool_job():
    gather(fan_out().map(slow).collect())


def _job():
    return mapped_pool_job


if __name__ == "__main__":
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(dg.reconstructable(_job), instance=instance, raise_on_error=False)
        (MARKS / "report").write_text(
            ("SUCCESS" if result.success else "FAILURE")
            + "\n"
            + "\n".join(e.event_type_value for e in result.all_events)
        )
    sys.exit(0 if result.success else 3)
