"""Collecting a file: merge every batch result in file order, dedupe within the file, upsert, record stats.

Rules (docs/old-system.md#duplicates-within-a-file-last-occurrence-wins): the last occurrence of an email wins across the whole file, in sheet
then row order; a lead without email is always a new lead; per-file stats are the seeds' ``processing_stats``
plus our LLM and quarantine counts.
"""
from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from easycrm_pipeline import store as store_package
from easycrm_pipeline.config import Settings
from easycrm_pipeline.models import QuarantineRow, RawRow, SheetReport
from easycrm_pipeline.pipeline.batches import BatchResult, completion_tokens_per_lead
from easycrm_pipeline.pipeline.leadfile import LeadFile, iter_leads, write_leads


@dataclass
class ParseSummary:
    """What the parse step learned about a file, handed to the collect step (no lead data).

    Attributes:
        file_name: the file's base name (``sourceFile``).
        rows_read: non-blank data rows read (leads + quarantined at parse time).
        quarantine: rows rejected while reading (footers, unreadable rows) with their reasons.
        sheets: one report per worksheet (name, status, reason, hidden).
        encoding / delimiter: what the CSV reader used (None for workbooks).
        batches: number of batches the file was split into.
        parse_ms: parse wall time (ms).
        copies: rows repeating an earlier row's cells, with the row id whose answer they take (not sent).
        header_requests: the DeepSeek usage of the file's header-mapping requests (no leads), counted into the
            file's calls, tokens and cost; None without any.
    """

    file_name: str
    rows_read: int
    quarantine: list[QuarantineRow] = field(default_factory=list)
    sheets: list[SheetReport] = field(default_factory=list)
    encoding: str | None = None
    delimiter: str | None = None
    batches: int = 0
    parse_ms: float = 0.0
    copies: list[tuple[RawRow, str]] = field(default_factory=list)
    header_requests: BatchResult | None = None

    @property
    def redacted(self) -> dict[str, int]:
        """Cells redacted at read time (card numbers, passwords…), per kind, over all sheets."""
        out: dict[str, int] = {}
        for sheet in self.sheets:
            for kind, n in sheet.redacted.items():
                out[kind] = out.get(kind, 0) + n
        return out


@dataclass
class FileStats:
    """The per-file summary printed by ``easycrm ingest`` and stored as Dagster metadata.

    Counts are leads/rows; ``tokens`` are DeepSeek tokens (prompt + completion); ``cost_usd`` in US dollars;
    ``seconds`` is the collect-side wall time of parse + standardize + upsert as measured by the steps.
    ``llm_leads``: rows DeepSeek was asked about; ``completion_tokens_per_lead`` = ``completion_tokens / llm_leads``
    (the output tokens that dominate DeepSeek's time and price, issue 13; 0.0 without DeepSeek).
    ``blank_rows``: blank or whitespace-only rows skipped by the reader (below a header; not leads, not quarantined),
    so that every row read is accounted for: lead rows + quarantined + blank.
    ``redacted_cells``: cells replaced by ``[redacted: <kind>]`` when the file was read (card numbers, CVV,
    passwords, IBAN, national ids — never stored in remarks nor sent to DeepSeek), per kind.
    """

    file: str
    rows_read: int = 0
    blank_rows: int = 0
    leads_created: int = 0
    leads_updated: int = 0
    leads_unchanged: int = 0
    duplicates_resolved: int = 0
    quarantined: int = 0
    batches: int = 0
    failed_batches: int = 0
    llm_calls: int = 0
    tokens: int = 0
    prompt_cache_hit_tokens: int = 0
    prompt_cache_miss_tokens: int = 0
    completion_tokens: int = 0
    llm_leads: int = 0
    completion_tokens_per_lead: float = 0.0
    cost_usd: float = 0.0
    seconds: float = 0.0
    processing_ms: float = 0.0
    duplicate_detection_ms: float = 0.0
    quarantine_by_reason: dict[str, int] = field(default_factory=dict)
    failed_batch_errors: dict[str, str] = field(default_factory=dict)
    quarantine_preview: list[dict[str, Any]] = field(default_factory=list)
    redacted_cells: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self)


def open_store(settings: Settings):
    """The configured lead store (``EASYCRM_STORE``), initialized (DuckDB: file and tables created if missing).

    Raises:
        ValueError: bad settings.
    """
    return store_package.open_store(settings)  # the DDL once per process and path


def _raw_key(raw) -> str:
    return json.dumps(raw or {}, sort_keys=True, ensure_ascii=False)


