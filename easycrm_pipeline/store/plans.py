"""Store rules written once, as pure plans: what an upsert of one lead and an undo have to write, computed in
Python from rows a back end fetched; each back end (DuckDB, DynamoDB) only fetches the rows and applies the plan
with its own I/O.

No DuckDB, no boto3 here: everything takes and returns plain dicts (the audit rows and leads as the stores return
them, ``fieldsChanged``/``details`` as dicts). The semantics are those of
:meth:`LeadStore.undo_import <easycrm_pipeline.store.base.LeadStore.undo_import>` (docs/contracts.md, issue 4).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Hashable, Iterable, Mapping, Sequence

from easycrm_pipeline.models import LEAD_FIELDS, StandardLead
from easycrm_pipeline.store.base import (
    MERGE_POLICIES,
    UNDO_ACTIONS,
    UPDATE_ACTIONS,
    VALUE_FIELDS,
    UndoRefused,
    clean_value,
    normalize_email,
)

#: The audit actions of an import that an undo reverts.
UNDOABLE_ACTIONS: tuple[str, ...] = ("lead_created", "lead_updated")

#: Audit actions that change a lead after an import (the candidates for an undo's conflicts).
LATER_CHANGE_ACTIONS: tuple[str, ...] = ("lead_updated", "lead_deleted", "lead_restored", "lead_restandardized",
                                         "lead_merged", "lead_merged_away")

#: Lead attributes an update's audit row keeps in ``details`` besides ``fieldsChanged`` (an undo restores them).
BEFORE_IMAGE_EXTRAS: tuple[str, ...] = ("sourceWorksheet", "sourceRow", "sourceRowId", "rawRow", "standardizer")

#: The one-line reason of an undo refused because of later changes (``{n}`` leads, ``{file!r}``).
UNDO_CONFLICT_REASON = ("{n} lead(s) of {file!r} were changed later (by another import, a re-standardization or an "
                        "undo); use --force to undo anyway")


@dataclass
class LeadRevert:
    """How one lead goes back to what it was before the import.

    Attributes:
        lead_id: the lead.
        read: the lead as the back end read it (plain values; DynamoDB conditions its write on it).
        delete: the import created the lead: delete it (and free its email).
        restore: ``{column: value}`` to write back when not ``delete``: the changed lead fields (never ``email``),
            ``sourceFile``, ``updatedAt`` and the :data:`BEFORE_IMAGE_EXTRAS` the audit rows kept (``rawRow`` as a
            ``dict``/``list``; the back end serializes it).
        audit: the undo's audit rows of this lead, newest reverted change first: ``{"action"
            ("lead_restored"/"lead_deleted"), "email", "leadId", "previousSourceFile" (the undone file),
            "newSourceFile", "fieldsChanged" (dict), "details" ({"undoOfRun", "undoOfChange"})}``; the back end adds
            ``changeId``, ``at`` and ``runId``.
        deleted / restored: what it counts in :class:`~easycrm_pipeline.store.base.UndoResult`.
    """

    lead_id: str
    read: dict
    delete: bool
    restore: dict
    audit: list[dict]
    deleted: int
    restored: int


@dataclass
class UndoPlan:
    """Everything an undo of one import writes, computed before anything is written.

    Attributes:
        file / run_id: the import (``sourceFile``, ``runId``; ``run_id`` may be ``None``).
        reverts: one :class:`LeadRevert` per still existing lead of the import not reverted yet, in the order of
            the import's latest change of each lead, newest first.
        conflicts: the later changes that make the undo conflict (shape of
            :attr:`~easycrm_pipeline.store.base.UndoRefused.leads`), sorted by email (``None`` last), leadId,
            changedBy, action.
    """

    file: str
    run_id: str | None
    reverts: list[LeadRevert] = field(default_factory=list)
    conflicts: list[dict] = field(default_factory=list)

    @property
    def deleted(self) -> int:
        """Leads the undo deletes."""
        return sum(r.deleted for r in self.reverts)

    @property
    def restored(self) -> int:
        """Updates the undo reverts."""
        return sum(r.restored for r in self.reverts)

    def refuse_unless(self, force: bool) -> None:
        """Raise :class:`~easycrm_pipeline.store.base.UndoRefused` (``leads`` = :attr:`conflicts`) when there are
        conflicts and not ``force``."""
        if self.conflicts and not force:
            raise UndoRefused(UNDO_CONFLICT_REASON.format(n=len({c["leadId"] for c in self.conflicts}),
                                                          file=self.file), self.conflicts)


def latest_undoable_run(file: str, runs: Iterable[tuple[str | None, Any]], undone: Iterable[str | None]) -> str | None:
    """The ``runId`` of the latest import of ``file`` not undone yet.

    Args:
        file: the ``sourceFile`` (for the error message).
        runs: ``(runId, position of its latest lead_created/lead_updated row of file)``, positions comparable
            (DuckDB's ``seq``, DynamoDB's sort key); a run may appear more than once.
        undone: the runIds whose import of ``file`` was undone already.

    Raises:
        UndoRefused: every import of ``file`` is undone already, or there is none.
    """
    last: dict[str | None, Any] = {}
    for run_id, position in runs:
        last[run_id] = position if run_id not in last else max(last[run_id], position)
    done = set(undone)
    for run_id in sorted(last, key=last.__getitem__, reverse=True):
        if run_id not in done:
            return run_id
    raise UndoRefused(f"no import of {file!r} left to undo")


def import_left(file: str, rows: Iterable[dict]) -> dict[str, Any]:
    """What one import wrote into one lead: the values the lead has if nothing changed it since.

    Args:
        file: the import's ``sourceFile``.
        rows: the import's ``lead_created``/``lead_updated`` audit rows of that lead, oldest first (dicts with
            ``action`` and ``fieldsChanged`` as a dict ``{field: {"before", "after"}}``).

    Returns:
        ``{field: value}``: every lead field but ``email`` when the import created the lead (fields it left empty
        are ``None``), else only the fields it changed; plus ``"sourceFile": file``.
    """
    left: dict[str, Any] = {}
    for row in rows:
        if row.get("action") == "lead_created":
            left = {f: None for f in VALUE_FIELDS}
        for f, v in (row.get("fieldsChanged") or {}).items():
            if f in VALUE_FIELDS:
                left[f] = v.get("after")
    left["sourceFile"] = file
    return left


def _conflict(lead_id: str, row: dict) -> dict:
    undo_of = row.get("previousSourceFile") if row.get("action") in UNDO_ACTIONS else None
    return {"leadId": lead_id, "email": row.get("email"), "changedBy": row.get("newSourceFile"),
            "action": row.get("action"), "undoOf": undo_of}


def _sorted_conflicts(conflicts: Iterable[dict]) -> list[dict]:
    unique = {tuple(c.values()): c for c in conflicts}
    return sorted(unique.values(), key=lambda c: (c["email"] is None, c["email"] or "", c["leadId"] or "",
                                                  c["changedBy"] or "", c["action"] or ""))


def undo_conflicts(
    later: Iterable[dict], *, left: Mapping[str, dict], current: Mapping[str, dict], undone: set[tuple[str, Any]]
) -> list[dict]:
    """The later changes that make an undo conflict (``UndoRefused.leads``).

    A later change of a lead is *ignorable* when it was written by an undo (``lead_deleted``/``lead_restored``) or
    by an import that is undone itself (a ``lead_updated`` whose ``(newSourceFile, runId)`` is in ``undone``):
    such changes only took the lead back. A lead conflicts when it has a later change that is not ignorable (any
    other import, a re-standardization), or when its current values differ from what the import being undone left
    (``left``): then all its later changes are listed. A lead whose only later changes are ignorable and whose
    values are exactly what the import left does not conflict.

    Args:
        later: the later changes (audit row dicts: ``leadId``, ``email``, ``action``, ``newSourceFile``,
            ``previousSourceFile``, ``runId``) of the import's still existing leads, by other runs, restricted to
            :data:`LATER_CHANGE_ACTIONS`.
        left: ``{leadId: import_left(...)}`` of the import being undone.
        current: ``{leadId: the lead as stored now}``.
        undone: ``(sourceFile, runId)`` of every import already undone.

    Returns:
        ``[{"leadId", "email", "changedBy", "action", "undoOf"}]``, one per lead and kind of change, sorted by email
        (``None`` last), leadId, changedBy, action.
    """
    by_lead: dict[str, list[dict]] = {}
    for row in later:
        by_lead.setdefault(row.get("leadId"), []).append(row)
    out: list[dict] = []
    for lead_id, rows in by_lead.items():
        real = [
            r for r in rows
            if r.get("action") not in UNDO_ACTIONS
            and not (r.get("action") == "lead_updated" and (r.get("newSourceFile"), r.get("runId")) in undone)
        ]
        lead = current.get(lead_id) or {}
        moved = any(lead.get(f) != v for f, v in (left.get(lead_id) or {}).items())
        if real or moved:
            out.extend(_conflict(lead_id, r) for r in rows)
    return _sorted_conflicts(out)


def _revert(lead: dict, changes: Sequence[dict], *, file: str, run_id: str | None) -> LeadRevert:
    """How to revert one lead from its import's not-yet-reverted changes (newest first)."""
    image = dict(lead)
    restore: dict[str, Any] = {}
    audit: list[dict] = []
    restored = 0
    for change in changes:
        details = {"undoOfRun": run_id, "undoOfChange": change.get("changeId")}
        base = {"email": change.get("email"), "leadId": lead["leadId"], "previousSourceFile": file,
                "details": details}
        if change["action"] == "lead_created":  # a lead's creation is its import's earliest change of it
            before = {f: {"before": image.get(f), "after": None} for f in LEAD_FIELDS if image.get(f)}
            audit.append({**base, "action": "lead_deleted", "newSourceFile": None, "fieldsChanged": before})
            return LeadRevert(lead["leadId"], lead, True, {}, audit, 1, restored)
        changed = change.get("fieldsChanged") or {}
        back = {f: v["before"] for f, v in changed.items() if f in VALUE_FIELDS}
        back["sourceFile"] = change.get("previousSourceFile")
        back["updatedAt"] = change.get("previousUpdatedAt")
        extra = change.get("details")
        if isinstance(extra, dict):
            back.update({k: extra[k] for k in BEFORE_IMAGE_EXTRAS if k in extra})
        image.update(back)
        restore.update(back)
        swapped = {f: {"before": v["after"], "after": v["before"]} for f, v in changed.items()}
        audit.append({**base, "action": "lead_restored", "newSourceFile": change.get("previousSourceFile"),
                      "fieldsChanged": swapped})
        restored += 1
    return LeadRevert(lead["leadId"], lead, False, restore, audit, 0, restored)


