"""A failed ingest run carries its reason as a run tag: the runs list shows ``easycrm/error = <step>: <one line>``
under the run (the run page has it under "View tags and config", and an ERROR line "run failed: ..." just above
the RUN_FAILURE event), without opening a stack trace. The file's partition of ``leads`` gets the same line as an
observation (description and ``error`` metadata, with the run): the UI's partition page lists a partition's
materializations, observations and failures, so the reason shows where the partition shows Failed. An observation
of a materializable asset is no update for automation conditions (Dagster counts only materializations for it), so
it refreshes no report.

Set by a failure hook on ``ingest_job`` (:data:`tag_failure_reason`) in the run's own process, right when the step
fails, so it is there before the run ends; the first failed step's reason wins (later ones — steps skipped or failed
because of it — don't overwrite it).
"""
from __future__ import annotations

import dagster as dg

#: Run tag with the one-line failure reason of a failed run.
ERROR_TAG = "easycrm/error"
#: Dagster's run tag naming the run's partition.
PARTITION_TAG = "dagster/partition"
#: The asset whose partition a failed ingest run leaves failed.
LEADS_ASSET = dg.AssetKey("leads")
#: Longest tag value written (the UI shows tags on one line).
MAX_REASON_CHARS = 300


def one_line(exc: BaseException | None) -> str:
    """The exception's first non-empty line (a ``dg.Failure``'s description), cut to :data:`MAX_REASON_CHARS`."""
    if exc is None:
        return "unknown error"
    text = getattr(exc, "description", None) or str(exc) or type(exc).__name__
    line = next((ln.strip() for ln in str(text).splitlines() if ln.strip()), type(exc).__name__)
    return line if len(line) <= MAX_REASON_CHARS else line[: MAX_REASON_CHARS - 1] + "…"


@dg.failure_hook(name="tag_failure_reason")
def tag_failure_reason(context: dg.HookContext) -> None:
    """Tag the run ``easycrm/error=<op>: <reason>`` unless an earlier failed step already did."""
    run = context.instance.get_run_by_id(context.run_id)
    if run is not None and ERROR_TAG in run.tags:
        return
    reason = f"{context.op.name}: {one_line(context.op_exception)}"
    context.instance.add_run_tags(context.run_id, {ERROR_TAG: reason})
    context.log.error(f"run failed: {reason}")
    partition = run.tags.get(PARTITION_TAG) if run is not None else None
    if partition:
        context.instance.report_runless_asset_event(dg.AssetObservation(
            asset_key=LEADS_ASSET, partition=partition, description=f"run failed: {reason}",
            metadata={"error": reason, "run": dg.MetadataValue.dagster_run(context.run_id)},
        ))
