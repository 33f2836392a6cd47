"""The Dagster code location: ``workspace.yaml`` and ``make dev`` load ``easycrm_pipeline.definitions``."""
import dagster as dg

from easycrm_pipeline.dagster_defs.assets import lead_files_source, leads
from easycrm_pipeline.dagster_defs.jobs import ingest_job

try:  # the sensors module is written by a teammate in parallel; the definitions load without it
    from easycrm_pipeline.dagster_defs.sensors import inbox_sensor, s3_sensor

    _sensors = [inbox_sensor, s3_sensor]
except ImportError:  # pragma: no cover
    _sensors = []


def _resources() -> dict:
    from dagster_aws.s3 import S3Resource

    return {"s3": S3Resource()}


defs = dg.Definitions(
    assets=[lead_files_source, leads],
    jobs=[ingest_job],
    sensors=_sensors,
    resources=_resources(),
)


def get_ingest_job() -> dg.JobDefinition:
    """The resolved ingest job (module-level function, so ``dg.reconstructable`` can rebuild it in a subprocess)."""
    return defs.resolve_job_def("ingest_job")