def plan_undo(
    file: str,
    run_id: str | None,
    changes: Iterable[dict],
    later: Iterable[dict],
    current: Mapping[str, dict],
    *,
    undone: set[tuple[str, Any]],
    order: str,
    reverted: Iterable[Hashable] = (),
    check_unaudited: bool = False,
) -> UndoPlan:
    """What undoing import (``file``, ``run_id``) writes, and its conflicts; nothing is written.

    Args:
        file / run_id: the import (from :func:`latest_undoable_run`).
        changes: the import's ``lead_created``/``lead_updated`` audit rows of ``file`` (any order; ``changeId``,
            ``action``, ``leadId``, ``email``, ``fieldsChanged``, ``previousSourceFile``, ``previousUpdatedAt``,
            ``details``, ``at`` and the position key ``order``).
        later: audit rows written at or after the import's first change (any action, any run; ``order``,
            ``leadId``, ``email``, ``action``, ``runId``, ``newSourceFile``, ``previousSourceFile``, ``details``).
            Kept as later changes of a lead: those of another run, with an action in :data:`LATER_CHANGE_ACTIONS`,
            after the import's first not-yet-reverted change of that lead, not an undo of this import's rows.
        current: ``{leadId: lead as stored now}`` for the import's leads; a lead missing here no longer exists
            (deleted since): skipped, neither reverted, nor counted, nor a conflict.
        undone: ``(sourceFile, runId)`` of the imports already undone (see :func:`undo_conflicts`).
        order: the key of the rows' position (``"seq"`` in DuckDB, ``"sk"`` in DynamoDB), increasing with time.
        reverted: ``changeId`` of the import's changes an interrupted earlier undo already reverted (their undo
            audit rows carry ``details.undoOfChange``); they are left out.
        check_unaudited: also report a lead whose stored ``updatedAt``/``sourceFile`` is not what the import wrote
            and that has no later audit row as a conflict with ``action = "changed_without_audit"`` (a store that
            cannot read leads and audit rows in one transaction, DynamoDB).

    Returns:
        :class:`UndoPlan`.
    """
    mine = sorted((c for c in changes if c.get("leadId")), key=lambda c: c[order], reverse=True)
    pending = _pending(mine, current, set(reverted))
    later_changes = _later_changes(later, mine, pending, run_id=run_id, order=order)
    left = {lid: import_left(file, [c for c in reversed(mine) if c["leadId"] == lid]) for lid in pending}
    conflicts = undo_conflicts(later_changes, left=left, current=current, undone=undone)
    if check_unaudited:
        conflicts = _sorted_conflicts(conflicts + _unaudited(pending, current, conflicts, file=file))
    reverts = [_revert(current[lid], cs, file=file, run_id=run_id) for lid, cs in pending.items()]
    return UndoPlan(file=file, run_id=run_id, reverts=reverts, conflicts=conflicts)