def drop_reimported_emailless(store, source_file: str, leads: list) -> tuple[list, int]:
    """Leads without an email whose raw row this same file already stored are not created again.

    The seeds' rule "no email -> always a new lead" holds between files; re-dropping the same file must still
    change nothing, so an email-less row is matched to an email-less lead of the same ``sourceFile`` with the same
    raw row (each stored lead matches at most one incoming row, so a file's repeated rows stay repeated).

    Returns:
        (the leads to upsert, the number recognized as already stored).
    """
    from collections import Counter

    from easycrm_pipeline.store.base import LeadQuery

    if not any(lead.email is None for lead in leads):
        return leads, 0
    stored = list(
        store.iter_leads(LeadQuery(source_file=source_file), columns=["email", "sourceFile", "rawRow"])
    )  # read it all before any write: a write while the read is open fails
    known = Counter(_raw_key(r.get("rawRow")) for r in stored if r.get("sourceFile") == source_file and not r.get("email"))
    kept, skipped = [], 0
    for lead in leads:
        if lead.email is None:
            key = _raw_key(lead.raw)
            if known[key] > 0:
                known[key] -= 1
                skipped += 1
                continue
        kept.append(lead)
    return kept, skipped


#: Quarantined rows listed in a file's error report (the full list is in the ``quarantine`` table).
QUARANTINE_PREVIEW_ROWS = 20


