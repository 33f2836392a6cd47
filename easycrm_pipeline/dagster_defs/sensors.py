"""The drop-zone sensors: a lead file appearing in the inbox folder or the S3 prefix becomes a ``lead_files`` partition
and a run of ``ingest_job``.

Thin glue over :mod:`easycrm_pipeline.dropzone`. Each sensor's cursor is a
:class:`~easycrm_pipeline.dropzone.ProcessedRecord` (``{"v":1,"files":{partition_key: fingerprint},"drops":{...}}``),
never a ``since_key``/timestamp (docs/dagster-facts.md#s3-drop-zone). Settings are read at every evaluation
(``config.get_settings()``).

Resources: ``s3_sensor`` needs a resource ``s3`` (``dagster_defs.resources.S3ClientResource()``; boto3 honours ``AWS_ENDPOINT_URL``)
bound in the ``Definitions``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from botocore.exceptions import BotoCoreError, ClientError

from easycrm_pipeline.config import get_settings
from easycrm_pipeline.dagster_defs.jobs import execution_config
from easycrm_pipeline.dagster_defs.partitions import lead_files
from easycrm_pipeline.dagster_defs.resources import S3ClientResource
from easycrm_pipeline.dagster_defs.run_marks import is_undone
from easycrm_pipeline.dropzone import DropFile, ProcessedRecord, diff, redropped, scan_folder, scan_s3

INGEST_JOB_NAME = "ingest_job"
def _interval(default: int) -> int:
    """Seconds between sensor evaluations: ``EASYCRM_SENSOR_INTERVAL_SECONDS`` (read when the code location loads)
    or ``default``."""
    return get_settings().sensor_interval_seconds or default


INBOX_SENSOR_INTERVAL_SECONDS = _interval(15)
S3_SENSOR_INTERVAL_SECONDS = _interval(30)
#: At most this many run requests per tick; the rest stay out of the cursor and are requested on the next ticks.
MAX_RUN_REQUESTS_PER_TICK = 250
#: Local files changed less than this many seconds ago are left for the next tick (see ``scan_folder``).
FOLDER_SETTLE_SECONDS = 1.0
#: Hash new local files for at most this long per tick (the daemon times sensor evaluations out after 60 s).
FOLDER_HASH_BUDGET_SECONDS = 30.0
#: Per tick, at most this many individual "ignored"/"skipped" log lines per kind, then one summary line.
MAX_LOG_LINES_PER_KIND = 50
#: Graph path of the ``parse_file`` op inside ``ingest_job`` (the ``leads`` graph asset), see :func:`run_config_for`.
PARSE_FILE_OP_PATH: tuple[str, ...] = ("leads", "parse_file")


class _CappedLog:
    """Logs one info line per item up to a limit, then a single summary line (keeps tick logs readable)."""

    def __init__(self, context: dg.SensorEvaluationContext, kind: str) -> None:
        self.context, self.kind, self.count = context, kind, 0

    def __call__(self, name: str, reason: str) -> None:
        self.count += 1
        if self.count <= MAX_LOG_LINES_PER_KIND:
            self.context.log.info(f"{self.kind} {name!r}: {reason}")

    def close(self) -> None:
        if self.count > MAX_LOG_LINES_PER_KIND:
            more = self.count - MAX_LOG_LINES_PER_KIND
            self.context.log.info(f"... and {more} more {self.kind} files ({self.count} in all)")


def run_config_for(f: DropFile) -> dict:
    """``parse_file``'s op config for one file, nested at :data:`PARSE_FILE_OP_PATH`.

    The team contract says ``{"ops": {"parse_file": {"config": {"location", "file_name"}}}}``; in ``ingest_job``
    ``parse_file`` lives inside the ``leads`` graph asset, whose job rejects that shape ("unexpected config entry
    'parse_file' at path root:ops"), so the same config is nested one graph deeper:
    ``{"ops": {"leads": {"ops": {"parse_file": {"config": {"location": ..., "file_name": ...}}}}}}``.
    """
    node: dict = {"config": {"location": f.location, "file_name": f.file_name}}
    for name in reversed(PARSE_FILE_OP_PATH):
        node = {"ops": {name: node}}
    return node


def _run_key(f: DropFile, attempt: int = 1) -> str:
    base = f"{f.partition_key}@{f.fingerprint}"
    return base if attempt <= 1 else f"{base}#{attempt}"


def _attempt_of(run_key: str | None) -> int:
    """The attempt number in a run_key made by :func:`_run_key` (``...#3`` -> 3, no suffix -> 1)."""
    head, sep, tail = (run_key or "").rpartition("#")
    return int(tail) if sep and head and tail.isdigit() else 1


def _run_key_used(instance: dg.DagsterInstance, f: DropFile, attempt: int = 1) -> bool:
    """True when a run with this file's run_key (of ``attempt``) exists: the daemon would drop a new request with it
    as a duplicate."""
    key = _run_key(f, attempt)
    return bool(instance.get_run_records(filters=dg.RunsFilter(tags={"dagster/run_key": key}), limit=1))


def changed_attempt(instance: dg.DagsterInstance, f: DropFile) -> int:
    """The attempt number for a file whose content differs from the last version a run was requested for.

    Usually 1 (``run_key`` = ``partition_key@fingerprint``). When the file went back to a version that already ran
    (v1 -> v2 -> v1), that run_key is taken and the daemon would silently drop the request, leaving v2 in the
    table: the first attempt number whose run_key no run carries yet (``...#2``, ``#3``...). One instance query per
    attempt tried (one for a never-seen version).
    """
    attempt = 1
    while _run_key_used(instance, f, attempt):
        attempt += 1
    return attempt


#: Last-run statuses after which the same content dropped again gets a new run.
RETRY_STATUSES = frozenset({dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.FAILURE})


def same_content_verdict(instance: dg.DagsterInstance, f: DropFile) -> tuple[int | None, str]:
    """Decide what to do with a file dropped again with content a run was already requested for.

    One query: the ``ingest_job`` runs of ``f``'s partition tagged with its fingerprint (re-executions included),
    newest first. The newest one decides:

    - CANCELED or FAILURE, or SUCCESS with its import undone (tag ``easycrm/undone``, see
      :mod:`~easycrm_pipeline.dagster_defs.run_marks`) -> run again;
    - SUCCESS -> skip, "already ingested by run <id>";
    - any other status -> skip, "a run for this content is in progress";
    - no run at all (requested, not launched yet) -> skip.

    Returns:
        ``(attempt, reason)``: ``attempt`` is the attempt number for :func:`run_request_for` (one more than any
        earlier attempt of this content, so its run_key is new) or ``None`` to skip; ``reason`` is the log text.
    """
    records = instance.get_run_records(
        filters=dg.RunsFilter(
            job_name=INGEST_JOB_NAME, tags={"dagster/partition": f.partition_key, "easycrm/fingerprint": f.fingerprint}
        )
    )
    if not records:
        return None, "a run for this content was requested and is not launched yet"
    last = records[0].dagster_run
    status = last.status
    attempt = 1 + max(len(records), *(_attempt_of(r.dagster_run.tags.get("dagster/run_key")) for r in records))
    if status in RETRY_STATUSES:
        return attempt, f"its last run {last.run_id} was {status.value}"
    if status == dg.DagsterRunStatus.SUCCESS:
        if is_undone(last.tags):
            return attempt, f"its last run {last.run_id} was undone"
        return None, f"already ingested by run {last.run_id}"
    return None, f"a run for this content is in progress (run {last.run_id}, {status.value})"


def run_request_for(f: DropFile, execution: Mapping[str, Any] | None = None, attempt: int = 1) -> dg.RunRequest:
    """The ``ingest_job`` run request for one file.

    ``execution``: the run config's ``execution`` section, merged in — the sensors pass
    ``jobs.execution_config(settings.llm_enabled)``, the same executor ``easycrm ingest`` uses.

    ``run_key`` = ``"{partition_key}@{fingerprint}"`` (the daemon drops a run_key it already launched, so a replayed
    tick never doubles a run); from the second ``attempt`` on (the same content dropped again after its run was
    cancelled, failed or undone, see :func:`same_content_verdict`, or a file changed back to a version that already
    ran, see :func:`changed_attempt`) ``"{partition_key}@{fingerprint}#{attempt}"``;
    ``run_config`` = :func:`run_config_for`; tags ``easycrm/location``, ``easycrm/fingerprint`` and
    ``easycrm/file_name`` (the tag ``easycrm ingest`` sets too; ``parse_file`` falls back to it, ``easycrm status``
    shows it).
    """
    return dg.RunRequest(
        partition_key=f.partition_key,
        run_key=_run_key(f, attempt),
        run_config={**(execution or {}), **run_config_for(f)},
        tags={"easycrm/location": f.location, "easycrm/fingerprint": f.fingerprint, "easycrm/file_name": f.file_name},
    )


def build_sensor_result(
    context: dg.SensorEvaluationContext, files: Sequence[DropFile], ignored: int, where: str
) -> dg.SensorResult:
    """Compare ``files`` (a full listing) with the cursor record and build the tick's result.

    New or changed files get a run request. Same-content files left in place are skipped without any query; those
    dropped again (their drop id changed, see :func:`~easycrm_pipeline.dropzone.redropped`) cost one instance query
    each (:func:`same_content_verdict`): run again after a cancelled, failed or undone run, else skipped. At most
    :data:`MAX_RUN_REQUESTS_PER_TICK` requests, in partition-key order; partition keys not yet in ``lead_files`` get
    an add request; the returned cursor records the requested files and the drop ids of the skipped ones, so files
    beyond the cap are requested on the next ticks.

    Raises:
        ValueError: the cursor is not a processed-files record (see ``ProcessedRecord.from_json``).
    """
    record = ProcessedRecord.from_json(context.cursor)
    changed, skipped = diff(files, record)
    again, unchanged = redropped(skipped, record)
    seen, attempts, reasons = _verdicts(context, again, unchanged)

    to_run = sorted([*changed, *(f for f in again if f.partition_key in attempts)], key=lambda f: f.partition_key)
    batch = to_run[:MAX_RUN_REQUESTS_PER_TICK]
    if len(to_run) > len(batch):
        context.log.info(
            f"{len(to_run)} files to run in {where}; requesting {len(batch)} now, {len(to_run) - len(batch)} next ticks"
        )
    record = record.with_processed(seen)  # remembers the drop ids seen, so they are not looked up again
    if not batch:
        return dg.SensorResult(
            skip_reason=dg.SkipReason(
                f"no new or changed lead files in {where} ({len(skipped)} unchanged, {ignored} ignored)"
            ),
            cursor=record.to_json(),
        )


    execution = execution_config(get_settings().llm_enabled)
    existing = set(context.instance.get_dynamic_partitions(lead_files.name))
    new_keys = list(dict.fromkeys(f.partition_key for f in batch if f.partition_key not in existing))
    for f in batch:
        _log_request(context, f, record, attempts, reasons)
    return dg.SensorResult(
        run_requests=[run_request_for(f, execution, attempts.get(f.partition_key, 1)) for f in batch],
        dynamic_partitions_requests=[lead_files.build_add_request(new_keys)] if new_keys else [],
        cursor=record.with_processed(batch).to_json(),
    )


def _verdicts(
    context: dg.SensorEvaluationContext, again: Sequence[DropFile], unchanged: Sequence[DropFile]
) -> tuple[list[DropFile], dict[str, int], dict[str, str]]:
    """For the files dropped again with the same content: ``(files seen and skipped, {partition key: attempt},
    {partition key: reason})`` of :func:`same_content_verdict`; the skipped ones are logged (capped)."""
    skipped_log = _CappedLog(context, "skipped")  # files merely left in place are counted in the skip reason only
    attempts: dict[str, int] = {}
    reasons: dict[str, str] = {}
    seen: list[DropFile] = list(unchanged)
    for f in again:
        attempt, reason = same_content_verdict(context.instance, f)
        if attempt is None:
            skipped_log(f.partition_key, f"same content dropped again — {reason}")
            seen.append(f)
        else:
            attempts[f.partition_key], reasons[f.partition_key] = attempt, reason
    skipped_log.close()
    return seen, attempts, reasons


def _log_request(context: dg.SensorEvaluationContext, f: DropFile, record: ProcessedRecord,
                 attempts: dict[str, int], reasons: dict[str, str]) -> None:
    """Log why ``f`` runs (same content again, changed, new); a changed file's attempt is looked up and recorded in
    ``attempts``."""
    key = f.partition_key
    if key in attempts:
        context.log.info(f"run {key!r} (same content again, {reasons[key]}; attempt {attempts[key]}, {f.size} bytes, "
                         f"fingerprint {f.fingerprint})")
        return
    state = "changed" if key in record else "new"
    if state == "changed":
        attempts[key] = changed_attempt(context.instance, f)
    back = " back to a version that ran before" if attempts.get(key, 1) > 1 else ""
    attempt = f"; attempt {attempts[key]}" if back else ""
    context.log.info(f"run {key!r} ({state}{back}{attempt}, {f.size} bytes, fingerprint {f.fingerprint})")


@dg.sensor(
    job_name=INGEST_JOB_NAME,
    minimum_interval_seconds=INBOX_SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Lead files (.csv/.tsv/.txt/.xlsx/.xlsm/.xls) dropped into EASYCRM_INBOX (default data/inbox), recursively.",
)
def inbox_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    """Folder drop zone: one ``ingest_job`` run per new or changed file under ``EASYCRM_INBOX``.

    Partition key = path relative to the inbox (``sub dir/Léads 2024.csv``); fingerprint = SHA-256 of the content and
    size. Skips (``SkipReason``) when the inbox folder does not exist.
    """
    inbox = get_settings().inbox.absolute()
    if not inbox.is_dir():
        return dg.SkipReason(f"inbox folder {inbox} does not exist (EASYCRM_INBOX)")
    ignored = _CappedLog(context, "ignored")
    files = scan_folder(
        inbox,
        settle_seconds=FOLDER_SETTLE_SECONDS,
        hash_budget_seconds=FOLDER_HASH_BUDGET_SECONDS,
        on_ignored=ignored,
    )
    ignored.close()
    return build_sensor_result(context, files, ignored.count, str(inbox))


@dg.sensor(
    job_name=INGEST_JOB_NAME,
    minimum_interval_seconds=S3_SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Lead files uploaded to s3://$EASYCRM_S3_BUCKET/$EASYCRM_S3_PREFIX (off when the bucket is unset).",
)
def s3_sensor(context: dg.SensorEvaluationContext, s3: S3ClientResource) -> dg.SensorResult | dg.SkipReason:
    """S3 drop zone: one ``ingest_job`` run per new or changed object under the prefix (all pages of the listing).

    Partition key and ``location`` = ``s3://bucket/key``; fingerprint = ``ETag:Size``. Off —
    ``SkipReason("EASYCRM_S3_BUCKET is not set")`` — without ``EASYCRM_S3_BUCKET``.

    Raises:
        RuntimeError: the bucket cannot be listed (missing bucket, credentials, endpoint); the tick fails visibly.
    """
    settings = get_settings()
    if not settings.s3_bucket:
        return dg.SkipReason("EASYCRM_S3_BUCKET is not set")
    bucket, prefix = settings.s3_bucket, settings.s3_prefix
    ignored = _CappedLog(context, "ignored")
    try:
        files = scan_s3(s3.get_client(), bucket, prefix, on_ignored=ignored, max_bytes=settings.max_file_bytes)
    except (BotoCoreError, ClientError) as exc:
        raise RuntimeError(f"cannot list s3://{bucket}/{prefix}: {exc}") from exc
    ignored.close()
    return build_sensor_result(context, files, ignored.count, f"s3://{bucket}/{prefix}")