def _pending(mine: list[dict], current: Mapping[str, dict], reverted: set) -> dict[str, list[dict]]:
    """``{leadId: the import's changes of that lead not reverted yet, newest first}`` of the leads that exist."""
    pending: dict[str, list[dict]] = {}
    for c in mine:
        if c.get("changeId") not in reverted and c["leadId"] in current:
            pending.setdefault(c["leadId"], []).append(c)
    return pending


def _later_changes(later: Iterable[dict], mine: list[dict], pending: Mapping[str, list[dict]], *,
                   run_id: str | None, order: str) -> list[dict]:
    """The rows of ``later`` that changed a pending lead after the import's first pending change of it, by another
    run, and are not an (interrupted) undo of this import's own rows; oldest first."""
    first = {lid: cs[-1][order] for lid, cs in pending.items()}
    own_ids = {c.get("changeId") for c in mine} - {None}
    later = list(later)
    unmerged = undone_merges(later)

    def is_later(r: dict) -> bool:
        details = r.get("details") if isinstance(r.get("details"), dict) else {}
        return (r.get("action") in LATER_CHANGE_ACTIONS and r.get("leadId") in first
                and r[order] > first[r["leadId"]] and r.get("runId") != run_id
                and details.get("undoOfChange") not in own_ids
                and not _is_undone_merge(r, details, unmerged))

    return sorted(filter(is_later, later), key=lambda r: r[order])


