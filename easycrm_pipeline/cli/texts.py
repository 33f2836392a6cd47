"""Texts shared by several commands: how a conflicting later change reads (``undo``, ``undo --merge``), and a
merge's result (``merge``, ``undo --merge``)."""
from __future__ import annotations

from easycrm_pipeline.cli.app import print_json


def changed_by(conflict: dict) -> str:
    """How a conflicting later change reads on one line: ``lead_updated by b.csv``; a re-standardization keeps the
    lead's own file name, so it is named as such (``lead_restandardized (re-standardization)``); an undo's row
    names the undone file (``lead_restored by an undo of a.csv``; ``by an undo`` when it is not known)."""
    if conflict["action"] == "lead_restandardized":
        return "lead_restandardized (re-standardization)"
    if conflict["action"] in ("lead_deleted", "lead_restored"):
        undo_of = conflict.get("undoOf")
        return f"{conflict['action']} by an undo" + (f" of {undo_of}" if undo_of else "")
    return f"{conflict['action']} by {conflict['changedBy'] or 'an undo'}"


def print_merge(result, as_json: bool) -> None:
    """A ``MergeResult`` (``matching/merge.py``): its ``to_dict()`` document, or what was (or would be) merged or
    restored and each changed field."""
    if as_json:
        print_json(result.to_dict())
        return
    if result.undone:
        verb = "would restore" if result.dry_run else "restored"
        print(f"merge {result.merge_id}: {verb} lead {result.other} and the fields of {result.keep}")
    else:
        verb = "would merge" if result.dry_run else "merged"
        undo = "" if result.dry_run else f" (merge {result.merge_id}; undo: easycrm undo --merge {result.keep})"
        print(f"{verb} {result.other} into {result.keep}{undo}")
    for field, change in result.changed.items():
        print(f"  {field}: {change['before']!r} -> {change['after']!r}")
