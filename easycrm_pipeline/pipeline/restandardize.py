"""Re-standardization: redo the leads whose ``standardizer`` version is not the current one, from their raw rows.

Every lead stores ``rawRow`` (the raw ``{header: value}`` row) and ``standardizer`` (the version that produced its
fields: ``rules.RULES_VERSION`` or DeepSeek's model/prompt-hash/rules version). When the rules or the prompt change,
the version changes, and :func:`restandardize` brings the old leads up to date:

1. :func:`find_stale` streams the leads (``LeadStore.iter_leads``) whose ``standardizer`` differs from the current
   version (NULL counts as stale);
2. each one becomes a ``RawRow`` again (:func:`raw_row_of`: ``row_id`` = ``sourceRowId``, sheet, row number, the
   cells of ``rawRow`` in stored order), grouped by ``sourceFile`` and cut into batches of ``EASYCRM_BATCH_SIZE``;
3. the batches go through the same standardizer the ingest uses (``make_standardizer(settings)``);
4. the results are written back with ``LeadStore.upsert_file(source_file=<the lead's sourceFile>,
   update_action="lead_restandardized")``: the same upsert path as an ingest, so changed leads get audit rows with
   before/after values, but with action ``lead_restandardized`` (``batchId`` ``"restandardize"``): a
   re-standardization is not an import of the lead's file, so ``easycrm undo FILE`` does not take it for the
   file's latest import; it is a later change of those leads (undo refuses, listing them, unless ``--force``).
   Leads whose fields came out the same only get their version bumped (``LeadStore.set_standardizer``), so they
   are not redone on every run.

Limits (honest, by construction of ``upsert_file``, which matches leads by email):

* a stale lead WITHOUT email is skipped (``skipped_no_email``): ``upsert_file`` would insert it as a new lead;
* a lead whose re-standardized email differs from its stored one is skipped (``skipped_email_changed``): writing it
  would create a second lead; re-ingest its file to apply the change;
* a batch the standardizer fails (DeepSeek retries exhausted) is skipped and stays stale for the next run; a
  fatal DeepSeek error (bad key, no balance) stops the run.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator

from easycrm_pipeline.deepseek.errors import DeepSeekBatchFailed
from easycrm_pipeline.models import RawRow, StandardLead
from easycrm_pipeline.pipeline.batches import Batch, BatchResult, make_batches
from easycrm_pipeline.pipeline.collect import file_order
from easycrm_pipeline.store.base import LeadQuery, normalize_email

log = logging.getLogger(__name__)

#: ``batchId`` written to the audit rows of a re-standardization.
AUDIT_BATCH_ID = "restandardize"
#: ``action`` of the audit rows of a re-standardization (``store.base.CHANGE_ACTIONS``).
AUDIT_ACTION = "lead_restandardized"


@dataclass
class RestandardizeResult:
    """What one re-standardization did (or, with ``dry_run``, would do).

    Attributes:
        current_version: the standardizer version leads are brought to.
        dry_run: True when nothing was written.
        stale: leads whose version differed.
        stale_by_version: ``{old version: leads}`` (``"(none)"`` for NULL).
        stale_by_file: ``{sourceFile: leads}``.
        updated: leads whose fields changed and were rewritten through ``upsert_file``.
        unchanged: leads whose fields came out the same (only their version was bumped).
        version_bumped: leads whose version ``set_standardizer`` changed.
        skipped_no_email / skipped_email_changed / skipped_failed: leads left as they were (see the module docs).
        kept_deepseek: leads DeepSeek standardized, left alone because the current standardizer is the offline rules
            (no key): re-standardizing them would replace DeepSeek's answers by the rules' (a downgrade).
        batches: batches standardized; ``failed_batches``: of those, failed ones.
        sample: up to 20 stale leads ``{leadId, email, sourceFile, standardizer}`` (for ``--dry-run``).
        notes: human-readable remarks (e.g. the back end cannot bump versions).
    """

    current_version: str
    dry_run: bool = False
    stale: int = 0
    stale_by_version: dict[str, int] = field(default_factory=dict)
    stale_by_file: dict[str, int] = field(default_factory=dict)
    updated: int = 0
    unchanged: int = 0
    version_bumped: int = 0
    skipped_no_email: int = 0
    skipped_email_changed: int = 0
    skipped_failed: int = 0
    kept_deepseek: int = 0
    batches: int = 0
    failed_batches: int = 0
    sample: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return asdict(self)


def is_rules_version(version: str | None) -> bool:
    """True for a version of the offline rules (``rules.RULES_VERSION``: ``rules-N``); DeepSeek's versions are
    ``<model>/<prompt hash>/<rules version>`` (``pipeline.standardizer.deepseek_version``)."""
    return bool(version) and version.startswith("rules-")


def find_stale(store, current_version: str, kept: list | None = None) -> Iterator[dict]:
    """Leads (dicts as ``iter_leads`` yields them) whose ``standardizer`` is not ``current_version`` (NULL too),
    oldest first.

    When ``current_version`` is the offline rules', leads DeepSeek standardized are never stale (the rules would
    overwrite DeepSeek's answers: a scheduled run on a daemon without the key must not downgrade them); each one
    skipped is appended to ``kept`` when given.
    """
    rules_only = is_rules_version(current_version)
    for lead in store.iter_leads(LeadQuery(sort="createdAt", descending=False), chunk_size=1000):
        version = lead.get("standardizer")
        if version == current_version:
            continue
        if rules_only and version and not is_rules_version(version):
            if kept is not None:
                kept.append(lead.get("leadId"))
            continue
        yield lead


def raw_row_of(lead: dict) -> RawRow:
    """Rebuild the ``RawRow`` a lead came from: ``row_id`` = ``sourceRowId`` (``"0:<sourceRow>"`` when missing),
    ``sheet`` = ``sourceWorksheet``, ``row_number`` = ``sourceRow``, ``cells`` = the ``rawRow`` items in stored
    order (values as text, ``None`` -> ``""``)."""
    raw = lead.get("rawRow") or {}
    if not isinstance(raw, dict):
        raw = {}
    row_number = int(lead.get("sourceRow") or 0)
    row_id = lead.get("sourceRowId") or f"0:{row_number}"
    cells = tuple((str(h), "" if v is None else str(v)) for h, v in raw.items())
    return RawRow(row_id=str(row_id), sheet=lead.get("sourceWorksheet"), row_number=row_number, cells=cells)


def _rounds(leads: list[dict]) -> list[list[dict]]:
    """Split one file's leads so no round holds two leads with the same ``sourceRowId`` (a file re-ingested with
    different content can leave two leads on one row id; a batch needs unique ids)."""
    rounds: list[list[dict]] = []
    seen: dict[str, int] = {}
    for lead in leads:
        rid = raw_row_of(lead).row_id
        k = seen.get(rid, 0)
        seen[rid] = k + 1
        while len(rounds) <= k:
            rounds.append([])
        rounds[k].append(lead)
    return rounds


@dataclass
class WorkGroup:
    """The stale leads of one source file (one "round": no two share a row id) to standardize and upsert together.

    Attributes:
        source_file: the leads' ``sourceFile`` (passed to ``upsert_file``).
        leads: ``{row_id: {"leadId", "email"}}`` of the stored leads.
        batches: the raw rows cut into batches (file order).
    """

    source_file: str
    leads: dict[str, dict]
    batches: list[Batch]


@dataclass
class RestandardizePlan:
    """What :func:`plan_restandardize` found: the counts so far and the work groups (empty for a dry run)."""

    result: RestandardizeResult
    groups: list[WorkGroup] = field(default_factory=list)

    def mapping_key(self, group: int, batch: Batch) -> str:
        """Dagster mapping key of one batch: ``g00001_batch_00002`` (only ``[A-Za-z0-9_]``)."""
        return f"g{group + 1:05d}_{batch.mapping_key}"


def plan_restandardize(store, version: str, *, batch_size: int = 10, dry_run: bool = False) -> RestandardizePlan:
    """Find the stale leads (streamed), count them, and (unless ``dry_run``) group them into batches of raw rows.

    Stale leads without email are counted in ``skipped_no_email`` and get no work (see the module docs); leads
    without ``sourceFile`` are counted as failed with a note.

    Raises:
        StoreLockTimeout: the store stayed locked.
    """
    result = RestandardizeResult(current_version=version, dry_run=dry_run)
    plan = RestandardizePlan(result=result)
    by_file: dict[str, list[dict]] = {}
    kept: list = []
    for lead in find_stale(store, version, kept):
        result.stale += 1
        old = lead.get("standardizer") or "(none)"
        result.stale_by_version[old] = result.stale_by_version.get(old, 0) + 1
        source = lead.get("sourceFile") or ""
        result.stale_by_file[source] = result.stale_by_file.get(source, 0) + 1
        if len(result.sample) < 20:
            result.sample.append({k: lead.get(k) for k in ("leadId", "email", "sourceFile", "standardizer")})
        if dry_run:
            continue
        if normalize_email(lead.get("email")) is None:
            result.skipped_no_email += 1
            continue
        # keep only what is needed: the id, the key and the raw row
        by_file.setdefault(source, []).append(
            {k: lead.get(k) for k in ("leadId", "email", "sourceRowId", "sourceRow", "sourceWorksheet", "rawRow")}
        )

    result.kept_deepseek = len(kept)
    if kept:
        result.notes.append(
            f"{len(kept)} lead(s) standardized by DeepSeek were left as they were: without DEEPSEEK_API_KEY the "
            "offline rules would replace DeepSeek's answers"
        )

    def order(lead: dict) -> tuple:
        try:
            return (0, *file_order(raw_row_of(lead).row_id))
        except ValueError:
            return (1, 0, 0)

    for source_file, leads in by_file.items():
        if not source_file:
            result.skipped_failed += len(leads)
            result.notes.append(f"{len(leads)} stale lead(s) have no sourceFile and were left as they were")
            continue
        for group in _rounds(sorted(leads, key=order)):
            rows = [raw_row_of(lead) for lead in group]
            plan.groups.append(
                WorkGroup(
                    source_file=source_file,
                    leads={row.row_id: {"leadId": lead["leadId"], "email": lead.get("email")}
                           for row, lead in zip(rows, group)},
                    batches=make_batches(rows, batch_size),
                )
            )
    return plan


def standardize_batch(standardizer, batch: Batch) -> BatchResult | None:
    """``standardizer.standardize(batch)``, or None when DeepSeek's retries were exhausted (the rows stay stale).

    Raises:
        DeepSeekFatal: bad key / no balance.
    """
    try:
        return standardizer.standardize(batch)
    except DeepSeekBatchFailed as exc:
        log.warning("restandardize %s failed: %s", batch.mapping_key, exc)
        return None


def write_group(
    store, group: WorkGroup, results: list[BatchResult | None], result: RestandardizeResult, *,
    run_id: str | None = None,
) -> None:
    """Upsert one group's standardized leads (``results`` in batch order, None = failed batch; audit action
    ``lead_restandardized``) and update the counts in ``result``: failed batches and rows, changed emails skipped,
    updated/unchanged, versions bumped."""
    fresh: list[StandardLead] = []
    for batch, out in zip(group.batches, results):
        result.batches += 1
        if out is None or out.failed:
            result.failed_batches += 1
            result.skipped_failed += len(batch.rows)
            continue
        done = {lead.row_id for lead in out.leads}
        result.skipped_failed += sum(1 for r in batch.rows if r.row_id not in done)
        fresh.extend(out.leads)
    keep: list[StandardLead] = []
    for new in fresh:
        old = group.leads[new.row_id]
        if normalize_email(new.email) != normalize_email(old.get("email")):
            result.skipped_email_changed += 1
            continue
        keep.append(new)
    if not keep:
        return
    stats = store.upsert_file(
        keep,
        source_file=group.source_file,
        run_id=run_id,
        batch_ids={lead.row_id: AUDIT_BATCH_ID for lead in keep},
        merge="replace",
        update_action=AUDIT_ACTION,
    )
    result.updated += stats.updated
    result.unchanged += stats.unchanged
    ids = [group.leads[lead.row_id]["leadId"] for lead in keep]
    try:
        result.version_bumped += store.set_standardizer(ids, result.current_version)
    except NotImplementedError as exc:
        note = f"unchanged leads keep their old version: {exc}"
        if note not in result.notes:
            result.notes.append(note)


def restandardize(
    store,
    standardizer,
    *,
    batch_size: int = 10,
    dry_run: bool = False,
    run_id: str | None = None,
    on_batch: Callable[[str, int, int], None] | None = None,
) -> RestandardizeResult:
    """Re-standardize every stale lead of ``store`` with ``standardizer`` and write the changes back
    (:func:`plan_restandardize`, then :func:`standardize_batch` for each batch in turn, then :func:`write_group`
    per group; the Dagster job runs the same three steps with the batches as pool-limited mapped steps).

    Args:
        store: a ``LeadStore``.
        standardizer: an object with ``version`` and ``standardize(Batch) -> BatchResult`` (see
            ``pipeline.standardizer``); leads whose ``standardizer`` differs from ``standardizer.version`` are stale.
        batch_size: rows per batch (one DeepSeek request each).
        dry_run: only count/list the stale leads; write nothing and call no standardizer.
        run_id: written to the audit rows (the Dagster run id when run by the job).
        on_batch: called after each batch with ``(source_file, batch number, batches in the group)``.

    Returns:
        :class:`RestandardizeResult`.

    Raises:
        DeepSeekFatal: DeepSeek refused the key / balance; what was written before stays written.
        StoreLockTimeout: the store stayed locked.
    """
    plan = plan_restandardize(store, standardizer.version, batch_size=batch_size, dry_run=dry_run)
    for group in plan.groups:
        results = []
        for batch in group.batches:
            results.append(standardize_batch(standardizer, batch))
            if on_batch:
                on_batch(group.source_file, batch.number, batch.total)
        write_group(store, group, results, plan.result, run_id=run_id)
    return plan.result


__all__ = [
    "AUDIT_ACTION", "AUDIT_BATCH_ID", "RestandardizePlan", "RestandardizeResult", "WorkGroup", "find_stale",
    "is_rules_version",
    "plan_restandardize", "raw_row_of", "restandardize", "standardize_batch", "write_group",
]