def undone_merges(later: Iterable[dict]) -> set:
    """The run ids of the merges (``easycrm merge``) that ``easycrm undo --merge`` reversed: the
    ``details.undoOfMerge`` of the ``lead_restored`` rows in ``later``."""
    return {r["details"].get("undoOfMerge") for r in later
            if r.get("action") == "lead_restored" and isinstance(r.get("details"), dict)} - {None}


def _is_undone_merge(row: dict, details: dict, unmerged: set) -> bool:
    """A merge's own audit rows and those of its undo, once the merge was undone: together they changed nothing
    (the undo restores the fields and ``updatedAt`` the merge found), so they are no later change of an import."""
    if row.get("action") in ("lead_merged", "lead_merged_away"):
        return row.get("runId") in unmerged
    return row.get("action") == "lead_restored" and details.get("undoOfMerge") in unmerged


def _unaudited(pending: Mapping[str, list[dict]], current: Mapping[str, dict], conflicts: list[dict], *,
               file: str) -> list[dict]:
    """``changed_without_audit`` conflicts: pending leads not already in ``conflicts`` whose stored ``updatedAt``
    or ``sourceFile`` is not what the import's latest change of them wrote."""
    audited = {c["leadId"] for c in conflicts}
    return [{"leadId": lid, "email": current[lid].get("email"), "changedBy": current[lid].get("sourceFile"),
             "action": "changed_without_audit", "undoOf": None}
            for lid, cs in pending.items()
            if lid not in audited
            and (current[lid].get("updatedAt") != cs[0].get("at") or current[lid].get("sourceFile") != file)]


