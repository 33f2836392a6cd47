"""``easycrm undo FILE``: revert what the latest import of one file changed, from the ``lead_changes`` audit rows.

- Leads the import created are deleted (audit action ``lead_deleted``, the deleted values as "before").
- Leads it updated get their before-image back: every changed field, ``sourceFile``, ``updatedAt`` and (from the
  audit row's ``details``) ``sourceWorksheet``, ``sourceRow``, ``sourceRowId``, ``rawRow``, ``standardizer``
  (audit action ``lead_restored``).
- When a later import changed one of those leads, undo refuses and lists them, unless ``force``.

All of it is one transaction under the store's write lock. DuckDB store only (the DynamoDB store has no undo yet).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

from easycrm_pipeline.models import LEAD_FIELDS
from easycrm_pipeline.store.duckdb_store import transaction

UNDOABLE = ("lead_created", "lead_updated")


class UndoRefused(Exception):
    """Undo cannot go ahead; ``str()`` is the one-line reason, ``leads`` the conflicting leads (if any)."""

    def __init__(self, reason: str, leads: list[dict] | None = None):
        super().__init__(reason)
        self.leads = leads or []


@dataclass
class UndoResult:
    """What an undo did (or would do with ``dry_run``).

    Attributes:
        file / run_id: the import that was reverted.
        deleted: leads the import had created, now deleted.
        restored: leads the import had updated, now back to their before-image.
        conflicts: leads a later import changed too (reverted anyway only with ``force``).
    """

    file: str
    run_id: str | None
    deleted: int = 0
    restored: int = 0
    conflicts: list[dict] = field(default_factory=list)
    dry_run: bool = False


def _latest_undoable_run(con, file: str) -> str | None:
    undone = {
        r[0]
        for r in con.execute(
            """SELECT DISTINCT json_extract_string("details", '$.undoOfRun') FROM lead_changes
               WHERE "action" IN ('lead_deleted', 'lead_restored') AND "details" IS NOT NULL"""
        ).fetchall()
    }
    rows = con.execute(
        """SELECT "runId", max("seq") AS last FROM lead_changes
           WHERE "newSourceFile" = ? AND "action" IN ('lead_created', 'lead_updated')
           GROUP BY "runId" ORDER BY last DESC""",
        [file],
    ).fetchall()
    for run_id, _ in rows:
        if run_id not in undone:
            return run_id
    return None


def undo_file(store, file: str, *, force: bool = False, dry_run: bool = False, undo_run_id: str | None = None):
    """Revert the latest not-yet-undone import of ``file`` (see the module docstring).

    Args:
        store: a ``DuckDBStore``.
        file: the ``sourceFile`` name of the import.
        force: revert even the leads a later import changed (their later values are lost).
        dry_run: only report what would happen.
        undo_run_id: written as ``runId`` of the undo's audit rows (e.g. the Dagster run of the undo job).

    Returns:
        ``UndoResult``.

    Raises:
        UndoRefused: no import of ``file`` to undo, a store without undo support, or conflicts without ``force``.
    """
    if not hasattr(store, "write_connection"):
        raise UndoRefused("undo is available on the DuckDB store only")
    with store.write_connection() as con:
        run_id = _latest_undoable_run(con, file)
        if run_id is None:
            raise UndoRefused(f"no import of {file!r} left to undo")
        changes = con.execute(
            """SELECT "seq", "action", "leadId", "email", "fieldsChanged", "previousSourceFile",
                      "previousUpdatedAt", "details"
               FROM lead_changes WHERE "runId" IS NOT DISTINCT FROM ? AND "newSourceFile" = ?
                 AND "action" IN ('lead_created', 'lead_updated')
               ORDER BY "seq" DESC""",
            [run_id, file],
        ).fetchall()
        first_seq = min(c[0] for c in changes)
        conflicts = [
            {"leadId": lead_id, "email": email, "changedBy": by, "action": action}
            for lead_id, email, by, action in con.execute(
                """SELECT DISTINCT c."leadId", c."email", c."newSourceFile", c."action" FROM lead_changes c
                   WHERE c."seq" > ? AND c."runId" IS DISTINCT FROM ?
                     AND c."action" IN ('lead_updated', 'lead_deleted', 'lead_restored')
                     AND c."leadId" IN (SELECT "leadId" FROM lead_changes WHERE "runId" IS NOT DISTINCT FROM ?
                                        AND "newSourceFile" = ? AND "action" IN ('lead_created', 'lead_updated'))
                   ORDER BY 2""",
                [first_seq, run_id, run_id, file],
            ).fetchall()
        ]
        result = UndoResult(file=file, run_id=run_id, conflicts=conflicts, dry_run=dry_run)
        if conflicts and not force:
            raise UndoRefused(
                f"{len(conflicts)} lead(s) of {file!r} were changed by a later import; use --force to undo anyway",
                conflicts,
            )
        result.deleted = sum(1 for c in changes if c[1] == "lead_created")
        result.restored = sum(1 for c in changes if c[1] == "lead_updated")
        if dry_run:
            return result
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        details = json.dumps({"undoOfRun": run_id})
        with transaction(con):
            for _seq, action, lead_id, email, fields_json, prev_file, prev_updated, extra in changes:
                current = con.execute(
                    'SELECT * FROM leads WHERE "leadId" = ?', [lead_id]
                ).fetchone()
                if current is None:
                    continue
                cols = [d[0] for d in con.description]
                now_row = dict(zip(cols, current))
                if action == "lead_created":
                    before = {f: {"before": now_row.get(f), "after": None} for f in LEAD_FIELDS if now_row.get(f)}
                    con.execute('DELETE FROM leads WHERE "leadId" = ?', [lead_id])
                    _audit(con, now, "lead_deleted", email, lead_id, file, None, before, details, undo_run_id)
                    continue
                changed = json.loads(fields_json) if fields_json else {}
                sets = {f: v["before"] for f, v in changed.items() if f in LEAD_FIELDS and f != "email"}
                sets["sourceFile"] = prev_file
                sets["updatedAt"] = prev_updated
                for key, value in (json.loads(extra) if extra else {}).items():
                    if key in ("sourceWorksheet", "sourceRow", "sourceRowId", "rawRow", "standardizer"):
                        sets[key] = json.dumps(value) if key == "rawRow" and value is not None else value
                assignments = ", ".join(f'"{k}" = ?' for k in sets)
                con.execute(f'UPDATE leads SET {assignments} WHERE "leadId" = ?', [*sets.values(), lead_id])
                reverted = {f: {"before": v["after"], "after": v["before"]} for f, v in changed.items()}
                _audit(con, now, "lead_restored", email, lead_id, file, prev_file, reverted, details, undo_run_id)
    return result


def _audit(con, now, action, email, lead_id, file, new_file, fields, details, undo_run_id) -> None:
    con.execute(
        """INSERT INTO lead_changes ("changeId", "at", "action", "email", "leadId", "previousSourceFile",
                                     "newSourceFile", "fieldsChanged", "runId", "details")
           VALUES (CAST(uuid() AS VARCHAR), ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [now, action, email, lead_id, file, new_file, json.dumps(fields, default=str), undo_run_id, details],
    )
