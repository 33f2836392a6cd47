"""The three ops of the ingest graph: parse a file, standardize each batch (mapped, pool ``deepseek``), collect.

Thin glue over ``easycrm_pipeline.parsing`` / ``pipeline``: the ops only move data and write metadata.
"""

import hashlib
import tempfile
import time
from pathlib import Path, PurePosixPath

import dagster as dg

from easycrm_pipeline.config import get_settings
from easycrm_pipeline.dagster_defs.resources import DeepSeekResource
from easycrm_pipeline.dagster_defs.run_marks import cost_tags, mark_committed
from easycrm_pipeline.dropzone.rules import display_name, size_refusal
from easycrm_pipeline.pipeline.batches import Batch, BatchResult, make_batches
from easycrm_pipeline.pipeline.collect import ParseSummary, collect_file, markdown_table, open_store
from easycrm_pipeline.pipeline.cache import open_cache
from easycrm_pipeline.pipeline.planning import cache_entry, cache_key, plan_rows
from easycrm_pipeline.pipeline.standardizer import add_usage, dead_letter, deepseek_version, make_standardizer

#: Run tag carrying the file's location (absolute path or ``s3://bucket/key``), set by the sensors and the CLI.
LOCATION_TAG = "easycrm/location"
#: Run tag with the drop-zone fingerprint of the file's content (set by the sensors: ``<sha256>:<size>`` for folders).
FINGERPRINT_TAG = "easycrm/fingerprint"
#: Run tag carrying the file's base name (the leads' ``sourceFile``).
FILE_NAME_TAG = "easycrm/file_name"
#: Run tag with the pid of the process that executes a CLI-started run (``easycrm cancel`` interrupts it).
PID_TAG = "easycrm/pid"
#: Seeds: "Dead Letter Queue: After 3 failed attempts" -> 1 try + 2 retries.
STANDARDIZE_RETRY = dg.RetryPolicy(
    max_retries=2, delay=1.0, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


class ParseConfig(dg.Config):
    """Where the file is. Empty values fall back to the run tags ``easycrm/location`` / ``easycrm/file_name``."""

    location: str = ""
    file_name: str = ""


def _resolve_location(context: dg.OpExecutionContext, config: ParseConfig) -> tuple[str, str]:
    tags = context.run.tags
    location = config.location or tags.get(LOCATION_TAG, "")
    if not location:  # launched from the UI (Materialize, Re-execute, backfill): the partition's kept file
        from easycrm_pipeline.dropzone.files import resolve

        key = context.partition_key if context.has_partition_key else ""
        found = resolve(key, get_settings().inbox.absolute())
        if found is None:
            raise dg.Failure(
                description=f"no file for partition {key!r}: it was never ingested here and is not in the drop zone; "
                "drop the file again or set op config parse_file.location",
                allow_retries=False,
            )
        location = found[0]
        return location, config.file_name or tags.get(FILE_NAME_TAG) or found[1]
    file_name = config.file_name or tags.get(FILE_NAME_TAG) or display_name(location.rstrip("/").rsplit("/", 1)[-1])
    if not location.startswith("s3://") and not Path(location).exists() and tags.get(FINGERPRINT_TAG):
        from easycrm_pipeline.dropzone.files import kept_copy  # a UI re-execution after the drop left the inbox

        location = kept_copy(tags[FINGERPRINT_TAG], file_name) or location
    return location, file_name


def _keep(context: dg.OpExecutionContext, path: Path, location: str, file_name: str):
    """Keep the file content-addressed for its partition key (``dropzone.files``), so UI runs find it."""
    from easycrm_pipeline.dropzone.files import keep

    if not context.has_partition_key or not path.is_file():
        return None
    try:
        kept = keep(path, context.partition_key, file_name, location)
    except Exception as exc:  # noqa: BLE001 - keeping is for later UI runs, never a reason to fail this one
        context.log.warning(f"{file_name}: could not keep a copy for UI re-runs: {exc}")
        return None
    context.log.info(f"{file_name}: kept as {kept.location} ({kept.size} bytes, sha256 {kept.sha256})")
    return kept


def _fetch(location: str, workdir: str, max_bytes: int | None = None) -> Path:
    """Local path of the file; S3 objects are downloaded into ``workdir`` (boto3 honours AWS_ENDPOINT_URL).

    The download is named by the SHA-256 of the key (plus its extension), so any legal key works (S3 allows 1,024
    bytes, a file name 255). An object over ``max_bytes`` is refused from its size before anything is downloaded.

    Raises:
        FileRejected: the object is over ``max_bytes``.
    """
    if location.startswith("s3://"):
        import boto3

        from easycrm_pipeline.parsing import FileRejected

        bucket, key = location[5:].split("/", 1)
        client = boto3.client("s3")
        too_big = size_refusal(client.head_object(Bucket=bucket, Key=key).get("ContentLength"), max_bytes)
        if too_big:
            raise FileRejected(f"refused before download: {too_big}")
        suffix = PurePosixPath(key).suffix
        target = Path(workdir) / (hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
                                  + (suffix if len(suffix) <= 16 else ""))
        client.download_file(bucket, key, str(target))
        return target
    return Path(location)


@dg.op(
    ins={"lead_files": dg.In(dg.Nothing)},
    out={
        "summary": dg.Out(ParseSummary),
        "settled": dg.Out(BatchResult, description="rows settled without DeepSeek (the offline rules)"),
        "batches": dg.DynamicOut(Batch),
    },
    description="Read the lead file (CSV, or every worksheet of a workbook) and split it into batches.",
)
def parse_file(context: dg.OpExecutionContext, config: ParseConfig, deepseek: DeepSeekResource):
    """Yield the parse summary, the rows settled without DeepSeek, then one DynamicOutput per batch.

    Without DeepSeek (no key, or ``EASYCRM_LLM=never``) the offline rules settle every row here: a batch that needs
    no DeepSeek call does not become a mapped step (a step costs more than the rules' work).
    """
    from easycrm_pipeline.parsing import FileRejected, read_file

    settings = deepseek.apply(get_settings())
    location, file_name = _resolve_location(context, config)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="easycrm-") as workdir:
        try:
            path = _fetch(location, workdir, settings.max_file_bytes)
            kept = _keep(context, path, location, file_name)
            parsed = read_file(path, file_name=file_name, max_bytes=settings.max_file_bytes)
        except FileRejected as exc:
            raise dg.Failure(description=f"{file_name}: {exc}", allow_retries=False) from exc
        except FileNotFoundError as exc:
            raise dg.Failure(description=f"{file_name}: file not found at {location}", allow_retries=False) from exc
    if settings.llm_enabled:
        cache = open_cache(open_store(settings))
        plan = plan_rows(
            parsed.rows,
            llm_mode=settings.llm_mode,
            version=deepseek_version(settings),
            default_region=settings.default_region,
            cache_get=cache.get if cache else None,
        )
    else:
        plan = plan_rows(parsed.rows, llm_mode="never", version="", default_region=settings.default_region)
    settled = BatchResult(batch="settled", leads=plan.settled)
    batches = make_batches(plan.to_send, settings.batch_size)
    summary = ParseSummary(
        file_name=file_name,
        rows_read=parsed.rows_read,
        quarantine=parsed.quarantine,
        sheets=parsed.sheets,
        encoding=parsed.encoding,
        delimiter=parsed.delimiter,
        batches=len(batches),
        parse_ms=(time.perf_counter() - started) * 1000,
        copies=plan.copies,
    )
    context.log.info(
        f"{file_name}: {parsed.rows_read} rows read, {len(parsed.rows)} lead rows in {len(batches)} batches, "
        f"{len(parsed.quarantine)} quarantined; sheets: "
        + ", ".join(f"{s.name or 'csv'}={s.status}{' (' + s.reason + ')' if s.reason else ''}" for s in parsed.sheets)
    )
    if context.has_partition_key:  # the lead_files partition shows the file (size, sha256, sheets, rows, seen)
        from easycrm_pipeline.dagster_defs.lead_file_events import lead_file_materialization

        context.log_event(lead_file_materialization(context.partition_key, kept, parsed))
    yield dg.Output(
        summary,
        "summary",
        metadata={
            "rows_read": parsed.rows_read,
            "lead_rows": len(parsed.rows),
            "batches": len(batches),
            "settled_by_rules": plan.settled_by_rules,
            "cache_hits": plan.cache_hits,
            "repeated_rows": len(plan.copies),
            "quarantined_at_parse": len(parsed.quarantine),
            "encoding": parsed.encoding or "",
            "delimiter": parsed.delimiter or "",
            "sheets": dg.MetadataValue.json(
                [
                    {"name": s.name, "status": s.status, "reason": s.reason, "hidden": s.hidden, "rows": s.rows}
                    for s in parsed.sheets
                ]
            ),
        },
    )
    yield dg.Output(
        settled,
        "settled",
        metadata={"leads": len(settled.leads), "cache_hits": plan.cache_hits, "by_rules": plan.settled_by_rules},
    )
    for batch in batches:
        yield dg.DynamicOutput(batch, mapping_key=batch.mapping_key, output_name="batches")


