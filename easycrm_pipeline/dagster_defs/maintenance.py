"""Maintenance jobs: re-standardize leads whose standardizer version is stale, daily at an off-peak hour.

``restandardize_job`` runs :func:`easycrm_pipeline.pipeline.restandardize.restandardize` with the standardizer the
ingest uses (``make_standardizer(get_settings())``: DeepSeek with a key, the rules otherwise) and writes through
``upsert_file`` (audit rows with the run id). Its op is in the ``deepseek`` pool, so it takes a slot like an ingest
step and the pool limit holds across runs.

``restandardize_schedule`` fires at ``RESTANDARDIZE_CRON`` (UTC) and skips its tick while an earlier
``restandardize_job`` run is still queued or running.

Off-peak: DeepSeek's peak-price hours are 01:00-04:00 and 06:00-10:00 UTC (pricing snapshot noted in
``deepseek/client.py``), so 04:30 UTC is off-peak for DeepSeek and the middle of the night for European and American
users alike.
"""

import dagster as dg

from easycrm_pipeline.config import get_settings

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


@dg.op(pool="deepseek", description="Re-standardize stale leads from their raw rows and upsert them.")
def restandardize_stale(context: dg.OpExecutionContext, config: RestandardizeConfig) -> dg.Output[dict]:
    """Run the re-standardization; its result dict is the output and its counts the metadata."""
    from easycrm_pipeline.deepseek.errors import DeepSeekFatal
    from easycrm_pipeline.pipeline.collect import open_store
    from easycrm_pipeline.pipeline.restandardize import restandardize
    from easycrm_pipeline.pipeline.standardizer import make_standardizer

    settings = get_settings()
    standardizer = make_standardizer(settings)
    try:
        result = restandardize(
            open_store(settings),
            standardizer,
            batch_size=settings.batch_size,
            dry_run=config.dry_run,
            run_id=context.run_id,
        )
    except DeepSeekFatal as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    context.log.info(
        f"standardizer {result.current_version}: {result.stale} stale, {result.updated} updated, "
        f"{result.unchanged} unchanged, {result.skipped_no_email} without email skipped, "
        f"{result.skipped_email_changed} email changed skipped, {result.skipped_failed} failed"
    )
    doc = result.to_dict()
    metadata = {k: v for k, v in doc.items() if isinstance(v, (int, str, bool))}
    metadata["stale_by_version"] = dg.MetadataValue.json(result.stale_by_version)
    metadata["stale_by_file"] = dg.MetadataValue.json(result.stale_by_file)
    return dg.Output(doc, metadata=metadata)


@dg.job(
    description="Re-standardize leads whose standardizer version differs from the current one.",
    tags={"easycrm/kind": "maintenance"},
)
def restandardize_job():
    restandardize_stale()


@dg.schedule(
    job=restandardize_job,
    cron_schedule=RESTANDARDIZE_CRON,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily, off-peak: re-standardize stale leads; skipped while the previous run is still going.",
)
def restandardize_schedule(context: dg.ScheduleEvaluationContext):
    """A run request, or a skip when a ``restandardize_job`` run is queued/running."""
    running = context.instance.get_run_records(
        filters=dg.RunsFilter(job_name=restandardize_job.name, statuses=IN_PROGRESS_STATUSES), limit=1
    )
    if running:
        run_id = running[0].dagster_run.run_id
        return dg.SkipReason(f"restandardize_job run {run_id[:8]} is still going; skipping this tick")
    return dg.RunRequest()


jobs = [restandardize_job]
schedules = [restandardize_schedule]
