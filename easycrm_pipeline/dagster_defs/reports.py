"""Reports downstream of ``leads``: the CSV export and the lead quality report (lineage
``lead_files`` -> ``leads`` -> ``leads_export`` / ``lead_quality_report``).

Both are unpartitioned and depend on the whole partitioned ``leads`` asset (``deps=["leads"]``); they read the
store, so materializing them never re-runs an ingest. Thin glue over ``easycrm_pipeline.readers``.
"""

from pathlib import Path

import dagster as dg

from easycrm_pipeline.config import get_settings
from easycrm_pipeline.dagster_defs.resources import StoreResource
from easycrm_pipeline.readers.export import export_leads
from easycrm_pipeline.readers.quality import chart_markdown, quality_report, render_chart_png

#: When the reports refresh by themselves (the daemon's ``reports_automation_sensor``): once after one or more
#: ``leads`` partitions were materialized, when no ingest is in progress. Dagster's ``eager()`` minus its
#: "no dependency missing" part: a file whose run failed leaves its partition missing, and must not stop the reports.
REFRESH_AFTER_INGEST = (
    dg.AutomationCondition.eager()
    .without(~dg.AutomationCondition.any_deps_missing())
    .with_label("after ingests")
)

#: Environment variable naming the export file (default ``data/exports/leads.csv``).
EXPORT_PATH_ENV = "EASYCRM_EXPORT_PATH"


def export_path() -> Path:
    """Where ``leads_export`` writes: ``$EASYCRM_EXPORT_PATH`` or ``<data dir>/exports/leads.csv`` (the data dir
    is the folder holding the default DuckDB file, ``data/``)."""
    return get_settings().export_path


@dg.asset(
    deps=["leads"],
    group_name="easycrm",
    automation_condition=REFRESH_AFTER_INGEST,
    description="Every lead as CSV (UTF-8 with BOM, the seeds' columns, formula-injection-safe), streamed.",
    kinds={"csv"},
)
def leads_export(context: dg.AssetExecutionContext, store: StoreResource) -> dg.MaterializeResult:
    """Write the export file (folder created if missing); metadata: ``rows``, ``path``."""
    path = export_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = export_leads(store.get(), path)
    context.log.info(f"{rows} leads exported to {path}")
    return dg.MaterializeResult(
        metadata={"rows": dg.MetadataValue.int(rows), "path": dg.MetadataValue.path(str(path.resolve()))}
    )


@dg.asset(
    deps=["leads"],
    group_name="easycrm",
    automation_condition=REFRESH_AFTER_INGEST,
    description="Lead quality: leads by source file, share with valid email/phone/name, duplicates resolved, "
    "quarantine by reason, with a chart.",
)
def lead_quality_report(context: dg.AssetExecutionContext, store: StoreResource) -> dg.MaterializeResult:
    """Compute the quality report from the store's tables; metadata holds the counts and a PNG chart (markdown
    with a base64 data URI; a note instead when matplotlib is missing)."""
    report = quality_report(store.get())
    metadata: dict = {
        "total_leads": dg.MetadataValue.int(report.total_leads),
        "leads_by_source": dg.MetadataValue.json(report.leads_by_source),
        "valid_email_share": dg.MetadataValue.float(report.valid_email_share),
        "valid_phone_share": dg.MetadataValue.float(report.valid_phone_share),
        "named_share": dg.MetadataValue.float(report.named_share),
        "duplicates_resolved": dg.MetadataValue.int(report.duplicates_resolved),
        "quarantined": dg.MetadataValue.int(report.quarantined),
        "quarantine_by_reason": dg.MetadataValue.json(report.quarantine_by_reason),
    }
    try:
        metadata["chart"] = dg.MetadataValue.md(chart_markdown(render_chart_png(report)))
    except ImportError:
        metadata["chart"] = dg.MetadataValue.md("_chart unavailable: matplotlib is not installed_")
        context.log.warning("matplotlib is not installed: lead_quality_report has no chart")
    return dg.MaterializeResult(metadata=metadata)


assets = [leads_export, lead_quality_report]

#: Evaluates :data:`REFRESH_AFTER_INGEST` every 30 s; running from the start (Dagster's own default automation
#: sensor starts stopped, so `make dev` would never refresh the reports).
reports_automation_sensor = dg.AutomationConditionSensorDefinition(
    "reports_automation_sensor",
    target=dg.AssetSelection.assets(leads_export, lead_quality_report),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Refreshes leads_export and lead_quality_report after ingests (automation conditions).",
)
sensors = [reports_automation_sensor]