@dg.op(
    pool="deepseek",
    retry_policy=STANDARDIZE_RETRY,
    description="Standardize one batch (DeepSeek when a key is set, the offline rules otherwise).",
)
def standardize_batch(context: dg.OpExecutionContext, batch: Batch, deepseek: DeepSeekResource) -> BatchResult:
    """Standardize one batch; after the last of 3 tries the batch goes to the dead letter (quarantine).

    A fatal DeepSeek error (401 bad key, 402 no balance) fails the step without retries, which stops the file.
    """
    from easycrm_pipeline.deepseek.errors import DeepSeekBatchFailed, DeepSeekFatal

    settings = deepseek.apply(get_settings())
    standardizer = make_standardizer(settings, deepseek.options())
    try:
        result = standardizer.standardize(batch)
    except DeepSeekFatal as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    except DeepSeekBatchFailed as exc:
        tries = context.retry_number + 1
        if context.retry_number < STANDARDIZE_RETRY.max_retries:
            raise  # the op's RetryPolicy retries with exponential backoff and jitter
        context.log.error(f"{batch.mapping_key}: dead letter after {tries} tries: {exc}")
        result = dead_letter(batch, f"DeepSeek failed after {tries} tries: {exc}")
        add_usage(result, getattr(exc, "usage", None), deepseek.options().price_table)
    if settings.llm_enabled and not result.failed:
        try:
            _remember(settings, batch, result, standardizer.version)
        except Exception as exc:  # noqa: BLE001 - the cache is an optimization, never a reason to lose a batch
            context.log.warning(f"{batch.mapping_key}: could not write the standardization cache: {exc}")
    context.add_output_metadata(
        {
            "rows": len(batch.rows),
            "leads": len(result.leads),
            "quarantined": len(result.quarantine),
            "llm_calls": result.llm_calls,
            "tokens": result.tokens,
            "failed": result.failed,
            "standardizer": standardizer.version,
        }
    )
    return result


