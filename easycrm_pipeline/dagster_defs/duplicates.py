"""The ``possible_duplicates`` asset (issue 18): after each file's upsert, the leads that run created or updated are
compared with the whole table (:func:`easycrm_pipeline.pipeline.duplicates.detect_duplicates`) and the pairs that
may be the same person are recorded — never merged. Lineage ``leads -> possible_duplicates``, one partition per file
like ``leads``; ``ingest_job`` materializes it after ``collect_leads``.

Per-run metadata: leads compared, candidate pairs, pairs found and pairs found by blocking rule. Its check
``few_possible_duplicates`` warns (severity WARN, never fails the run) when a file brings many pairs: more than
:data:`MANY_PAIRS_MIN` and more than :data:`MANY_PAIRS_SHARE` of the leads compared — a file of people already in
the table under other addresses, or a blocking key gone wrong.
"""
import dagster as dg

from easycrm_pipeline.dagster_defs.tags import FILE_NAME_TAG
from easycrm_pipeline.dagster_defs.partitions import lead_files
from easycrm_pipeline.dagster_defs.resources import StoreResource
from easycrm_pipeline.pipeline.duplicates import detect_duplicates

#: The check warns above this many pairs ...
MANY_PAIRS_MIN = 10
#: ... when they are also more than this share of the leads compared.
MANY_PAIRS_SHARE = 0.2
CHECK_NAME = "few_possible_duplicates"


def _file_name(context: dg.AssetExecutionContext) -> str:
    """The run's ``easycrm/file_name`` tag, else the partition key's base name."""
    tag = context.run.tags.get(FILE_NAME_TAG)
    if tag:
        return tag
    key = context.partition_key if context.has_partition_key else ""
    return key.rstrip("/").rsplit("/", 1)[-1]


def too_many(pairs_found: int, leads_compared: int) -> bool:
    """True when a file brings "many" pairs (see the module docstring)."""
    return pairs_found > MANY_PAIRS_MIN and pairs_found > MANY_PAIRS_SHARE * leads_compared


@dg.multi_asset(
    specs=[dg.AssetSpec(
        "possible_duplicates",
        deps=["leads"],
        group_name="easycrm",
        description="Pairs of leads that may be the same person under another email or with none (score and "
                    "evidence per pair; `easycrm duplicates` lists them, `easycrm merge` / `easycrm dismiss` settle "
                    "them).",
    )],
    partitions_def=lead_files,
    check_specs=[dg.AssetCheckSpec(CHECK_NAME, asset="possible_duplicates", partitions_def=lead_files,
                                   description="Warns when a file brings many possible duplicates.")],
    can_subset=True,  # ingest_job selects the asset without its check (see the function's docstring)
)
def possible_duplicates(context: dg.AssetExecutionContext, store: StoreResource):
    """Find and record the possible duplicates of this run's leads; metadata and check as the module says.

    Like the ``leads`` checks (``checks.log_check_evaluations``), ``ingest_job`` selects this asset without its check
    and the check's evaluation is logged for the run's partition after the materialization: a file whose run fails
    before this step leaves no "Execution failed" check record. A run that selects the check (a UI "Materialize")
    gets it as the asset's own check result."""
    source_file = _file_name(context)
    result = detect_duplicates(store.get(), run_id=context.run_id, source_file=source_file)
    context.log.info(f"{source_file}: {result.pairs_found} possible duplicate pair(s) among "
                     f"{result.candidates} candidates for {result.leads_compared} leads")
    metadata = {
        "file": source_file,
        "leads_compared": result.leads_compared,
        "candidate_pairs": result.candidates,
        "pairs_found": result.pairs_found,
        **{f"pairs_by_{rule}": n for rule, n in result.by_rule.items()},
        "skipped_keys": dg.MetadataValue.json(result.skipped_keys),
        "threshold": result.threshold,
        "seconds": result.seconds,
        "top_pairs": dg.MetadataValue.json(result.top),
    }
    many = too_many(result.pairs_found, result.leads_compared)
    verdict = {
        "passed": not many,
        "severity": dg.AssetCheckSeverity.WARN,
        "metadata": {"pairs_found": result.pairs_found, "leads_compared": result.leads_compared,
                     "limit": max(MANY_PAIRS_MIN, int(MANY_PAIRS_SHARE * result.leads_compared))},
    }
    key = dg.AssetCheckKey(dg.AssetKey("possible_duplicates"), CHECK_NAME)
    if key in context.selected_asset_check_keys:
        yield dg.MaterializeResult(asset_key="possible_duplicates", metadata=metadata, check_results=[dg.AssetCheckResult(check_name=CHECK_NAME,
                                                                                         **verdict)])
        return
    yield dg.MaterializeResult(asset_key="possible_duplicates", metadata=metadata)
    context.log_event(dg.AssetCheckEvaluation(
        asset_key=key.asset_key, check_name=CHECK_NAME, partition=context.partition_key, **verdict))


#: Collected by ``easycrm_pipeline.definitions`` (feature module contract).
assets = [possible_duplicates]
