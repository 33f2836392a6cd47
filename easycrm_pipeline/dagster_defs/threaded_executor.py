"""A Dagster executor that runs a run's steps in threads of the run process (``max_concurrent`` at a time).

Why: a mapped ``standardize_batch`` step spends ~2 s waiting on one DeepSeek request and a few milliseconds of CPU.
The multiprocess executor starts a process per step (fork/forkserver, re-load the job, open the instance) and only
counts a slot free once that process has exited: ~0.6 s of every ~2.6 s step on this 2-core machine (DESIGN.md
section 6, "Dagster's per-step and pool-claim overheads are the enemy"). Dagster has no threaded executor (its
tracking issue dagster-io/dagster#4041 is open), so this module is one, built from the same parts as Dagster's own
in-process and multiprocess executors:

* ``ActiveExecution`` decides which steps are ready (dynamic mapping, retries with their ``RetryPolicy`` delay,
  skips) and ``InstanceConcurrencyContext`` claims the op's pool slot (``pool="deepseek"``) in the instance's storage
  before a step starts, so the instance-wide pool limit still holds across every run, whatever its executor;
* each step runs ``dagster_event_sequence_for_step`` (the same function the in-process executor runs) in a worker
  thread; the thread only produces events (they are written to the event log as they are created, exactly as
  in-process) and hands them to the orchestrating thread through a queue;
* the orchestrating thread alone touches ``ActiveExecution`` (``handle_event`` frees the pool slot on
  ``STEP_SUCCESS`` / ``STEP_FAILURE`` / ``STEP_UP_FOR_RETRY``) and yields the events in order.

Termination (``easycrm cancel``, the UI's Terminate): signals are captured in the orchestrating thread (as the
multiprocess executor does); no new step starts, the running steps get ``INTERRUPT_GRACE_SECONDS`` to end on their
own (a DeepSeek call is a few seconds), then every step still running is marked failed (interrupted) and the run
ends interrupted; the abandoned threads are daemons and end with the run process. Nothing is raised inside a running
thread: an exception injected into another thread can land while it holds a lock (logging, the event log's database
connection pool) and deadlock the whole process.

Steps share the process: code they run must be thread-safe (the ops of this project keep no module state; DuckDB
access is serialized by the store's file lock). Use the multiprocess executor (``EASYCRM_EXECUTOR=multiprocess``)
when steps must be isolated from each other.
"""
from __future__ import annotations

import os
import queue
import sys
import threading
import time
from collections.abc import Iterator

import dagster as dg
from dagster._core.errors import DagsterExecutionInterruptedError
from dagster._core.events import DagsterEvent, EngineEventData
from dagster._core.execution.api import ExecuteRunWithPlanIterable
from dagster._core.execution.compute_logs import create_compute_log_file_key
from dagster._core.execution.context.system import PlanExecutionContext, PlanOrchestrationContext
from dagster._core.execution.context_creation_job import PlanExecutionContextManager
from dagster._core.execution.plan.execute_plan import _trigger_hook, dagster_event_sequence_for_step
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext
from dagster._core.execution.plan.objects import step_failure_event_from_exc_info
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._core.execution.retries import RetryMode
from dagster._core.executor.base import Executor
from dagster._utils.error import serializable_error_info_from_exc_info
from dagster._utils.interrupts import capture_interrupts

#: After a termination signal, how long running steps get to finish before they are marked failed and abandoned.
INTERRUPT_GRACE_SECONDS = 5.0
#: How long the orchestrating thread waits for a step event before it re-checks interrupts, retries and pool claims.
POLL_SECONDS = 0.05


class _StepDone:
    """Queue marker: the step's thread has produced its last event (``error``: a framework error it raised)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None = None):
        self.error = error


class ThreadedExecutor(Executor):
    """Runs up to ``max_concurrent`` steps of a run at once, each in a thread of the run process.

    Args:
        retries: the run's retry mode (op ``RetryPolicy`` retries are honoured as in every Dagster executor).
        max_concurrent: steps in flight at once in this run (>= 1); the instance's pools still apply on top.
    """

    def __init__(self, retries: RetryMode, max_concurrent: int):
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, got {max_concurrent}")
        self._retries = retries
        self.max_concurrent = max_concurrent

    @property
    def retries(self) -> RetryMode:
        """The run's retry mode."""
        return self._retries

    def execute(self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan) -> Iterator[DagsterEvent]:
        """Execute the plan; yields every Dagster event of the run's steps (the executor interface)."""
        step_keys = execution_plan.step_keys_to_execute
        yield DagsterEvent.engine_event(
            plan_context,
            f"Executing steps in threads of the run process (pid: {os.getpid()}, at most {self.max_concurrent} at once)",
            event_specific_data=EngineEventData.in_process(os.getpid(), step_keys),
        )
        max_concurrent = self.max_concurrent

        def iterator(job_context: PlanExecutionContext, execution_plan: ExecutionPlan) -> Iterator[DagsterEvent]:
            return _threaded_plan_iterator(job_context, execution_plan, max_concurrent)

        yield from iter(
            ExecuteRunWithPlanIterable(
                execution_plan=plan_context.execution_plan,
                iterator=iterator,
                execution_context_manager=PlanExecutionContextManager(
                    job=plan_context.job,
                    retry_mode=plan_context.retry_mode,
                    execution_plan=plan_context.execution_plan,
                    run_config=plan_context.run_config,
                    dagster_run=plan_context.dagster_run,
                    instance=plan_context.instance,
                    raise_on_error=plan_context.raise_on_error,
                    output_capture=plan_context.output_capture,
                ),
            )
        )
        yield DagsterEvent.engine_event(
            plan_context,
            f"Finished steps in threads of the run process (pid: {os.getpid()})",
            event_specific_data=EngineEventData.in_process(os.getpid(), step_keys),
        )


