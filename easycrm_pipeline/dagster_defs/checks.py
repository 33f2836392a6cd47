"""Asset checks on ``leads`` (green or red in the UI, per file partition): no duplicate emails, emails valid, phones
E.164 or digits only, all rows stored (WARN when rows went to the dead letter; links the file's rejected-rows CSV).

Each check runs after every successful materialization of a ``leads`` partition: ``collect_leads`` calls
:func:`log_check_evaluations` right after it stored the file and logs their evaluations for the run's partition
(``ingest_job`` selects ``leads`` without its checks, so a file whose run fails leaves no "Execution failed" check
record behind; the partitioned asset checks below run the same functions when a check is executed from the UI).
Each reads the lead store — never the run's in-memory data — it is given (the ``store`` resource,
``dagster_defs.resources.StoreResource``). They look at the leads whose
``sourceFile`` is the partition's file (the leads this file wrote last); the duplicate check compares those emails
with the whole table. Non-blocking: a red check never fails the run, it shows what to fix.

Rules (docs/contracts.md, docs/old-system.md): the email key is trimmed and lower-cased, one lead per email;
emails pass
``email-validator`` syntax (no DNS); phones are E.164 (``+`` then 2–15 digits) when a country is known, digits only
otherwise.
"""

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import dagster as dg

from easycrm_pipeline.dagster_defs.partitions import lead_files
from easycrm_pipeline.dagster_defs.reports import export_path
from easycrm_pipeline.dagster_defs.resources import StoreResource
from easycrm_pipeline.dagster_defs.tags import FILE_NAME_TAG
from easycrm_pipeline.pipeline.standardizer import is_dead_letter
from easycrm_pipeline.readers.rejected import RETRY_HINT, rejected_csv_path, write_rejected_csv
from easycrm_pipeline.store import LeadStore

#: E.164: ``+``, a non-zero country digit, at most 15 digits in all.
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
#: A phone without a known country: digits only (a country code is never invented).
DIGITS = re.compile(r"^\d+$")
#: How many offending values a check shows in its metadata.
SAMPLE_SIZE = 20


def file_name_from(tags: Mapping[str, str], partition_key: str) -> str:
    """The ``sourceFile`` of the checked partition: the run's ``easycrm/file_name`` tag, else the partition key's
    base name (``s3://bucket/uploads/a.csv`` -> ``a.csv``)."""
    return tags.get(FILE_NAME_TAG) or partition_key.rstrip("/").rsplit("/", 1)[-1]


def file_name_for(context: dg.AssetCheckExecutionContext) -> str:
    """:func:`file_name_from` for an asset check's context."""
    return file_name_from(context.op_execution_context.run.tags, context.partition_key if context.has_partition_key else "")


def file_leads(store, source_file: str) -> list[dict[str, Any]]:
    """``[{"leadId", "email", "phone", "sourceRow"}]`` of the leads whose ``sourceFile`` is ``source_file``, by
    ``sourceRow`` then ``leadId`` (the store's :meth:`~easycrm_pipeline.store.base.LeadStore.file_leads` as a list)."""
    return list(store.file_leads(source_file))


def _counted(leads: Iterable[dict[str, Any]], seen: list[int]) -> Iterator[dict[str, Any]]:
    """``leads`` unchanged, counted into ``seen[0]``."""
    for lead in leads:
        seen[0] += 1
        yield lead


def duplicate_emails(store, source_file: str) -> dict[str, int]:
    """Emails of ``source_file``'s leads held by more than one lead in the whole table, compared trimmed and
    lower-cased: ``{email_key: number of leads}`` (the store's
    :meth:`~easycrm_pipeline.store.base.LeadStore.duplicate_emails`)."""
    return store.duplicate_emails(source_file)


