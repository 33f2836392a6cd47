"""Maintenance jobs: re-standardize leads whose standardizer version is stale, daily at an off-peak hour.

``restandardize_job`` runs the steps of :func:`easycrm_pipeline.pipeline.restandardize.restandardize` with the
standardizer the ingest uses (``make_standardizer`` with the ``deepseek`` resource: DeepSeek with a key, the rules
otherwise; the leads come from the ``store`` resource):
``plan_restandardize_op`` (stale leads -> batches of raw rows) -> ``restandardize_batch`` (mapped, one step per
batch, pool ``deepseek`` and the ingest's RetryPolicy, so the pool limit holds across ingest and maintenance runs)
-> ``write_restandardized`` (``upsert_file`` per file; audit rows carry the run id and the action
``lead_restandardized``, so ``easycrm undo FILE`` never takes them for FILE's import). With the offline rules there are
no mapped steps: the write step standardizes in place, as the ingest's parse step does. The schedule's runs use the
ingest's executor config (``jobs.execution_config``).

``restandardize_schedule`` fires at ``RESTANDARDIZE_CRON`` (UTC) and skips its tick while an earlier
``restandardize_job`` run is still queued or running.

Off-peak: DeepSeek's peak-price hours are 01:00-04:00 and 06:00-10:00 UTC (pricing snapshot noted in
``deepseek/client.py``), so 04:30 UTC is off-peak for DeepSeek and the middle of the night for European and American
users alike.
"""

from dataclasses import dataclass

import dagster as dg

from easycrm_pipeline.dagster_defs.jobs import execution_config
from easycrm_pipeline.dagster_defs.ops import STANDARDIZE_RETRY
from easycrm_pipeline.dagster_defs.resources import DeepSeekResource, StoreResource
from easycrm_pipeline.deepseek.errors import DeepSeekBatchFailed, DeepSeekFatal
from easycrm_pipeline.pipeline.batches import Batch, BatchResult
from easycrm_pipeline.pipeline.restandardize import (
    RestandardizePlan,
    plan_restandardize,
    standardize_batch,
    write_group,
)
from easycrm_pipeline.pipeline.standardizer import make_standardizer

#: Daily at 04:30 UTC.
RESTANDARDIZE_CRON = "30 4 * * *"

#: Run statuses that mean "still going".
IN_PROGRESS_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


class RestandardizeConfig(dg.Config):
    """``dry_run``: only count and list the stale leads."""

    dry_run: bool = False


@dataclass(frozen=True)
class BatchWork:
    """One batch of stale leads' raw rows: ``group`` indexes ``RestandardizePlan.groups``."""

    group: int
    batch: Batch


@dataclass
class BatchDone:
    """A standardized batch (``result`` None when DeepSeek failed it after every try)."""

    group: int
    number: int
    result: BatchResult | None


@dg.op(
    out={"plan": dg.Out(RestandardizePlan), "batches": dg.DynamicOut(BatchWork)},
    description="Find the stale leads and cut their raw rows into batches (one mapped step each with DeepSeek).",
)
def plan_restandardize_op(context: dg.OpExecutionContext, config: RestandardizeConfig, store: StoreResource,
                          deepseek: DeepSeekResource):
    """Yield the plan, then one DynamicOutput per batch when DeepSeek standardizes (with the offline rules the
    write step standardizes in place: a step per batch would cost more than the work, as in the ingest)."""
    settings = deepseek.settings()
    version = make_standardizer(settings, deepseek.options()).version
    plan = plan_restandardize(store.get(), version, batch_size=settings.batch_size, dry_run=config.dry_run)
    batches = sum(len(g.batches) for g in plan.groups)
    context.log.info(f"standardizer {version}: {plan.result.stale} stale leads, {batches} batches")
    yield dg.Output(plan, "plan", metadata={"stale": plan.result.stale, "batches": batches, "standardizer": version,
                                             "stale_by_version": dg.MetadataValue.json(plan.result.stale_by_version)})
    if not settings.llm_enabled:
        return
    for gi, group in enumerate(plan.groups):
        for batch in group.batches:
            yield dg.DynamicOutput(BatchWork(gi, batch), mapping_key=plan.mapping_key(gi, batch),
                                   output_name="batches")


