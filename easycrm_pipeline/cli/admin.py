"""``easycrm undo FILE`` and ``easycrm init-store``: store administration."""
from __future__ import annotations

import json
import sys


def _cmd_undo(args) -> int:
    from easycrm_pipeline.cli.main import UsageError
    from easycrm_pipeline.config import get_settings
    from easycrm_pipeline.pipeline.undo import UndoRefused, undo_file
    from easycrm_pipeline.store import get_store

    if args.merge and args.file:
        raise UsageError("give FILE or --merge KEEP, not both")
    if args.merge:  # issue 18: `easycrm undo --merge KEEP`
        from easycrm_pipeline.cli.duplicates import undo_merge

        return undo_merge(args)
    if not args.file:
        raise UsageError("name the FILE whose import to undo (or --merge KEEP to undo a merge)")
    file = args.file.rstrip("/").rsplit("/", 1)[-1]  # a path as given to `easycrm ingest`: leads keep the base name
    try:
        result = undo_file(get_store(get_settings()), file, force=args.force, dry_run=args.dry_run)
    except UndoRefused as exc:
        for lead in exc.leads:
            print(f"  {lead['email'] or lead['leadId']}: {_changed_by(lead)}", file=sys.stderr)
        raise UsageError(str(exc)) from exc
    if not result.dry_run:
        _mark_undone_in_dagster(result.run_id)
    doc = {
        "file": result.file,
        "runId": result.run_id,
        "deleted": result.deleted,
        "restored": result.restored,
        "conflictsOverridden": len(result.conflicts),
        "dryRun": result.dry_run,
    }
    if args.json:
        print(json.dumps(doc))
    else:
        verb = "would delete" if result.dry_run else "deleted"
        print(
            f"{result.file} (run {str(result.run_id)[:8]}): {verb} {result.deleted} created lead(s), "
            f"{'would restore' if result.dry_run else 'restored'} {result.restored} updated lead(s)"
        )
    return 0


def _mark_undone_in_dagster(run_id: str) -> None:
    """Tag the undone ingest run ``easycrm/undone=true`` in the Dagster instance, so the drop-zone sensors run the
    same content again when it is dropped again. The leads are already reverted: a failure here is only a warning."""
    from easycrm_pipeline.cli.instance import get_instance
    from easycrm_pipeline.dagster_defs.run_marks import mark_import_undone

    try:
        mark_import_undone(get_instance(), run_id)
    except Exception as exc:  # noqa: BLE001 - the undo itself succeeded; say why the mark is missing
        print(f"easycrm undo: warning: could not mark run {run_id} undone in Dagster ({exc}); dropping the same "
              "file again will be skipped by the sensors — use `easycrm ingest` instead", file=sys.stderr)


def _changed_by(conflict: dict) -> str:
    """How a conflicting later change reads on one line: ``lead_updated by b.csv``; a re-standardization keeps the
    lead's own file name, so it is named as such (``lead_restandardized (re-standardization)``); an undo's row
    names the undone file (``lead_restored by an undo of a.csv``; ``by an undo`` when it is not known)."""
    if conflict["action"] == "lead_restandardized":
        return "lead_restandardized (re-standardization)"
    if conflict["action"] in ("lead_deleted", "lead_restored"):
        undo_of = conflict.get("undoOf")
        return f"{conflict['action']} by an undo" + (f" of {undo_of}" if undo_of else "")
    return f"{conflict['action']} by {conflict['changedBy'] or 'an undo'}"


def _cmd_init_store(args) -> int:
    from easycrm_pipeline.config import get_settings
    from easycrm_pipeline.store import get_store

    settings = get_settings()
    store = get_store(settings)
    store.init()
    where = store.location()
    doc = {"store": settings.store, "location": where, "status": "ready"}
    print(json.dumps(doc) if args.json else f"{settings.store} store ready at {where}")
    return 0


def add_subcommands(sub) -> None:
    """Register ``undo`` and ``init-store`` on the ``easycrm`` parser."""
    p = sub.add_parser("undo", help="revert what the latest import of FILE changed")
    p.add_argument("file", metavar="FILE", nargs="?", help="the file name (sourceFile) of the import")
    p.add_argument("--merge", metavar="KEEP", help="undo the latest merge into lead KEEP instead (easycrm merge)")
    p.add_argument("--force", action="store_true", help="undo even leads changed later by another import, a re-standardization or an undo")
    p.add_argument("--dry-run", action="store_true", help="only say what would be reverted")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_undo)

    p = sub.add_parser("init-store", help="create the leads store (DuckDB file or DynamoDB table + EmailIndex)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_init_store)