def reverted_changes(later: Iterable[dict]) -> set:
    """The ``changeId`` s an undo already reverted: the ``details.undoOfChange`` of the undo audit rows in
    ``later`` (an interrupted undo that committed part of its transactions)."""
    return {r["details"].get("undoOfChange") for r in later
            if r.get("action") in UNDO_ACTIONS and isinstance(r.get("details"), dict)} - {None}


# ---------------------------------------------------------------------------------------------------- upsert


def check_upsert_args(merge: str, source_file: str, update_action: str) -> None:
    """The argument rules of :meth:`LeadStore.upsert_file <easycrm_pipeline.store.base.LeadStore.upsert_file>`.

    Raises:
        ValueError: unknown ``merge`` policy or ``update_action``, or empty ``source_file``.
    """
    if merge not in MERGE_POLICIES:
        raise ValueError(f"merge must be one of {', '.join(MERGE_POLICIES)}, got {merge!r}")
    if not source_file or not str(source_file).strip():
        raise ValueError("source_file must be a non-empty file name")
    if update_action not in UPDATE_ACTIONS:
        raise ValueError(f"update_action must be one of {', '.join(UPDATE_ACTIONS)}, got {update_action!r}")


def merge_fields(lead: StandardLead, old: Mapping[str, Any] | None, merge: str) -> tuple[dict, dict]:
    """The lead's values after the upsert and what changed (the merge policy, docs/old-system.md).

    A field the lead does not provide keeps its old value; a provided one replaces it (``merge="replace"``, even
    with an empty value) or fills it only when the new value is not empty (``"fill-blank"``). Values are
    :func:`~easycrm_pipeline.store.base.clean_value` d.

    Returns:
        ``(values, changed)``: ``{field: value}`` of every field but ``email``; ``{field: {"before", "after"}}`` of
        the fields whose value differs from ``old`` (a new lead: ``old`` None, every non-empty field).
    """
    values: dict[str, Any] = {}
    changed: dict[str, dict] = {}
    for f in VALUE_FIELDS:
        before = old.get(f) if old else None
        value = clean_value(lead.fields.get(f))
        takes = f in lead.provided and (merge == "replace" or value is not None)
        values[f] = value if takes else before
        if values[f] != before:
            changed[f] = {"before": before, "after": values[f]}
    return values, changed


@dataclass
class LeadWrite:
    """What an upsert writes for one lead (plain values; the back end adds its own bookkeeping, e.g. ``rev``).

    Attributes:
        created: a new lead (else an update of ``old``).
        lead: the lead's columns after the write (``LEAD_COLUMNS``; ``rawRow`` as a dict).
        audit: its ``lead_changes`` row: ``action``, ``email``, ``leadId``, ``previousSourceFile``,
            ``newSourceFile``, ``fieldsChanged`` (dict, in ``LEAD_FIELDS`` order), ``batchId``, ``runId``, ``rowId``,
            ``previousUpdatedAt``, ``details`` (an update: the rest of the before-image, :data:`BEFORE_IMAGE_EXTRAS`;
            a creation: None).
        old: the lead as stored before (None when created).
    """

    created: bool
    lead: dict
    audit: dict
    old: dict | None