def invalid_emails(leads: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Leads whose email fails ``email-validator``'s syntax check (no DNS lookup); leads without email pass."""
    from email_validator import EmailNotValidError, validate_email

    bad = []
    for lead in leads:
        email = lead.get("email")
        if email is None:
            continue
        try:
            validate_email(email, check_deliverability=False)
        except EmailNotValidError as exc:
            bad.append({"leadId": lead["leadId"], "sourceRow": lead["sourceRow"], "email": email, "reason": str(exc)})
    return bad


def phone_ok(phone: str | None) -> bool:
    """True for no phone, an E.164 number (``+4930123456``) or digits only (``030123456``)."""
    return phone is None or bool(E164.match(phone) or DIGITS.match(phone))


def invalid_phones(leads: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Leads whose phone is neither E.164 nor digits only."""
    return [
        {"leadId": lead["leadId"], "sourceRow": lead["sourceRow"], "phone": lead["phone"]}
        for lead in leads
        if not phone_ok(lead.get("phone"))
    ]


def no_duplicate_emails(op_context: dg.OpExecutionContext, store: LeadStore, source_file: str) -> dg.AssetCheckResult:
    """Passes when no email of the file's leads appears on two leads anywhere in the table.

    Metadata: ``file``, ``duplicate_emails`` (count), ``sample`` (``{email: leads}``, at most 20).
    """
    dupes = duplicate_emails(store, source_file)
    sample = dict(list(dupes.items())[:SAMPLE_SIZE])
    return dg.AssetCheckResult(
        passed=not dupes,
        metadata={"file": source_file, "duplicate_emails": len(dupes), "sample": dg.MetadataValue.json(sample)},
    )


def _bad_values_check(store: LeadStore, source_file: str, find_bad: Callable[[Iterable[dict]], list],
                      count_key: str) -> dg.AssetCheckResult:
    """Passes when ``find_bad`` finds no offending lead among the file's; metadata ``file``, ``leads_checked``,
    ``count_key`` (how many offend) and ``sample`` (at most :data:`SAMPLE_SIZE` of them)."""
    seen = [0]  # the file's leads are streamed (a 1,000,000-lead file is never all in memory, issue 13)
    bad = find_bad(_counted(store.file_leads(source_file), seen))
    return dg.AssetCheckResult(
        passed=not bad,
        metadata={
            "file": source_file,
            "leads_checked": seen[0],
            count_key: len(bad),
            "sample": dg.MetadataValue.json(bad[:SAMPLE_SIZE]),
        },
    )


def emails_valid(op_context: dg.OpExecutionContext, store: LeadStore, source_file: str) -> dg.AssetCheckResult:
    """Passes when every non-null email of the file's leads is syntactically valid.

    Metadata: ``file``, ``leads_checked``, ``invalid_emails`` (count), ``sample`` (at most 20 offending leads).
    """
    return _bad_values_check(store, source_file, invalid_emails, "invalid_emails")


def phones_e164_or_digits(op_context: dg.OpExecutionContext, store: LeadStore, source_file: str) -> dg.AssetCheckResult:
    """Passes when every non-null phone of the file's leads is E.164 or digits only.

    Metadata: ``file``, ``leads_checked``, ``invalid_phones`` (count), ``sample`` (at most 20 offending leads).
    """
    return _bad_values_check(store, source_file, invalid_phones, "invalid_phones")


#: Run tag set on a run whose file had rows that were not stored (dead letter): ``"10 rows not stored"``.
PARTIAL_TAG = "easycrm/partial"


def rejected_csv(store, source_file: str, run_id: str) -> tuple[str, int] | None:
    """Write the file's rejected-rows CSV (:mod:`easycrm_pipeline.readers.rejected`) next to the exports; returns
    ``(absolute path, rows)`` or None when the file has no quarantined row."""
    rows = store.quarantine_rows(source_file)
    if not rows:
        return None
    path = rejected_csv_path(export_path(), source_file, run_id)
    return str(path.resolve()), write_rejected_csv(rows, path)


def all_rows_stored(op_context: dg.OpExecutionContext, store: LeadStore, source_file: str) -> dg.AssetCheckResult:
    """Reads the file's quarantine in the store: rows whose reason is a dead letter
    (:func:`~easycrm_pipeline.pipeline.standardizer.is_dead_letter`) were lead rows that were not stored.

    When some were: a WARNING event, the run tag ``easycrm/partial=<n> rows not stored`` (the runs list shows it)
    and a failed check with severity WARN naming the count. Metadata: ``file``, ``rows_not_stored``,
    ``quarantined`` (all quarantined rows, footers included), ``rejected_rows_csv`` (path of the CSV) and
    ``how_to_retry``.
    """
    quarantine = store.quarantine_rows(source_file)
    not_stored = sum(1 for q in quarantine if is_dead_letter(q.get("reason")))
    metadata: dict[str, Any] = {"file": source_file, "rows_not_stored": not_stored, "quarantined": len(quarantine)}
    written = rejected_csv(store, source_file, op_context.run_id)
    if written:
        metadata["rejected_rows_csv"] = dg.MetadataValue.path(written[0])
        metadata["how_to_retry"] = dg.MetadataValue.md(RETRY_HINT)
    if not not_stored:
        return dg.AssetCheckResult(passed=True, metadata=metadata)
    text = f"{not_stored} rows not stored"
    op_context.log.warning(
        f"{source_file}: {text} (their batches went to the dead letter; they are in the quarantine"
        + (f" and in {written[0]}" if written else "")
        + ")"
    )
    op_context.instance.add_run_tags(op_context.run_id, {PARTIAL_TAG: text})
    return dg.AssetCheckResult(
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{text}: {not_stored} of this file's lead rows went to the dead letter. {RETRY_HINT}",
        metadata=metadata,
    )


#: The checks on ``leads``: name -> (evaluation, description). One home for both the asset checks (the UI's
#: "Execute" on a partition) and :func:`log_check_evaluations` (every ingest run).
CHECKS: dict[str, tuple[Callable[[dg.OpExecutionContext, LeadStore, str], dg.AssetCheckResult], str]] = {
    "no_duplicate_emails": (
        no_duplicate_emails,
        "One lead per email: no email of this file's leads is held by another lead (trimmed, lower-cased).",
    ),
    "emails_valid": (emails_valid, "Every stored email of this file's leads passes email-validator's syntax check."),
    "phones_e164_or_digits": (
        phones_e164_or_digits,
        r"Every stored phone of this file's leads is E.164 (^\+[1-9]\d{1,14}$) or digits only.",
    ),
    "all_rows_stored": (
        all_rows_stored,
        "Every lead row of this file was stored: none went to the dead letter (a batch DeepSeek failed). WARN when "
        "some did; the file's rejected-rows CSV is linked either way.",
    ),
}


def _asset_check(name: str) -> dg.AssetChecksDefinition:
    evaluate, description = CHECKS[name]

    @dg.asset_check(asset="leads", name=name, partitions_def=lead_files, blocking=False, description=description)
    def _check(context: dg.AssetCheckExecutionContext, store: StoreResource) -> dg.AssetCheckResult:
        return evaluate(context.op_execution_context, store.get(), file_name_for(context))

    return _check


def log_check_evaluations(context: dg.OpExecutionContext, store: LeadStore) -> None:
    """Log one ``AssetCheckEvaluation`` per check of :data:`CHECKS` for the run's ``leads`` partition.

    Called by ``collect_leads`` after it yielded the materialization (so the evaluations target it), while
    ``ingest_job`` itself selects ``leads`` without its checks: a file whose run fails before its leads are stored
    leaves no check record at all, so its checks don't turn "Execution failed" and neither other partitions nor the
    asset's overall check state change. A check that raises is logged as a warning (never fails the run). Checks
    the run selected as steps of their own (a UI "Materialize" of ``leads`` with its checks) are left to those steps.
    """
    partition = context.partition_key if context.has_partition_key else None
    source_file = file_name_from(context.run.tags, partition or "")
    own_steps = context.run.asset_check_selection or frozenset()  # a UI "Materialize" may run the check steps too
    for name, (evaluate, _description) in CHECKS.items():
        if dg.AssetCheckKey(dg.AssetKey("leads"), name) in own_steps:
            continue  # its own step evaluates it in this run: don't log it twice
        try:
            result = evaluate(context, store, source_file)
        except Exception as exc:  # noqa: BLE001 - a check is information; it never loses stored leads
            context.log.warning(f"check {name} could not run: {exc}")
            continue
        context.log_event(
            dg.AssetCheckEvaluation(
                asset_key=dg.AssetKey("leads"),
                check_name=name,
                passed=result.passed,
                metadata=result.metadata,
                severity=result.severity,
                description=result.description,
                partition=partition,
            )
        )


#: Collected by ``easycrm_pipeline.definitions`` (feature module contract).
asset_checks = [_asset_check(name) for name in CHECKS]