def _preview(store, file_name: str, rows: int = 10) -> str:
    """Markdown table of the first leads this file wrote (by source row)."""
    from easycrm_pipeline.store.base import LeadQuery

    leads, _total = store.query_leads(
        LeadQuery(source_file=file_name, sort="sourceRow", descending=False, page_size=rows)
    )
    columns = ["firstName", "lastName", "title", "company", "email", "phone", "sourceWorksheet", "sourceRow"]
    leads = [lead for lead in leads if lead.get("sourceFile") == file_name]  # the filter is "contains"
    return f"First leads written by {file_name}:\n\n" + markdown_table(leads, columns)


def _remember(settings, batch: Batch, result: BatchResult, version: str) -> None:
    """Put DeepSeek's validated answers into the standardization cache (never fallbacks)."""
    cache = open_cache(open_store(settings))
    if cache is None:
        return
    rows = {r.row_id: r for r in batch.rows}
    entries = {}
    for lead in result.leads:
        entry = cache_entry(lead)
        if entry is not None and lead.row_id in rows:
            entries[cache_key(rows[lead.row_id], version)] = entry
    cache.put(entries)


def _stop_if_cancelled(context: dg.OpExecutionContext) -> None:
    """Raise when the run is being cancelled: called under the store's write lock right before the file's writes,
    so a cancel either lands before the commit (nothing stored) or is refused after it ("already completed")."""
    run = context.instance.get_run_by_id(context.run_id)
    if run is not None and run.status in (dg.DagsterRunStatus.CANCELING, dg.DagsterRunStatus.CANCELED):
        raise dg.Failure(description="the run was cancelled before its leads were stored: nothing was written",
                         allow_retries=False)