def plan_lead_write(lead: StandardLead, email: str | None, old: dict | None, *, merge: str, source_file: str,
                    run_id: str | None, batch_id: Any, now: Any, lead_id: str,
                    update_action: str = "lead_updated") -> LeadWrite | None:
    """The write of one incoming lead (the upsert rules of :meth:`LeadStore.upsert_file
    <easycrm_pipeline.store.base.LeadStore.upsert_file>`), or None when it changes nothing.

    Args:
        lead / email: the incoming lead and its normalized email (None: always a new lead).
        old: the stored lead holding ``email`` (None: none).
        lead_id: the ``leadId`` of a new lead (ignored for an update, which keeps the stored one).
        now: the ``createdAt``/``updatedAt`` to write.
        update_action: the audit action of an update (``UPDATE_ACTIONS``).
    """
    values, changed = merge_fields(lead, old, merge)
    if old is not None and not changed:
        return None
    if old is None and email is not None:
        changed["email"] = {"before": None, "after": email}
    new = dict(values, leadId=old["leadId"] if old else lead_id, email=email, sourceFile=source_file,
               sourceWorksheet=lead.sheet, sourceRow=lead.row_number, sourceRowId=lead.row_id,
               createdAt=old["createdAt"] if old else now, updatedAt=now, rawRow=lead.raw or {},
               standardizer=lead.standardizer)
    audit = {"action": "lead_created", "email": email, "leadId": new["leadId"], "previousSourceFile": None,
             "newSourceFile": source_file, "fieldsChanged": {f: changed[f] for f in LEAD_FIELDS if f in changed},
             "batchId": None if batch_id is None else str(batch_id), "runId": run_id, "rowId": lead.row_id,
             "previousUpdatedAt": None, "details": None}
    if old is not None:  # the before-image, so ``easycrm undo`` restores the update exactly
        audit.update(action=update_action, previousSourceFile=old.get("sourceFile"),
                     previousUpdatedAt=old.get("updatedAt"), details={k: old.get(k) for k in BEFORE_IMAGE_EXTRAS})
    return LeadWrite(old is None, new, audit, old)


def duplicate_audit_rows(duplicates_resolved: Iterable[Any], *, written: set, owners: Mapping[str, dict],
                         batch_ids: Mapping[str, Any], source_file: str, run_id: str | None) -> list[dict]:
    """The ``batch_duplicate_resolved`` audit rows of an upsert.

    Args:
        duplicates_resolved: objects with ``.email``, ``.kept_row_id``, ``.merged_row_ids``.
        written: the normalized emails of the leads the upsert created or updated: a duplicate resolved onto a lead
            left unchanged (a re-run) writes no row, as its lead writes none.
        owners: ``{email: stored lead}`` of those emails.
        batch_ids: ``{row_id: batch id}``.

    Returns:
        ``[{"action", "email", "leadId", "newSourceFile", "batchId", "runId", "rowId", "details"}]`` (``details``
        ``{"keptRowId", "mergedRowIds"}``).
    """
    rows = []
    for d in duplicates_resolved:
        email = normalize_email(d.email)
        if email not in written:
            continue
        owner = owners.get(email) if email else None
        batch = batch_ids.get(d.kept_row_id)
        rows.append({"action": "batch_duplicate_resolved", "email": email,
                     "leadId": owner["leadId"] if owner else None, "newSourceFile": source_file,
                     "batchId": None if batch is None else str(batch), "runId": run_id, "rowId": d.kept_row_id,
                     "details": {"keptRowId": d.kept_row_id, "mergedRowIds": list(d.merged_row_ids or [])}})
    return rows


__all__ = ["BEFORE_IMAGE_EXTRAS", "LATER_CHANGE_ACTIONS", "LeadRevert", "LeadWrite", "check_upsert_args",
           "duplicate_audit_rows", "merge_fields", "plan_lead_write", "UNDOABLE_ACTIONS", "UNDO_ACTIONS",
           "UNDO_CONFLICT_REASON", "UndoPlan", "import_left", "latest_undoable_run", "plan_undo", "reverted_changes",
           "undo_conflicts"]