def _run_step(step_context, step_key: str, events: queue.Queue) -> None:
    """Worker thread body: put every event of the step on ``events``, then a ``_StepDone``."""
    error: BaseException | None = None
    try:
        for event in dagster_event_sequence_for_step(step_context):
            events.put((step_key, event))
    except BaseException as exc:  # noqa: BLE001 - handed to the orchestrating thread, which re-raises it
        error = exc
    events.put((step_key, _StepDone(error)))


def _threaded_plan_iterator(
    job_context: PlanExecutionContext, execution_plan: ExecutionPlan, max_concurrent: int
) -> Iterator[DagsterEvent]:
    compute_log_manager = job_context.instance.compute_log_manager
    step_keys = [step.key for step in execution_plan.get_steps_to_execute_in_topo_order()]
    events: queue.Queue = queue.Queue()
    running: dict[str, tuple[threading.Thread, object, list[DagsterEvent]]] = {}
    with (
        capture_interrupts(),
        InstanceConcurrencyContext(job_context.instance, job_context.dagster_run) as concurrency,
        execution_plan.start(
            retry_mode=job_context.retry_mode,
            max_concurrent=max_concurrent,
            instance_concurrency_context=concurrency,
            step_dependency_config=job_context.step_dependency_config,
        ) as active,
    ):
        log_key = compute_log_manager.build_log_key_for_run(job_context.run_id, create_compute_log_file_key())
        with compute_log_manager.capture_logs(log_key) as log_context:
            yield DagsterEvent.capture_logs(job_context, step_keys, log_key, log_context)
            stopping = False
            stop_deadline = 0.0
            while (not stopping and not active.is_complete) or running:
                if stopping and time.monotonic() > stop_deadline:
                    yield from _abandon(job_context, active, running)
                    break
                if not stopping and active.check_for_interrupts():
                    stopping = True
                    stop_deadline = time.monotonic() + INTERRUPT_GRACE_SECONDS
                    active.mark_interrupted()
                    yield DagsterEvent.engine_event(
                        job_context,
                        "Threaded executor: received termination signal - no new step starts; running steps get "
                        f"{INTERRUPT_GRACE_SECONDS:g} s to finish",
                        EngineEventData.interrupted(list(running)),
                    )
                if not stopping:
                    for step in active.get_steps_to_execute(limit=max_concurrent - len(running)):
                        step_context = job_context.for_step(step, active.get_known_state())
                        thread = threading.Thread(
                            target=_run_step,
                            args=(step_context, step.key, events),
                            name=f"easycrm-step-{step.key}",
                            daemon=True,
                        )
                        running[step.key] = (thread, step_context, [])
                        thread.start()
                    yield from active.concurrency_event_iterator(job_context)
                wait = POLL_SECONDS if running else min(max(active.sleep_interval(), 0.0), 1.0) or POLL_SECONDS
                try:
                    key, item = events.get(timeout=wait)
                except queue.Empty:
                    continue
                while True:
                    yield from _handle(job_context, active, running, key, item)
                    try:
                        key, item = events.get_nowait()
                    except queue.Empty:
                        break
            if stopping:
                raise DagsterExecutionInterruptedError("Threaded executor: the run was interrupted")


def _abandon(job_context, active, running: dict) -> Iterator[DagsterEvent]:
    """Mark the steps still running after the grace period failed (interrupted); their threads are left to die."""
    for key in list(running):
        _thread, step_context, _events = running.pop(key)
        try:
            raise DagsterExecutionInterruptedError(
                f"step {key} did not stop within {INTERRUPT_GRACE_SECONDS:g} s of the termination signal"
            )
        except DagsterExecutionInterruptedError:
            event = step_failure_event_from_exc_info(step_context, sys.exc_info())
        yield event
        active.handle_event(event)


def _handle(job_context, active, running: dict, key: str, item) -> Iterator[DagsterEvent]:
    """Apply one queue item in the orchestrating thread: a step event, or the end of a step's thread."""
    thread, step_context, step_events = running[key]
    if isinstance(item, _StepDone):
        del running[key]
        if item.error is not None:
            yield DagsterEvent.engine_event(
                job_context,
                f"Threaded executor: step {key} raised outside Dagster's step error handling",
                EngineEventData.engine_error(
                    serializable_error_info_from_exc_info((type(item.error), item.error, item.error.__traceback__))
                ),
            )
        active.verify_complete(job_context, key)
        for event in active.plan_events_iterator(job_context):
            step_events.append(event)
            yield event
        yield from _trigger_hook(step_context, step_events)
        return
    step_events.append(item)
    yield item
    active.handle_event(item)


def threads_config_schema() -> dg.Field:
    """Config of the ``threads`` executor mode: ``{"max_concurrent": int}`` (default 5)."""
    return dg.Field({"max_concurrent": dg.Field(int, is_required=False, default_value=5)}, is_required=False)


def make_threaded_executor(init_context: dg.InitExecutorContext, config: dict) -> ThreadedExecutor:
    """The executor for a run, from its ``threads`` config and the job's retry mode (``dagster/retries`` run config
    is not used by this project: op ``RetryPolicy`` drives retries)."""
    return ThreadedExecutor(retries=RetryMode.ENABLED, max_concurrent=int(config.get("max_concurrent", 5)))