@dg.op(
    out=dg.Out(dg.Nothing),
    description="Dedupe the whole file (last occurrence wins) and upsert it into the lead store.",
)
def collect_leads(
    context: dg.OpExecutionContext, summary: ParseSummary, settled: BatchResult, results: list[BatchResult]
):
    """Upsert every batch in file order; the file's stats become the materialization's metadata.

    The output is ``Nothing``: the leads live in the store, and no IO manager has to turn a partition key such as
    ``s3://bucket/key`` into a path.
    """
    from easycrm_pipeline.store.base import StoreLockTimeout

    settings = get_settings()
    try:
        store = open_store(settings)
        stats = collect_file([settled, *results], summary, store, run_id=context.run_id, merge=settings.merge,
                             before_commit=lambda: _stop_if_cancelled(context))
    except StoreLockTimeout as exc:  # "the lead store is locked by another process (waited N s; ...)"
        raise dg.Failure(description=f"{summary.file_name}: {exc}", allow_retries=False) from exc
    mark_committed(context.instance, context.run_id)  # status `completed`; a cancel is refused from now on
    context.log.info(
        f"{stats.file}: {stats.leads_created} created, {stats.leads_updated} updated, "
        f"{stats.leads_unchanged} unchanged, {stats.duplicates_resolved} duplicates resolved, "
        f"{stats.quarantined} quarantined, {stats.failed_batches} failed batches"
    )
    metadata: dict = {k: v for k, v in stats.as_dict().items() if isinstance(v, (int, float, str))}
    metadata["stats"] = dg.MetadataValue.json(stats.as_dict())
    metadata["quarantine_by_reason"] = dg.MetadataValue.json(stats.quarantine_by_reason)
    metadata["failed_batches_detail"] = dg.MetadataValue.json(stats.failed_batch_errors)
    metadata["error_report"] = dg.MetadataValue.md(
        f"**{stats.quarantined} quarantined** "
        + (", ".join(f"{k}: {v}" for k, v in stats.quarantine_by_reason.items()) or "")
        + "\n\n"
        + markdown_table(stats.quarantine_preview, ["sheet", "row", "reason"])
    )
    metadata["preview"] = dg.MetadataValue.md(_preview(store, stats.file))
    if stats.seconds:
        metadata["leads_per_second"] = round((stats.leads_created + stats.leads_updated) / stats.seconds, 1)
    if stats.batches:
        metadata["batch_success_rate"] = round(1 - stats.failed_batches / stats.batches, 4)
    if cost := cost_tags(stats.cost_usd, stats.llm_calls):  # the run's DeepSeek cost, shown at run level
        context.instance.add_run_tags(context.run_id, cost)
    yield dg.Output(None, metadata=metadata)
    from easycrm_pipeline.dagster_defs.checks import log_check_evaluations

    log_check_evaluations(context)  # after the materialization, so the checks' evaluations target it