def markdown_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A GitHub-flavoured markdown table of ``rows`` (``|`` and newlines in cells escaped)."""

    def cell(value: Any) -> str:
        return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def file_order(row_id: str) -> tuple[int, int]:
    """Sort key of a row id ``"<sheet index>:<row number>"``: sheet order, then row order."""
    sheet, _, row = row_id.partition(":")
    return (int(sheet), int(row))


def _reason_key(reason: str) -> str:
    return reason.split(":", 1)[0].strip() or reason


def collect_file(
    results: list[BatchResult],
    summary: ParseSummary,
    store,
    *,
    run_id: str | None,
    merge: str = "replace",
    before_commit: Callable[[], None] | None = None,
    lead_files: Sequence[LeadFile] = (),
) -> FileStats:
    """Merge the batch results (any order in, file order out), dedupe within the file, upsert, quarantine.

    The run's quarantine REPLACES the file's earlier quarantine rows (``add_quarantine(replace=True)``): each run
    re-reads the whole file, so the quarantine shows what the latest completed run could not turn into leads
    (rows quarantined again keep their first ``runId``/``at``; a run with no quarantine empties the file's).

    Crash safety: the three writes (``upsert_file``, ``add_quarantine``, ``record_import``) run in one
    ``store.atomic()`` block: on DuckDB one transaction (a ``kill -9`` anywhere in it leaves no trace of the file);
    on DynamoDB each commits on its own and a re-run completes what is missing (the upsert is idempotent,
    quarantined rows are stored once per file and the replacement deletes before it puts, email-less leads already
    stored by this file are recognized).

    Args:
        results: one ``BatchResult`` per batch (any order: the leads are put back in file order by their row ids).
        lead_files: Parquet files of leads settled without DeepSeek (``pipeline.leadfile``; the parse step writes
            them). With the DuckDB store every lead goes through Parquet and the dedupe and upsert are set-based in
            DuckDB (``DuckDBStore.upsert_lead_files``), so memory does not grow with the file; other stores read
            the leads in blocks and dedupe them in Python (``rules.dedupe.merge_in_file``).
        summary: the parse step's summary.
        store: a ``LeadStore`` (``upsert_file``, ``add_quarantine``, ``record_import``).
        run_id: the Dagster run id, written to the audit and quarantine rows.
        merge: ``"replace"`` (the seeds' rule) or ``"fill-blank"``.
        before_commit: called first inside the ``store.atomic()`` block, before any write (on DuckDB under the
            store's write lock, which ``easycrm cancel`` takes too): raising there stores nothing of the file (the
            ingest's collect step raises when the run is being cancelled).

    Returns:
        The file's ``FileStats``.

    Raises:
        StoreLockTimeout: the store stayed locked (DuckDB).
        StoreError / botocore.exceptions.ClientError: the store failed; on DuckDB nothing of the file is written.
    """
    from easycrm_pipeline.pipeline.planning import copy_answer

    started = time.perf_counter()
    ordered = sorted(results, key=lambda r: r.batch)
    produced = [lead for r in ordered for lead in r.leads]
    batch_ids = {lead.row_id: r.batch for r in ordered for lead in r.leads}
    by_id = {lead.row_id: lead for lead in produced}
    failed_reason = {row_id: r.error for r in ordered if r.failed for row_id in r.dead_row_ids}
    copy_quarantine = []
    for row, source_id in summary.copies:
        if source_id in by_id:
            produced.append(copy_answer(by_id[source_id], row))
            batch_ids[row.row_id] = batch_ids.get(source_id, "settled")
        else:
            reason = failed_reason.get(source_id) or "repeated row whose first occurrence was not standardized"
            copy_quarantine.append(QuarantineRow(row.sheet, row.row_number, reason, row.as_request_dict()))
    by_id.clear()
    quarantine = list(summary.quarantine) + [q for r in ordered for q in r.quarantine] + copy_quarantine
    if hasattr(store, "upsert_lead_files"):  # DuckDB: dedupe and upsert set-based, from the Parquet files
        with tempfile.TemporaryDirectory(prefix="easycrm-collect-") as tmp:
            paths = [lf.path for lf in lead_files]
            if produced or not paths:  # (an empty file when there is no lead: read_parquet needs one)
                paths.append(write_leads(Path(tmp) / "batches.parquet", produced, batch_ids).path)
            del produced

            def write() -> FileStats:
                with store.atomic():  # upsert, quarantine and import record commit together, or not at all
                    if before_commit is not None:
                        before_commit()
                    done = store.upsert_lead_files(paths, source_file=summary.file_name, run_id=run_id,
                                                   merge=merge)
                    store.add_quarantine(quarantine, source_file=summary.file_name, run_id=run_id, replace=True)
                    stats = _file_stats(summary, ordered, done.rows_merged, quarantine, done.stats,
                                        done.already_stored, done.dedupe_ms, started)
                    store.record_import(summary.file_name, run_id, stats.as_dict())
                return stats

            try:
                return write()
            except Exception as exc:
                if not (_out_of_memory(exc) and store.file_upsert_memory):
                    raise
                # DuckDB could not spill the transaction under its memory limit: nothing was written; once more
                # without the limit (the memory then grows with the file, the run does not fail)
                store.file_upsert_memory = None
                return write()

    from easycrm_pipeline.rules.dedupe import merge_in_file

    for lead_file in lead_files:  # other stores: the file's leads in memory, read in blocks
        for lead, batch in iter_leads(lead_file):
            produced.append(lead)
            batch_ids[lead.row_id] = batch or "settled"
    leads = sorted(produced, key=lambda lead: file_order(lead.row_id))
    dedupe_started = time.perf_counter()
    unique, resolutions = merge_in_file(leads)
    dedupe_ms = (time.perf_counter() - dedupe_started) * 1000

    unique, already_stored = drop_reimported_emailless(store, summary.file_name, unique)  # a read: before atomic()
    with store.atomic():  # DynamoDB: each write commits on its own; a re-run completes what is missing
        if before_commit is not None:
            before_commit()
        upsert = store.upsert_file(
            unique,
            source_file=summary.file_name,
            run_id=run_id,
            batch_ids=batch_ids,
            merge=merge,
            duplicates_resolved=resolutions,
        )
        # the file's whole quarantine: replaces its earlier runs' (rows that became leads leave it)
        store.add_quarantine(quarantine, source_file=summary.file_name, run_id=run_id, replace=True)
        merged_rows = sum(len(r.merged_row_ids) for r in resolutions)
        stats = _file_stats(summary, ordered, merged_rows, quarantine, upsert, already_stored, dedupe_ms, started)
        store.record_import(summary.file_name, run_id, stats.as_dict())
    return stats


def _out_of_memory(exc: BaseException | None) -> bool:
    """True when ``exc`` or an exception behind it is DuckDB's ``OutOfMemoryException``."""
    seen = 0
    while exc is not None and seen < 10:
        if type(exc).__name__ == "OutOfMemoryException":
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _file_stats(summary, ordered, merged_rows, quarantine, upsert, already_stored, dedupe_ms, started) -> FileStats:
    """The file's ``FileStats`` from the collect step's pieces (see :func:`collect_file`)."""
    by_reason: dict[str, int] = {}
    for q in quarantine:
        key = _reason_key(q.reason)
        by_reason[key] = by_reason.get(key, 0) + 1
    spent = [*ordered, summary.header_requests] if summary.header_requests else ordered
    stats = FileStats(
        file=summary.file_name,
        rows_read=summary.rows_read,
        blank_rows=sum(s.skipped_blank for s in summary.sheets),
        leads_created=upsert.created,
        leads_updated=upsert.updated,
        leads_unchanged=upsert.unchanged + already_stored,
        duplicates_resolved=merged_rows,
        quarantined=len(quarantine),
        batches=summary.batches,
        failed_batches=sum(1 for r in ordered if r.failed),
        llm_calls=sum(r.llm_calls for r in spent),
        tokens=sum(r.tokens for r in spent),
        prompt_cache_hit_tokens=sum(r.prompt_cache_hit_tokens for r in spent),
        prompt_cache_miss_tokens=sum(r.prompt_cache_miss_tokens for r in spent),
        completion_tokens=sum(r.completion_tokens for r in spent),
        llm_leads=sum(r.llm_leads for r in ordered),
        completion_tokens_per_lead=completion_tokens_per_lead(
            sum(r.completion_tokens for r in ordered), sum(r.llm_leads for r in ordered)),
        cost_usd=round(sum(r.cost_usd for r in spent), 6),
        processing_ms=upsert.processing_ms,
        duplicate_detection_ms=round(dedupe_ms + upsert.duplicate_detection_ms, 1),
        quarantine_by_reason=by_reason,
        failed_batch_errors={r.batch: r.error or "" for r in ordered if r.failed},
        quarantine_preview=[
            {"sheet": q.sheet, "row": q.row_number, "reason": q.reason} for q in quarantine[:QUARANTINE_PREVIEW_ROWS]
        ],
        redacted_cells=summary.redacted,
    )
    stats.seconds = round(
        (summary.parse_ms + sum(r.ms for r in ordered)) / 1000 + (time.perf_counter() - started), 3
    )
    return stats
