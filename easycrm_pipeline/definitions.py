"""The Dagster code location: ``workspace.yaml`` and ``make dev`` load ``easycrm_pipeline.definitions``.

Besides the ingest path (assets ``lead_files`` -> ``leads``, ``ingest_job``, the two drop-zone sensors), feature
modules under ``dagster_defs`` (checks, reports, maintenance, admin) contribute lists named ``assets``,
``asset_checks``, ``jobs``, ``schedules`` and ``sensors``.
"""
import dagster as dg

from easycrm_pipeline.config import Settings, get_settings
from easycrm_pipeline.dagster_defs import admin, checks, dead_runs, duplicates, maintenance, reports
from easycrm_pipeline.dagster_defs.assets import lead_files_source, leads
from easycrm_pipeline.dagster_defs.jobs import ingest_job
from easycrm_pipeline.dagster_defs.resources import DeepSeekResource, S3ClientResource, StoreResource
from easycrm_pipeline.dagster_defs.sensors import inbox_sensor, s3_sensor


def _features() -> dict[str, list]:
    """The definitions the feature modules list (``assets``, ``asset_checks``, ``jobs``, ``schedules``, ``sensors``)."""
    found: dict[str, list] = {"assets": [], "asset_checks": [], "jobs": [], "schedules": [], "sensors": []}
    for module in (checks, reports, maintenance, admin, dead_runs, duplicates):
        for kind in found:
            found[kind].extend(getattr(module, kind, []))
    return found


def resources_for(settings: Settings) -> dict:
    """The resources, bound once: ``store`` and ``deepseek`` (``dagster_defs.resources``), ``s3`` for the S3 sensor;
    with ``EASYCRM_IO_S3_BUCKET`` set, step outputs (the batches between parse_file, the chunk steps and
    collect_leads) are pickled to that bucket instead of ``$DAGSTER_HOME/storage``, so steps can run on machines that
    share no disk (Celery workers, Kubernetes pods; deploy/README.md)."""
    resources: dict = {
        "store": StoreResource.from_settings(settings),
        "deepseek": DeepSeekResource.from_settings(settings),
        "s3": S3ClientResource(),
    }
    if settings.io_s3_bucket:
        from dagster_aws.s3 import S3PickleIOManager, S3Resource  # only here: dagster_aws costs 1-6 s to import

        resources["io_manager"] = S3PickleIOManager(
            s3_resource=S3Resource(), s3_bucket=settings.io_s3_bucket, s3_prefix=settings.io_s3_prefix
        )
    return resources


_extra = _features()

defs = dg.Definitions(
    assets=[lead_files_source, leads, *_extra["assets"]],
    asset_checks=_extra["asset_checks"],
    jobs=[ingest_job, *_extra["jobs"]],
    schedules=_extra["schedules"],
    sensors=[inbox_sensor, s3_sensor, *_extra["sensors"]],
    resources=resources_for(get_settings()),  # the only place the code location reads the environment
)


def get_ingest_job() -> dg.JobDefinition:
    """The resolved ingest job (module-level function, so ``dg.reconstructable`` can rebuild it in a subprocess)."""
    return defs.resolve_job_def("ingest_job")
