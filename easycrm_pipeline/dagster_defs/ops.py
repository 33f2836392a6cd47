"""The three ops of the ingest graph: parse a file, standardize each chunk of batches (mapped), collect.

A chunk step sends its 10-lead batches, up to 5 at once, each request holding one slot of the ``deepseek`` pool
(``pool_slots``); see ``pipeline.chunks`` for the sizing. The rows to send are written once by ``parse_file`` to
the run's rows file (``pipeline.rowfile``); a chunk output only names its slice of it.

Thin glue over ``easycrm_pipeline.parsing`` / ``pipeline``: the ops only move data and write metadata.
"""

import hashlib
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

import dagster as dg

from easycrm_pipeline.config import get_settings
from easycrm_pipeline.dagster_defs.checks import log_check_evaluations
from easycrm_pipeline.dagster_defs.dead_runs import process_tags
from easycrm_pipeline.dagster_defs.lead_file_events import lead_file_materialization
from easycrm_pipeline.dagster_defs.pool_slots import PoolSlots
from easycrm_pipeline.dagster_defs.resources import DeepSeekResource, StoreResource
from easycrm_pipeline.dagster_defs.run_marks import cost_tags, mark_committed
from easycrm_pipeline.dagster_defs.tags import FILE_NAME_TAG, FINGERPRINT_TAG, LOCATION_TAG, PID_TAG
from easycrm_pipeline.deepseek.errors import DeepSeekBatchFailed, DeepSeekFatal
from easycrm_pipeline.dropzone.files import keep, kept_copy, resolve
from easycrm_pipeline.dropzone.rules import display_name, size_refusal
from easycrm_pipeline.models import RawRow
from easycrm_pipeline.parsing import FileRejected, stream_file
from easycrm_pipeline.pipeline.batches import Batch, BatchResult
from easycrm_pipeline.pipeline.cache import open_cache
from easycrm_pipeline.pipeline.chunks import (
    BatchResults,
    Chunk,
    ChunkProgress,
    REQUESTS_IN_FLIGHT,
    make_chunks,
    run_chunk,
)
from easycrm_pipeline.pipeline.collect import ParseSummary, collect_file, markdown_table
from easycrm_pipeline.pipeline.header_mapping import HeaderMapping, stream_file_headers
from easycrm_pipeline.pipeline.leadfile import LeadFile, settle_by_rules
from easycrm_pipeline.pipeline.planning import Plan, cache_entry, cache_key, plan_file
from easycrm_pipeline.pipeline.standardizer import add_usage, dead_letter, deepseek_version, make_standardizer
from easycrm_pipeline.store.base import LeadQuery, StoreLockTimeout

