"""Merging two leads that are the same person (``easycrm merge KEEP OTHER``), field by field; pure rules shared by
both store back ends.

* KEEP keeps its ``leadId``, ``createdAt`` and every non-empty field;
* a field KEEP has empty is filled from OTHER (the email too, when KEEP has none);
* OTHER's remarks are appended to KEEP's (unless KEEP's already contain them), and OTHER's email, when KEEP keeps
  its own, is kept in the remarks as ``Other email: <address>`` (so searching the remarks still finds it);
* OTHER is deleted; the store writes audit rows for both (actions ``lead_merged`` / ``lead_merged_away``) from which
  ``easycrm undo --merge KEEP`` restores both exactly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from easycrm_pipeline.models import LEAD_FIELDS

#: The prefix of the remark that keeps OTHER's email.
OTHER_EMAIL_REMARK = "Other email: "
_REMARKS_SEP = "; "


def _value(v: Any) -> str | None:
    if v is None:
        return None
    text = str(v).strip()
    return text or None


def merged_fields(keep: Mapping[str, Any], other: Mapping[str, Any]) -> dict[str, str | None]:
    """The seven lead fields KEEP has after merging OTHER into it (rules: module docstring).

    Example: keep ``{"firstName": "Anna", "phone": None, "email": "anna@acme.de", "remarks": None}``, other
    ``{"firstName": "Ana", "phone": "+4930123456", "email": "a@gmail.com", "remarks": "met at fair"}`` ->
    ``firstName "Anna"``, ``phone "+4930123456"``, ``email "anna@acme.de"``,
    ``remarks "met at fair; Other email: a@gmail.com"``.
    """
    out: dict[str, str | None] = {}
    for f in LEAD_FIELDS:
        if f != "remarks":
            out[f] = _value(keep.get(f)) or _value(other.get(f))
    parts = [p for p in (_value(keep.get("remarks")),) if p]
    theirs = _value(other.get("remarks"))
    if theirs and not any(theirs in p for p in parts):
        parts.append(theirs)
    other_email = _value(other.get("email"))
    if other_email and other_email != out["email"]:
        note = OTHER_EMAIL_REMARK + other_email
        if not any(note in p for p in parts):
            parts.append(note)
    out["remarks"] = _REMARKS_SEP.join(parts) or None
    return out


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{field: {"before", "after"}}`` of the lead fields whose value differs (the ``fieldsChanged`` shape)."""
    return {f: {"before": before.get(f), "after": after.get(f)} for f in LEAD_FIELDS if before.get(f) != after.get(f)}


@dataclass
class MergePlan:
    """A merge worked out from the two stored leads, before anything is written (pure; both stores use it).

    Attributes:
        keep / other: the two stored leads (dicts of the ``leads`` columns).
        lead: KEEP's seven lead fields after the merge (:func:`merged_fields`).
        changed: ``{field: {"before", "after"}}`` of KEEP (:func:`changed_fields`).
        gone: ``{field: {"before", "after": None}}`` of OTHER's non-empty fields (its ``lead_merged_away`` row).
    """

    keep: dict[str, Any]
    other: dict[str, Any]
    lead: dict[str, str | None]
    changed: dict[str, dict[str, Any]]
    gone: dict[str, dict[str, Any]]

    def result(self, merge_id: str | None) -> "MergeResult":
        """The :class:`MergeResult` of this plan: written as ``merge_id``, or a dry run when it is ``None``."""
        return MergeResult(keep=self.keep["leadId"], other=self.other["leadId"], merge_id=merge_id, lead=self.lead,
                           changed=self.changed, dry_run=merge_id is None)


def plan_merge(keep: str, other: str, rows: Mapping[str, Mapping[str, Any]]) -> MergePlan:
    """Plan merging lead ``other`` into lead ``keep`` from ``rows`` (the stored leads fetched by id, keyed by
    ``leadId``).

    Raises:
        ValueError: ``keep == other`` ("KEEP and OTHER are the same lead") or a lead id missing from ``rows``.
    """
    if str(keep) == str(other):
        raise ValueError("KEEP and OTHER are the same lead")
    for lead_id in (str(keep), str(other)):
        if lead_id not in rows:
            raise ValueError(f"no lead with leadId {lead_id!r}")
    k, o = dict(rows[str(keep)]), dict(rows[str(other)])
    after = merged_fields(k, o)
    gone = {f: {"before": o.get(f), "after": None} for f in LEAD_FIELDS if o.get(f) is not None}
    return MergePlan(keep=k, other=o, lead=after, changed=changed_fields(k, after), gone=gone)


@dataclass
class MergeResult:
    """What a merge did (or would do with ``dry_run``), or what undoing one did.

    Attributes:
        keep / other: the lead ids.
        merge_id: the id of the merge (the ``runId`` of its audit rows); ``None`` for a dry run.
        lead: KEEP's lead fields after the merge (after the undo: KEEP's fields restored).
        changed: ``{field: {"before", "after"}}`` of KEEP.
        dry_run: nothing was written.
        undone: this result is an undo of merge ``merge_id``.
        conflicts: later changes of KEEP overridden by a forced undo (shape of ``UndoRefused.leads``).
    """

    keep: str
    other: str
    merge_id: str | None
    lead: dict[str, Any]
    changed: dict[str, dict[str, Any]]
    dry_run: bool = False
    undone: bool = False
    conflicts: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` document of ``easycrm merge`` / ``easycrm undo --merge``."""
        return {"keep": self.keep, "other": self.other, "mergeId": self.merge_id, "lead": self.lead,
                "changed": self.changed, "dryRun": self.dry_run, "undone": self.undone,
                "conflictsOverridden": len({c.get("leadId") for c in self.conflicts})}