@dg.op(pool="deepseek", retry_policy=STANDARDIZE_RETRY,
       description="Standardize one batch of stale leads (DeepSeek pool, 3 tries like the ingest).")
def restandardize_batch(context: dg.OpExecutionContext, work: BatchWork, deepseek: DeepSeekResource) -> BatchDone:
    """Standardize one batch; after the last try a failing batch is reported as None (its leads stay stale).

    A fatal DeepSeek error (401/402) fails the step without retries.
    """
    try:
        result = make_standardizer(deepseek.settings(), deepseek.options()).standardize(work.batch)
    except DeepSeekFatal as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    except DeepSeekBatchFailed as exc:
        if context.retry_number < STANDARDIZE_RETRY.max_retries:
            raise
        context.log.error(f"{work.batch.mapping_key}: left stale after {context.retry_number + 1} tries: {exc}")
        result = None
    return BatchDone(work.group, work.batch.number, result)


@dg.op(description="Upsert the re-standardized leads (audit rows with this run id) and report the counts.")
def write_restandardized(
    context: dg.OpExecutionContext, plan: RestandardizePlan, done: list[BatchDone], store: StoreResource,
    deepseek: DeepSeekResource,
) -> dg.Output[dict]:
    """Write every group through ``upsert_file``; batches without a mapped result are standardized here (rules)."""
    settings = deepseek.settings()
    lead_store = store.get()
    mapped = {(d.group, d.number): d for d in done}
    standardizer = None
    for gi, group in enumerate(plan.groups):
        results = []
        for batch in group.batches:
            if (gi, batch.number) in mapped:
                results.append(mapped[(gi, batch.number)].result)
                continue
            standardizer = standardizer or make_standardizer(settings, deepseek.options())
            results.append(standardize_batch(standardizer, batch))
        write_group(lead_store, group, results, plan.result, run_id=context.run_id)
    result = plan.result
    context.log.info(
        f"standardizer {result.current_version}: {result.stale} stale, {result.updated} updated, "
        f"{result.unchanged} unchanged, {result.skipped_no_email} without email skipped, "
        f"{result.skipped_email_changed} email changed skipped, {result.skipped_failed} failed"
    )
    doc = result.to_dict()
    metadata = {k: v for k, v in doc.items() if isinstance(v, (int, str, bool))}
    metadata["stale_by_version"] = dg.MetadataValue.json(result.stale_by_version)
    metadata["stale_by_file"] = dg.MetadataValue.json(result.stale_by_file)
    metadata["notes"] = dg.MetadataValue.json(result.notes)
    return dg.Output(doc, metadata=metadata)


@dg.job(
    description="Re-standardize leads whose standardizer version differs from the current one.",
    tags={"easycrm/kind": "maintenance"},
)
def restandardize_job():
    """plan (stale leads -> batches) -> restandardize_batch (mapped, pool ``deepseek``) -> write through upsert."""
    plan, batches = plan_restandardize_op()
    write_restandardized(plan, batches.map(restandardize_batch).collect())


@dg.schedule(
    job=restandardize_job,
    cron_schedule=RESTANDARDIZE_CRON,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily, off-peak: re-standardize stale leads; skipped while the previous run is still going.",
)
def restandardize_schedule(context: dg.ScheduleEvaluationContext, deepseek: DeepSeekResource):
    """A run request, or a skip when a ``restandardize_job`` run is queued/running."""
    running = context.instance.get_run_records(
        filters=dg.RunsFilter(job_name=restandardize_job.name, statuses=IN_PROGRESS_STATUSES), limit=1
    )
    if running:
        run_id = running[0].dagster_run.run_id
        return dg.SkipReason(f"restandardize_job run {run_id[:8]} is still going; skipping this tick")
    # the ingest's executor config; for the local default (the ingest job's own in-process executor, no run config)
    # say in-process explicitly: this job's default executor is Dagster's multiprocess one
    run_config = execution_config(deepseek.settings().llm_enabled) or {"execution": {"config": {"in_process": {}}}}
    return dg.RunRequest(run_config=run_config)


jobs = [restandardize_job]
schedules = [restandardize_schedule]