#: Seeds: "Dead Letter Queue: After 3 failed attempts" -> 1 try + 2 retries (the maintenance job's batch steps).
STANDARDIZE_RETRY = dg.RetryPolicy(
    max_retries=2, delay=1.0, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
#: A chunk step that fails on something else than DeepSeek (a disk error, the store's cache) is tried again this many
#: times, after CHUNK_RETRY_DELAY x 2^n seconds; the retry redoes only the chunk's unfinished batches. Each batch's own
#: 3 tries happen inside the step. (Not a RetryPolicy: Dagster retries an op with a RetryPolicy even when the run is
#: being cancelled, so a cancelled run would go on.)
CHUNK_RETRIES = 2
CHUNK_RETRY_DELAY = 2.0
#: The Dagster pool whose limit caps DeepSeek requests in flight across runs and workers.
DEEPSEEK_POOL = "deepseek"
#: Seconds between two "rows read" progress observations of a file being parsed (status redraws twice a second).
PARSE_PROGRESS_EVERY = 0.5


class ParseConfig(dg.Config):
    """Where the file is. Empty values fall back to the run tags ``easycrm/location`` / ``easycrm/file_name``."""

    location: str = ""
    file_name: str = ""


def _resolve_location(context: dg.OpExecutionContext, config: ParseConfig) -> tuple[str, str]:
    tags = context.run.tags
    location = config.location or tags.get(LOCATION_TAG, "")
    if not location:  # launched from the UI (Materialize, Re-execute, backfill): the partition's kept file

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

        location = kept_copy(tags[FINGERPRINT_TAG], file_name) or location
    return location, file_name


def _keep(context: dg.OpExecutionContext, path: Path, location: str, file_name: str):
    """Keep the file content-addressed for its partition key (``dropzone.files``), so UI runs find it."""

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
        "settled": dg.Out(LeadFile, description="the Parquet file of the leads settled without DeepSeek (the offline "
                          "rules, the cache)"),
        "chunks": dg.DynamicOut(Chunk),
    },
    description="Read the lead file (CSV, or every worksheet of a workbook) and split it into chunks of batches.",
)
def parse_file(context: dg.OpExecutionContext, config: ParseConfig, deepseek: DeepSeekResource,
               store: StoreResource):
    """Yield the parse summary, the rows settled without DeepSeek, then one DynamicOutput per chunk of batches.

    Without DeepSeek (no key, or ``EASYCRM_LLM=never``) the offline rules settle every row here: a batch that needs
    no DeepSeek call does not become a mapped step (a step costs more than the rules' work). The settled leads are
    not a step output: they are written once, block by block, to ``$DAGSTER_HOME/easycrm_batches/<run id>/
    settled.parquet`` (``pipeline.leadfile``), and the output is its :class:`LeadFile` (path and count).

    With DeepSeek the rows are taken in blocks of ``planning.PLAN_BLOCK_ROWS`` (``planning.plan_file``): the header
    mapping (``header_mapping.stream_file_headers``: each distinct header row asked once), the cache look-ups and the
    ``auto`` decisions run per block; the settled leads go to ``settled.parquet`` and the rows to send, in file
    order, to ``to_send.parquet`` next to it (``pipeline.rowfile``). A chunk output is a reference into that file
    (path, chunk number, batch range: ~0.3 KB pickled, ``pipeline.chunks.Chunk``), not its rows.

    Rows are read one by one from ``parsing.stream_file`` (a CSV is streamed), so neither path holds a list of the
    file's rows or leads; only the repeated rows (``copies``, in the summary) and one cache key per row sent (to
    find them) are kept for the whole file.
    """

    _tag_run_process(context)
    settings = deepseek.apply(get_settings())
    location, file_name = _resolve_location(context, config)
    started = time.perf_counter()
    settled_path = _journal_dir(context.instance, context.run_id) / SETTLED_FILE
    header_mapping = HeaderMapping()
    with tempfile.TemporaryDirectory(prefix="easycrm-") as workdir:
        try:
            path = _fetch(location, workdir, settings.max_file_bytes)
            kept = _keep(context, path, location, file_name)
            parsed, rows = stream_file(path, file_name=file_name, max_bytes=settings.max_file_bytes)
            partition = context.partition_key if context.has_partition_key else None
            rows = reporting_rows_read(rows, lambda n: context.log_event(dg.AssetObservation(
                asset_key="leads", partition=partition, metadata={"stage": "parsing", "rows_read": n})))
            if settings.llm_enabled:  # block by block: header mapping, cache, rules, rows to send to the rows file
                slot = PoolSlots(context.instance, DEEPSEEK_POOL, context.run_id, f"{context.op_handle}[headers]").hold
                cache = open_cache(store.get())
                mapped = stream_file_headers(rows, header_mapping, settings, cache, deepseek.options(), slot=slot)
                settled, to_send, plan = plan_file(
                    mapped, settled_path, settled_path.with_name(TO_SEND_FILE), llm_mode=settings.llm_mode,
                    version=deepseek_version(settings), default_region=settings.default_region,
                    cache_get=cache.get if cache else None)
            else:  # the rules settle every row, block by block, into the run's Parquet file of settled leads
                settled = settle_by_rules(rows, settled_path, settings.default_region)
                to_send, plan = None, Plan(settled_by_rules=settled.leads)
        except FileRejected as exc:
            raise dg.Failure(description=f"{file_name}: {exc}", allow_retries=False) from exc
        except FileNotFoundError as exc:
            raise dg.Failure(description=f"{file_name}: file not found at {location}", allow_retries=False) from exc
    chunks = make_chunks(to_send, settings.batch_size) if to_send is not None else []
    batches = chunks[0].total_batches if chunks else 0
    summary = ParseSummary(
        file_name=file_name,
        rows_read=parsed.rows_read,
        quarantine=parsed.quarantine,
        sheets=parsed.sheets,
        encoding=parsed.encoding,
        delimiter=parsed.delimiter,
        batches=batches,
        parse_ms=(time.perf_counter() - started) * 1000,
        copies=plan.copies,
        header_requests=(header_mapping.as_batch_result(deepseek.options().price_table)
                         if header_mapping.usage.calls else None),
    )
    context.log.info(
        f"{file_name}: {parsed.rows_read} rows read, {parsed.lead_rows} lead rows in {batches} batches, "
        f"{len(parsed.quarantine)} quarantined; sheets: "
        + ", ".join(f"{s.name or 'csv'}={s.status}{' (' + s.reason + ')' if s.reason else ''}" for s in parsed.sheets)
    )
    if context.has_partition_key:  # the lead_files partition shows the file (size, sha256, sheets, rows, seen)

        context.log_event(lead_file_materialization(context.partition_key, kept, parsed))
    yield dg.Output(
        summary,
        "summary",
        metadata={
            "rows_read": parsed.rows_read,
            "lead_rows": parsed.lead_rows,
            "batches": batches,
            "chunks": len(chunks),
            "settled_by_rules": plan.settled_by_rules,
            "cache_hits": plan.cache_hits,
            "repeated_rows": len(plan.copies),
            "quarantined_at_parse": len(parsed.quarantine),
            "header_mapping": dg.MetadataValue.json(header_mapping.as_dict()),
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
        metadata={"leads": settled.leads, "cache_hits": plan.cache_hits, "by_rules": plan.settled_by_rules,
                  "path": settled.path},
    )
    for chunk in chunks:
        yield dg.DynamicOutput(chunk, mapping_key=chunk.mapping_key, output_name="chunks")


def reporting_rows_read(rows: Iterator[RawRow], report: Callable[[int], None],
                        every: float = PARSE_PROGRESS_EVERY) -> Iterator[RawRow]:
    """``rows`` handed on unchanged; ``report(n)`` with the rows read so far at most every ``every`` seconds (checked
    every 1,000 rows). ``parse_file`` reports them as an observation of the file's partition of ``leads``
    (``{"stage": "parsing", "rows_read": n}``), which ``easycrm status`` and the ingest progress line show while a big
    file is parsed (``dagster_defs.progress``)."""
    last = time.monotonic()
    for n, row in enumerate(rows, 1):
        yield row
        if n % 1000 == 0 and time.monotonic() - last >= every:
            last = time.monotonic()
            report(n)


def _tag_run_process(context: dg.OpExecutionContext) -> None:
    """Tag the run with this process's pid and host when steps run in the run process (the job's default executor),
    so the dead-run reaper can tell a run whose process died (``dead_runs``). A CLI run is tagged at launch."""
    run = context.run
    if PID_TAG in run.tags:
        return
    execution = (run.run_config or {}).get("execution") or {}
    mode = next(iter((execution.get("config") or {"in_process": {}})), "in_process")
    if mode == "in_process":

        context.instance.add_run_tags(run.run_id, process_tags())


@dg.op(
    description="Standardize a chunk of batches: up to 5 DeepSeek requests at once, one `deepseek` pool slot each.",
)
def standardize_chunk(context: dg.OpExecutionContext, chunk: Chunk, deepseek: DeepSeekResource,
                      store: StoreResource) -> list:
    """Standardize the chunk's unfinished batches; returns every batch's ``BatchResult`` in batch order.

    The chunk is a reference (``pipeline.chunks.Chunk``): its batches are read from its slice of the run's rows file
    (``to_send.parquet``, written by ``parse_file``); a rows file that is gone (its run folder deleted) fails the
    step at once, without retries.

    Each batch is one request holding one slot of the instance's ``deepseek`` pool (``pool_slots``); the step itself
    holds none. A batch DeepSeek fails 3 times goes to the dead letter (quarantine). A fatal DeepSeek error (401 bad
    key, 402 no balance) fails the step without retries, which stops the file; any other error asks Dagster for a
    retry of the step (``CHUNK_RETRIES``). Finished batches are journaled in ``$DAGSTER_HOME/easycrm_batches/<run
    id>`` first: a retry of this step, or a re-execution of the run from failure, sends only the batches that were
    not finished. Progress (batches done) is logged as an observation of ``leads`` every half second.
    """

    settings = deepseek.apply(get_settings())
    try:
        batches = chunk.read_batches()
    except FileNotFoundError as exc:
        raise dg.Failure(description=f"{chunk.mapping_key}: the file's rows to send are gone ({chunk.rows_file}); "
                         "its run folder was deleted: ingest the file again", allow_retries=False) from exc
    standardizer = make_standardizer(settings, deepseek.options())
    slots = PoolSlots(context.instance, DEEPSEEK_POOL, context.run_id, f"{context.op_handle}[{chunk.mapping_key}]")

    def dead(batch: Batch, exc: Exception, tries: int) -> BatchResult:
        context.log.error(f"{batch.mapping_key}: dead letter after {tries} tries: {exc}")
        result = dead_letter(batch, f"DeepSeek failed after {tries} tries: {exc}")
        return add_usage(result, getattr(exc, "usage", None), deepseek.options().price_table)

    def on_progress(progress: ChunkProgress) -> None:
        context.log_event(
            dg.AssetObservation(
                asset_key="leads",
                partition=context.partition_key if context.has_partition_key else None,
                metadata=_progress_metadata(chunk, progress),
            )
        )

    try:
        results, progress = run_chunk(
            chunk,
            standardizer.standardize,
            BatchResults(*_result_dirs(context)),
            slot=slots.hold,
            dead_letter=dead,
            retryable=(DeepSeekBatchFailed,),
            on_progress=on_progress,
            batches=batches,
            # more threads than requests in flight (the slots bound those): a thread validating and storing an
            # answer does not keep a slot idle
            workers=2 * REQUESTS_IN_FLIGHT if slots.limit else REQUESTS_IN_FLIGHT,
        )
    except DeepSeekFatal as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    except Exception as exc:
        raise dg.RetryRequested(
            max_retries=CHUNK_RETRIES, seconds_to_wait=CHUNK_RETRY_DELAY * 2**context.retry_number
        ) from exc
    finally:
        slots.close()
    if settings.llm_enabled:
        try:
            _remember(store, batches, results, standardizer.version)
        except Exception as exc:  # noqa: BLE001 - the cache is an optimization, never a reason to lose a batch
            context.log.warning(f"{chunk.mapping_key}: could not write the standardization cache: {exc}")
    if progress.reused:
        context.log.info(f"{chunk.mapping_key}: {progress.reused} batches were finished before, not sent again")
    metadata = _progress_metadata(chunk, progress)
    metadata.update(
        {
            "leads": sum(len(r.leads) for r in results),
            "quarantined": sum(len(r.quarantine) for r in results),
            "llm_calls": sum(r.llm_calls for r in results),
            "completion_tokens": sum(r.completion_tokens for r in results),
            "standardizer": standardizer.version,
        }
    )
    context.add_output_metadata(metadata)
    return results


def _progress_metadata(chunk: Chunk, progress: ChunkProgress) -> dict:
    """What ``easycrm status`` reads from a chunk's progress observations and its output (``dagster_defs.progress``)."""
    return {
        "chunk": chunk.mapping_key,
        "batches": chunk.batch_count,
        "batches_done": progress.batches_done,
        "rows": chunk.rows,
        "rows_done": progress.rows_done,
        "reused_batches": progress.reused,
        "failed_batches": dg.MetadataValue.json(dict(progress.failed)),
        "tokens": progress.tokens,
        "cost_usd": round(progress.cost_usd, 6),
    }


#: Folder under ``$DAGSTER_HOME`` holding each run's finished batches (``<run id>/<batch key>.pkl``) and its settled
#: leads (``<run id>/settled.parquet``).
BATCH_JOURNAL = "easycrm_batches"
SETTLED_FILE = "settled.parquet"
#: The run's rows to send to DeepSeek (``pipeline.rowfile``), next to its settled leads; the chunks point into it.
TO_SEND_FILE = "to_send.parquet"


def _journal_dir(instance, run_id: str) -> Path:
    return Path(instance.root_directory) / BATCH_JOURNAL / run_id


def _result_dirs(context: dg.OpExecutionContext) -> tuple[Path, list[Path]]:
    """Where this run stores its finished batches (``$DAGSTER_HOME/easycrm_batches/<run id>``), and where the runs it
    re-executes stored theirs (parent, grandparent...).

    The folder is on this machine's disk: the local executors and Celery workers on one machine share it; workers on
    other machines each see their own (a retry there resends its chunk's finished batches). It is not a step output:
    ``collect_leads`` deletes it once the file is stored; a failed run's stays for a re-execution from failure."""
    earlier, run = [], context.run
    while run.parent_run_id and len(earlier) < 20:
        earlier.append(_journal_dir(context.instance, run.parent_run_id))
        run = context.instance.get_run_by_id(run.parent_run_id)
        if run is None:
            break
    return _journal_dir(context.instance, context.run_id), earlier


def _preview(store, file_name: str, rows: int = 10) -> str:
    """Markdown table of the first leads this file wrote (by source row)."""

    leads, _total = store.query_leads(
        LeadQuery(source_file=file_name, sort="sourceRow", descending=False, page_size=rows)
    )
    columns = ["firstName", "lastName", "title", "company", "email", "phone", "sourceWorksheet", "sourceRow"]
    leads = [lead for lead in leads if lead.get("sourceFile") == file_name]  # the filter is "contains"
    return f"First leads written by {file_name}:\n\n" + markdown_table(leads, columns)


def _remember(store: StoreResource, batches: tuple[Batch, ...], results: list[BatchResult], version: str) -> None:
    """Put DeepSeek's validated answers of a chunk's ``batches`` into the standardization cache in one write (never
    fallbacks, never dead-lettered batches)."""
    cache = open_cache(store.get())
    if cache is None:
        return
    rows = {r.row_id: r for b in batches for r in b.rows}
    entries = {}
    for lead in (lead for result in results if not result.failed for lead in result.leads):
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
    context: dg.OpExecutionContext, summary: ParseSummary, settled: LeadFile, results: list[list], store: StoreResource
):
    """Upsert every batch in file order; the file's stats become the materialization's metadata.

    The output is ``Nothing``: the leads live in the store, and no IO manager has to turn a partition key such as
    ``s3://bucket/key`` into a path.
    """

    settings = get_settings()
    batch_results = [result for chunk in results for result in chunk]
    try:
        lead_store = store.get()
        stats = collect_file(batch_results, summary, lead_store, run_id=context.run_id, merge=settings.merge,
                             before_commit=lambda: _stop_if_cancelled(context), lead_files=[settled])
    except StoreLockTimeout as exc:  # "the lead store is locked by another process (waited N s; ...)"
        raise dg.Failure(description=f"{summary.file_name}: {exc}", allow_retries=False) from exc
    mark_committed(context.instance, context.run_id)  # status `completed`; a cancel is refused from now on
    shutil.rmtree(_journal_dir(context.instance, context.run_id), ignore_errors=True)  # stored: no retry needs it
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
    metadata["preview"] = dg.MetadataValue.md(_preview(lead_store, stats.file))
    if stats.seconds:
        metadata["leads_per_second"] = round((stats.leads_created + stats.leads_updated) / stats.seconds, 1)
    if stats.batches:
        metadata["batch_success_rate"] = round(1 - stats.failed_batches / stats.batches, 4)
    if cost := cost_tags(stats.cost_usd, stats.llm_calls):  # the run's DeepSeek cost, shown at run level
        context.instance.add_run_tags(context.run_id, cost)
    yield dg.Output(None, metadata=metadata)

    log_check_evaluations(context, lead_store)  # after the materialization, so the checks' evaluations target it
