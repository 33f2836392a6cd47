"""``easycrm undo FILE``: revert what the latest import of one file changed, from the ``lead_changes`` audit rows.

- Leads the import created are deleted (audit action ``lead_deleted``, the deleted values as "before").
- Leads it updated get their before-image back: every changed field, ``sourceFile``, ``updatedAt`` and (from the
  audit row's ``details``) ``sourceWorksheet``, ``sourceRow``, ``sourceRowId``, ``rawRow``, ``standardizer``
  (audit action ``lead_restored``).
- When another import, a re-standardization or an undo changed one of those leads later, undo refuses and lists
  them, unless ``force``. A re-standardization (audit action ``lead_restandardized``) is such a later change, never
  the file's import. Not a conflict: an undo's own rows and the updates of an import already undone, as long as
  the lead is exactly what the import being undone left (so ``undo u.csv`` twice, after a re-run of ``u.csv``,
  reverts the re-run, then the first import, without ``force``).
- The file's quarantine is left as it is (it shows what the latest completed ingest of the file could not turn
  into leads).
- Each undo marks exactly its (file, run) import undone, even when none of its leads was left to revert (they were
  deleted since): a second ``undo FILE`` of a file with no other import is refused ("no import ... left to undo").

The rules are planned once (:func:`easycrm_pipeline.store.plans.plan_undo`, pure); each back end's
:meth:`~easycrm_pipeline.store.base.LeadStore.undo_import` reads the rows and writes the plan: the DuckDB store
in one transaction under its write lock, the DynamoDB store in conditional ``TransactWriteItems`` (see
:meth:`DynamoDBStore.undo_import <easycrm_pipeline.store.dynamodb_store.DynamoDBStore.undo_import>` for its
atomicity). This module is the entry point the CLI and the Dagster ``undo_job`` call.
"""
from __future__ import annotations

from easycrm_pipeline.store.base import LeadStore, UndoRefused, UndoResult
from easycrm_pipeline.store.plans import UNDOABLE_ACTIONS as UNDOABLE


def undo_file(
    store: LeadStore, file: str, *, force: bool = False, dry_run: bool = False, undo_run_id: str | None = None
) -> UndoResult:
    """Revert the latest not-yet-undone import of ``file`` (see the module docstring).

    Args:
        store: the lead store (a back end without undo refuses: :meth:`LeadStore.undo_import
            <easycrm_pipeline.store.base.LeadStore.undo_import>`).
        file: the ``sourceFile`` name of the import.
        force: revert even the leads changed later (their later values are lost).
        dry_run: only report what would happen.
        undo_run_id: written as ``runId`` of the undo's audit rows (e.g. the Dagster run of the undo job).

    Returns:
        ``UndoResult``.

    Raises:
        UndoRefused: no import of ``file`` to undo, a store without undo support, or conflicts without ``force``.
        StoreError: the store failed (e.g. DynamoDB writes kept losing races with concurrent writers).
    """
    return store.undo_import(file, force=force, dry_run=dry_run, undo_run_id=undo_run_id)


__all__ = ["UNDOABLE", "UndoRefused", "UndoResult", "undo_file"]
